from __future__ import annotations

from pathlib import Path

import pytest

from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import builtin_project, load_project
from lmteams.sim.calibrate import CallObs, calibrate, fit_latency, summary
from lmteams.sim.calibration import load_calibration, save_calibration
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from .study_data import write_study

PAPER = Path(__file__).resolve().parents[3] / "shared" / "paper" / "data"


def test_fit_recovers_a_linear_latency() -> None:
    calls = [CallObs("m", 2.0 + 3.0 * k, k) for k in range(8) for _ in range(5)]
    fit = fit_latency(calls)
    assert fit.base_s == pytest.approx(2.0) and fit.per_task_s == pytest.approx(3.0)
    assert fit.sigma == pytest.approx(0.0, abs=1e-9)
    assert fit.median(20) == fit.median(fit.max_tasks)  # long replies are capped


def test_fit_needs_calls() -> None:
    with pytest.raises(ConfigError, match="no model calls"):
        fit_latency([])


def test_calibrate_a_study_shaped_log(tmp_path: Path) -> None:
    events = write_study(tmp_path / "data")
    calibration = calibrate(events)
    assert calibration.kind == "study"
    a, b = calibration.models["model-a"], calibration.models["model-b"]
    assert a.latency.base_s == pytest.approx(2.0, rel=0.01)
    assert a.latency.per_task_s == pytest.approx(3.0, rel=0.01)
    assert b.latency.per_task_s == pytest.approx(6.0, rel=0.01)
    # one-agent runs show what one call carries: model-a writes 5 per call, model-b 3
    assert a.tasks_per_call == 5 and b.tasks_per_call == 3
    assert {p.workers for p in a.call_profiles} == {1, 2}
    assert {p.mode for p in a.call_profiles} == {"assigned", "claimed"}
    assert a.claim_refusal == pytest.approx(0.5)  # as many blocked claims as claims
    assert a.round_overhead_s == pytest.approx(0.5)
    assert a.tokens.prompt_per_call == pytest.approx(1000)
    condition = next(
        c for c in calibration.conditions if c.mode == "preassign_nolead" and c.workers == 2
    )
    assert condition.calls_per_task > 0 and condition.runs == 2
    rows = summary(calibration)
    assert [r["model"] for r in rows] == ["model-a", "model-b", "(pooled)"]
    saved = save_calibration(calibration, tmp_path / "cal.json")
    assert load_calibration(saved) == calibration


def test_calibrate_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        calibrate(tmp_path / "missing.parquet")
    events = write_study(tmp_path / "data")
    (tmp_path / "data" / "runs.parquet").unlink()
    with pytest.raises(ConfigError, match="runs.parquet not found"):
        calibrate(events)
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    (tmp_path / "runs.parquet").write_text("nor this")
    with pytest.raises(ConfigError, match="not a readable parquet file"):
        calibrate(bad)
    broken = tmp_path / "cal.json"
    broken.write_text('{"kind": "study"}')
    with pytest.raises(ConfigError, match="cal.json"):
        load_calibration(broken)


async def test_calibrate_our_own_event_log(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    store = EventStore(db)
    project = load_project(builtin_project("tiny-math"))
    project = project.model_copy(
        update={"tasks": tuple(t.model_copy(update={"check": None}) for t in project.tasks)}
    )

    def latency(call: object) -> float:
        return 0.5 if "Pick ONE open task" in call.prompt else 4.0  # type: ignore[attr-defined]

    for topology in ("steal", "decentralized"):
        spec, backends = scripted_team(2, project_script, latency_s=latency)
        with VirtualClock():
            await run_project(
                spec, project, store, RunSettings(topology=topology, workers=2), backends=backends
            )
    store.close()
    calibration = calibrate(db)
    assert calibration.kind == "lmteams"
    fit = calibration.models["scripted"].latency
    assert fit.base_s == pytest.approx(0.5, abs=0.05)  # claims
    assert fit.median(1) == pytest.approx(4.0, abs=0.05)  # task attempts
    modes = {c.mode for c in calibration.conditions}
    assert modes == {"steal", "decentralized"}


@pytest.mark.skipif(not (PAPER / "events.parquet").exists(), reason="study data not present")
def test_calibrate_the_study() -> None:
    calibration = calibrate(PAPER / "events.parquet")
    assert set(calibration.models) == {
        "anthropic_claude-sonnet-4-6",
        "google_gemini-3-flash-preview",
        "openai_gpt-5.2",
    }
    for model in calibration.models.values():
        assert 0.5 < model.latency.base_s < 5 and 0.5 < model.latency.per_task_s < 6
        assert model.call_profiles and 0 < model.claim_refusal < 1
    assert len(calibration.conditions) == 2 * 3 * 5
