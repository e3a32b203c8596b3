"""examples/specialists.py and the shipped specialists team: the flow with scripted models, and
the whole thing on the real embedded model."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from lmteams.config import load_team
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.state.store import EventStore

ROOT = Path(__file__).resolve().parents[2]


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "specialists_example", ROOT / "examples" / "specialists.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


example = load_example()


def test_the_shipped_team_has_distinct_specialists() -> None:
    spec = example.specialists_team()
    roles = {node.name: node.role for node in spec.nodes}
    assert roles == {
        "planner": "planner",
        "coder-1": "coder",
        "coder-2": "coder",
        "reviewer": "reviewer",
        "docs": "retrieval",
        "python": "executor",
    }
    assert spec.models["docs"].backend == "retrieval" and spec.models["python"].backend == "python"
    assert spec.roles["coder"].balance == "least_outstanding"
    assert load_team("specialists") == spec  # shipped under that name


def scripted_models(seen: list[tuple[str | None, str]]) -> ScriptedBackend:
    def script(call: ScriptedCall) -> str:
        seen.append((call.node, call.prompt))
        if call.node == "reviewer":
            return json.dumps(
                {"verdict": "pass" if "42" in call.prompt else "fail", "reason": "ok"}
            )
        if call.node == "coder-1":
            return "```python\nprint(6 * 7)\n"  # cut at the closing fence, as CODE_STOP does
        return "```python\nprint(6 * 7\n```"  # coder-2's program does not run

    return ScriptedBackend(script)


async def test_the_flow_with_scripted_models(store: EventStore) -> None:
    seen: list[tuple[str | None, str]] = []
    backends: dict[str, ModelBackend] = {
        "smollm2": scripted_models(seen),
        "docs": example.docs_backend(example.specialists_team()),
    }
    result = await example.run_example("Print six times seven.", store, backends=backends)
    assert [c.coder for c in result.candidates] == ["coder-1", "coder-2"]  # one per replica
    first, second = result.candidates
    assert (first.ran, first.output, first.verdict) == (True, "42\n", "pass")
    assert (second.ran, second.verdict) == (False, "fail")
    assert second.output.startswith("error: exit code 1") and "SyntaxError" in second.output
    assert result.chosen == 0 and not result.agree
    assert result.citations and all(
        c.source == "README.md" or c.source.startswith("docs/") for c in result.citations
    )
    # the coders saw the best passage in an earlier turn, and the task last
    assert all(
        prompt == "Print six times seven." for node, prompt in seen if node and "coder" in node
    )
    routes = store.events(result.run_id, types=["route"])
    assert [e.data["role"] for e in routes].count("coder") == 2
    assert {e.node for e in routes} == {"docs", "coder-1", "coder-2", "python", "reviewer"}
    stats = result.routing
    assert stats["coder"].completed == 2 and stats["executor"].completed == 2
    assert stats["planner"].completed == 0
    assert store.run(result.run_id).result == {"chosen": 0, "output": "42\n"}


def test_verdicts_are_read_from_json_or_prose() -> None:
    assert example.verdict_of('{"verdict": "fail", "reason": "x"}') == "fail"
    assert example.verdict_of('{"verdict": "pass", "reason": "cut off') == "pass"
    assert example.verdict_of("Looks right. Verdict: PASS") == "pass"
    assert example.verdict_of("no idea") == "none"


@pytest.mark.model
def test_end_to_end_on_the_embedded_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert example.main(["--db", str(tmp_path / "ex.db"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["candidates"]) == 2
    assert {c["coder"] for c in result["candidates"]} == {"coder-1", "coder-2"}
    assert [s["role"] for s in result["steps"]].count("executor") == 2
    assert result["citations"]
    for candidate in result["candidates"]:
        assert candidate["program"].strip()
        assert candidate["verdict"] in ("pass", "fail", "none")
    store = EventStore(tmp_path / "ex.db")
    assert store.run(result["run_id"]).status == "done"
    assert len(store.events(result["run_id"], types=["message"])) == 2 * len(result["steps"])
    store.close()
