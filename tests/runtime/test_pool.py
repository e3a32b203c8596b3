"""A process that runs several teams over the same models opens each embedded model once.

The demo's asks, a sweep's cells, an eval's strategies and a server's requests each run on the
same backends, opened by the caller's :class:`~lmteams.runtime.pool.BackendPool` and closed at
its end. The embedded backend is replaced by one that logs when it is opened and closed (a
scripted model underneath: no engine is loaded).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from lmteams.config import ModelSpec, NodeSpec, TeamSpec
from lmteams.consensus.datasets import Item
from lmteams.coordinator.settings import RunSettings
from lmteams.coordinator.sweep import sweep
from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedBackend
from lmteams.runtime.pool import BackendPool
from lmteams.scheduling.project import builtin_project, load_project
from lmteams.serve.team import ServedTeam, TeamHandler
from lmteams.showcase import showcase
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.evaluation import evaluate
from lmteams.testing import ScriptedCall, project_script

ITEMS = [Item(question="What is 2 + 3?", answer="5"), Item(question="What is 1 + 4?", answer="5")]
BOTH_OPENED_AND_CLOSED = ["open small", "open large", "close small", "close large"]


def script(call: ScriptedCall) -> str:
    return "Answer: 5" if "What is" in call.prompt else project_script(call)


@pytest.fixture
def engines(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """What happened to embedded backends, in order: "open NAME", "close NAME"."""
    log: list[str] = []

    class LoggedEngine(ScriptedBackend):
        kind = "embedded"

        def __init__(self, options: BaseModel, *, name: str) -> None:
            super().__init__(script, name=name)
            log.append(f"open {name}")

        async def aclose(self) -> None:
            log.append(f"close {self.name}")

    monkeypatch.setattr("lmteams.models.embedded.EmbeddedBackend", LoggedEngine)
    return log


def team(tmp_path: Path, **small: Any) -> TeamSpec:
    """Three nodes on two embedded models (the model files are never read)."""
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    model = {"backend": "embedded", "path": str(gguf)}
    return TeamSpec(
        name="two-models",
        models={"small": ModelSpec(**model, **small), "large": ModelSpec(**model)},
        nodes=[
            NodeSpec(name="a", model="small"),
            NodeSpec(name="b", model="large"),
            NodeSpec(name="c", model="large"),
        ],
    )


async def test_a_run_alone_opens_and_closes_its_own(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    await ask(team(tmp_path), "What is 2 + 3?", store, consensus="majority")
    await ask(team(tmp_path), "What is 2 + 3?", store, consensus="majority")
    # each run opens both models and closes them (in no set order): why callers share a pool
    assert sorted(engines) == sorted(BOTH_OPENED_AND_CLOSED * 2)
    assert engines[2:4] == [f"close {engines[0][5:]}", f"close {engines[1][5:]}"]


async def test_the_demos_asks_open_each_model_once(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    steps: list[str] = []
    result = await showcase(team(tmp_path), ITEMS, store, strategy="majority", on_step=steps.append)
    assert len(store.runs(kind="ask")) == 8  # two questions: three members alone, then the team
    assert result.right("team") == 2 and len(steps) == 8
    assert engines == BOTH_OPENED_AND_CLOSED


async def test_the_demo_closes_its_models_when_it_fails(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    def interrupted(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        await showcase(team(tmp_path), ITEMS, store, strategy="majority", on_step=interrupted)
    assert engines == BOTH_OPENED_AND_CLOSED


async def test_a_sweep_opens_each_model_once(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    rows, _ = await sweep(
        team(tmp_path),
        load_project(builtin_project("tiny-math")),
        store,
        workers=[1, 2],
        topologies=["steal"],
        reps=1,
        base=RunSettings(),
    )
    assert len({row.run_id for row in rows}) == 2  # two runs (their checks may fail: no matter)
    assert engines == BOTH_OPENED_AND_CLOSED


async def test_an_eval_opens_each_model_once_for_every_strategy_and_member(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    report = await evaluate(team(tmp_path), ITEMS, store, ["majority", "weighted"])
    assert {s.strategy for s in report.scores} >= {"greedy", "majority", "weighted"}
    # one team for the whole eval: its runtime opens each model once (in no set order)
    assert sorted(engines[:2]) == ["open large", "open small"]
    assert sorted(engines[2:]) == ["close large", "close small"]


async def test_serve_teams_requests_share_the_models_loaded_at_start(
    store: EventStore, engines: list[str], tmp_path: Path
) -> None:
    handler = TeamHandler([ServedTeam("t", team(tmp_path))], store)
    await handler.wait_ready()
    assert engines == ["open small", "open large"]
    for question in ("What is 2 + 3?", "What is 1 + 4?"):
        result, _ = await handler.ask("t", question)
        assert result.answer == "5"
    assert engines == ["open small", "open large"]
    await handler.aclose()
    assert engines == BOTH_OPENED_AND_CLOSED


async def test_mcp_serves_repeated_asks_on_models_opened_once(
    engines: list[str], tmp_path: Path
) -> None:
    pytest.importorskip("mcp")
    from lmteams.serve.mcp import build_server, closing

    team_file = tmp_path / "team.yaml"
    team_file.write_text(team(tmp_path).model_dump_json())  # JSON is YAML
    pool = BackendPool()
    server = build_server(team=str(team_file), db=tmp_path / "log.db", pool=pool)
    for question in ("What is 2 + 3?", "What is 1 + 4?", "What is 2 + 3?"):
        await server.call_tool("ask", {"question": question, "consensus": "majority"})
    assert engines == ["open small", "open large"]

    async def served() -> None:
        return None

    await closing(served(), pool)
    assert engines == BOTH_OPENED_AND_CLOSED


async def test_a_pool_reuses_a_model_only_where_it_is_defined_the_same(
    engines: list[str], tmp_path: Path
) -> None:
    async with BackendPool() as pool:
        first = pool.backends_for(team(tmp_path))
        again = pool.backends_for(team(tmp_path))
        changed = pool.backends_for(team(tmp_path, n_parallel=2))
        assert again == first
        assert changed["large"] is first["large"] and changed["small"] is not first["small"]
    opened = ["open small", "open large", "open small"]
    assert engines == [*opened, *(line.replace("open", "close") for line in opened)]


async def test_a_pool_keeps_only_embedded_models_and_never_closes_the_callers(
    engines: list[str], tmp_path: Path
) -> None:
    spec = team(tmp_path)
    spec = spec.model_copy(
        update={"models": {**spec.models, "small": ModelSpec(backend="scripted")}}
    )
    mine = ScriptedBackend(name="large")
    async with BackendPool({"large": mine}) as pool:
        backends = pool.backends_for(spec)
    # a scripted model keeps state of a run (its call count): each run still builds its own
    assert backends == {"large": mine} and engines == []


async def test_a_bad_embedded_setting_is_one_error_naming_the_model(tmp_path: Path) -> None:
    async with BackendPool() as pool:
        with pytest.raises(ConfigError) as caught:
            pool.backends_for(team(tmp_path, n_parallel=0))
    assert caught.value.field is not None and caught.value.field.startswith("models.small.")
    assert "\n" not in str(caught.value)
