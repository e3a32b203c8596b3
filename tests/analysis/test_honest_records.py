"""Honest records: failed runs out of sweep medians, failed and blocked tasks with reasons,
claim and lead calls on the Gantt chart, reasons cut at word boundaries."""

from __future__ import annotations

from pathlib import Path

from lmteams.analysis.metrics import compute
from lmteams.analysis.report import report
from lmteams.cli.render import clip
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.coordinator.sweep import SweepRow, median_cells, medians
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import load_project, parse_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

from ..scheduling.test_graph import STUDY


def row(n: int, status: str, speedup: float, rep: int = 0) -> SweepRow:
    return SweepRow(
        topology="steal", workers=n, rep=rep, run_id=f"r{n}{rep}", status=status,
        makespan_s=10.0 / speedup, speedup=speedup, amdahl=1.5, efficiency=speedup / n,
        bound_ratio=None, tokens=100, token_ratio=1.0, messages=1, claims_refused=0,
        write_conflicts=0, rewrites=0, checks_failed=0, straggler_gap_s=0.0,
    )  # fmt: skip


def test_sweep_medians_keep_only_successful_runs() -> None:
    rows = [
        row(1, "done", 1.0),
        row(2, "done", 1.2, 0),
        row(2, "partial", 9.0, 1),  # stopped early: fast, not good
        row(2, "stalled", 8.0, 2),
        row(3, "partial", 7.0),
    ]
    table = {m["workers"]: m for m in medians(rows)}
    assert table[2]["speedup"] == 1.2 and (table[2]["done"], table[2]["runs"]) == (1, 3)
    assert table[3]["speedup"] is None and table[3]["makespan_s"] is None
    cells = {c[1]: c for c in median_cells(medians(rows))}
    assert cells["2"][2] == "1.20" and cells["2"][-1] == "1/3"
    assert cells["3"][2] == "-" and cells["3"][-1] == "0/1"


def failing(call: ScriptedCall) -> str:
    if "Write: add.py" in call.prompt:
        return "no code today"
    return project_script(call)


async def test_failed_and_blocked_tasks_are_listed_with_reasons(
    store: EventStore, tmp_path: Path
) -> None:
    spec = parse_project(
        {
            "max_check_retries": 0,
            "tasks": [
                {"id": "add", "files": ["add.py"]},
                {"id": "sum", "files": ["sum.py"], "dependencies": ["add"]},
                {"id": "other", "files": ["other.py"]},
            ],
        },
        source="t",
    )
    team, backends = scripted_team(1, failing)
    result = await run_project(team, spec, store, RunSettings(workers=1), backends=backends)
    metrics = compute(result.run_id, store.events(result.run_id), spec.graph())
    problems = {p.task: (p.state, p.reason) for p in metrics.problems}
    assert problems == {
        "add": ("failed", "Your reply contained no code for add.py."),
        "sum": ("blocked", "add did not finish"),
    }
    page = next(
        p for p in report(result.run_id, tmp_path / "r", store=store) if p.suffix == ".html"
    )
    assert "tasks not done" in page.read_text() and "add did not finish" in page.read_text()


async def test_gantt_data_has_claim_and_lead_calls(store: EventStore, tmp_path: Path) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "dataanalysis_p09"))
    for topology, kind in (("decentralized", "claim"), ("lead", "lead")):
        team, backends = scripted_team(4, project_script, latency_s=1.0)
        with VirtualClock():
            result = await run_project(
                team, project, store, RunSettings(topology=topology, workers=3), backends=backends
            )
        metrics = compute(result.run_id, store.events(result.run_id), project.graph())
        assert metrics.call_spans and {c.kind for c in metrics.call_spans} == {kind}
        assert all(c.end > c.start for c in metrics.call_spans)
    written = report(result.run_id, tmp_path / "report", store=store)
    assert any(p.name == "gantt.png" for p in written)


def test_clip_cuts_at_a_word_boundary() -> None:
    text = "the check failed because add returned the difference of its arguments"
    cut = clip(text, 40)
    assert cut.endswith("…") and len(cut) <= 40
    assert text.startswith(cut[:-1]) and text[len(cut) - 1] == " "
    assert clip("x" * 100, 10) == "x" * 9 + "…"  # one long word: cut inside it
