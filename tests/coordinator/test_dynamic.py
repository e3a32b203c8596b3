from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest

from lmteams.analysis.metrics import compute
from lmteams.coordinator.resume import resume_project
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunSettings
from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedCall, ScriptedReply
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import builtin_project, load_project
from lmteams.state.store import EventStore
from lmteams.testing import project_script, scripted_team

CODE = {
    "add.py": "def add(a, b):\n    return a + b\n",
    "square.py": "def square(x):\n    return x * x\n",
    "greet.py": "def greet(name):\n    return 'Hello, ' + name\n",
    "sum_squares.py": "def sum_squares(a, b):\n    return a * a + b * b\n",
    "double.py": "def double(x):\n    return x + x\n",
}
EDITS: list[dict[str, Any]] = [
    {
        "action": "split_task",
        "task": "double",
        "parts": [
            {"id": "double-code", "title": "double(x)", "files": ["double.py"]},
            {"id": "double-notes", "title": "notes on double", "files": ["double_notes.py"]},
        ],
    },
    {"action": "add_dependency", "task": "greet", "on": "sum-squares"},
    {"action": "add_dependency", "task": "add", "on": "sum-squares"},  # a cycle: refused
    {"action": "rename_task", "task": "add"},  # not an action: refused
    {
        "action": "add_task",
        "id": "report",
        "files": ["report.py"],
        "after": ["double-code", "double-notes"],
    },
]


class Editor:
    """Correct code for tiny-math; the first claim (n0's) also edits the graph."""

    def __init__(self, edits: list[dict[str, Any]] | None = None, hang: str | None = None):
        self.edits = EDITS if edits is None else edits
        self.hang = hang  # the first call for this task takes an hour
        self.calls: dict[str, int] = {}

    def __call__(self, call: ScriptedCall) -> str | ScriptedReply:
        prompt = call.prompt
        if "Pick ONE open task" in prompt:
            done = set(re.findall(r"^Done: (.*)$", prompt, re.M)[0].split(", "))
            rows = re.findall(r"^- ([\w-]+) \[pending\] .*\(needs: (.*)\)$", prompt, re.M)
            pending = [t for t, needs in rows if needs == "none" or set(needs.split(", ")) <= done]
            first = bool(self.edits) and call.node == "n0" and "claim" not in self.calls
            self.calls["claim"] = 1
            claim = "report" if first else (pending[0] if pending else None)
            return json.dumps({"claim": claim, "edits": self.edits if first else []})
        task = re.search(r"Your task \(([\w-]+)\)", prompt)
        name = task.group(1) if task else ""
        self.calls[name] = self.calls.get(name, 0) + 1
        wanted = re.search(r"Write: (.+)", prompt)
        files = [f.strip() for f in wanted.group(1).split(",")] if wanted else []
        text = "\n\n".join(
            f"{path}\n```python\n{CODE.get(path, 'VALUE = 1')}\n```" for path in files
        )
        if name == self.hang and self.calls[name] == 1:
            return ScriptedReply(text, latency_s=3600.0)
        return text


async def run(store: EventStore, script: Any = None, workers: int = 2, **settings: Any) -> Any:
    """tiny-math under dynamic. Its checks run real processes, which a virtual clock would
    time out, so only runs that skip checks (``success="declared"``) run in virtual time."""
    virtual = settings.get("success") == "declared"
    spec, backends = scripted_team(workers, script or Editor(), latency_s=1.0 if virtual else 0.01)
    go = run_project(
        spec,
        load_project(builtin_project("tiny-math")),
        store,
        RunSettings(topology="dynamic", workers=workers, **settings),
        backends=backends,
    )
    if not virtual:
        return await go
    with VirtualClock():
        return await go


async def test_a_scripted_team_edits_its_graph_and_finishes(store: EventStore) -> None:
    result = await run(store)
    assert result.status == "done", result.tasks
    assert set(result.tasks) == {
        "add",
        "square",
        "greet",
        "sum-squares",
        "double-code",
        "double-notes",
        "report",
    }
    events = list(store.events(result.run_id))
    kinds = [e.type for e in events]
    edits = [e.data["detail"] for e in events if e.type == "graph_edit"]
    assert edits == [
        "split_task double into double-code, double-notes",
        "add_dependency greet on sum-squares",
        "add_task report after double-code, double-notes",
    ]
    refused = [e.data["detail"] for e in events if e.type == "edit_refused"]
    assert len(refused) == 2
    assert "cycle: add -> sum-squares -> add" in refused[0]
    assert "unknown action 'rename_task'" in refused[1]
    # every edit is a logged policy input, before the claim it came with
    ops = [e.data["op"] for e in events if e.type == "sched"]
    assert ops.count("edit") == 5
    # the edited graph held: greet ran after sum-squares, report after both parts
    done_at = {e.data["task"]: e.t for e in events if e.type == "task_done"}
    started = {e.data["task"]: e.t for e in events if e.type == "task_assigned"}
    assert started["greet"] >= done_at["sum-squares"]
    assert started["report"] >= max(done_at["double-code"], done_at["double-notes"])
    summary = next(e.data for e in events if e.type == "dynamic_summary")
    assert summary["edits"] == 3 and summary["edits_refused"] == 2
    (last, *_) = [e.data["tasks"] for e in events if e.type == "task_graph"][::-1]
    assert last["greet"] == ["sum-squares"] and last["report"] == ["double-code", "double-notes"]
    # metrics read the edited graph from the log, given the project's own
    metrics = compute(result.run_id, events, load_project(builtin_project("tiny-math")).graph())
    assert metrics.tasks_done == 7 and metrics.tasks == 7
    assert "claim_refused" in kinds  # its first claim named report before it was ready


async def test_plain_claims_run_like_decentralized(store: EventStore) -> None:
    result = await run(store, script=project_script, workers=3, success="declared")
    assert result.status == "done"
    assert not [e for e in store.events(result.run_id) if e.type == "graph_edit"]


async def test_a_claim_without_progress_is_released(store: EventStore) -> None:
    result = await run(
        store, script=Editor(edits=[], hang="square"), lease_s=30.0, success="declared"
    )
    assert result.status == "done", result.tasks
    events = list(store.events(result.run_id))
    (expired,) = [e for e in events if e.type == "lease_expired"]
    assert expired.data["task"] == "square"
    (late,) = [e for e in events if e.type == "late_result"]
    assert late.node == expired.node and "dropped" in late.data["detail"]
    done_by = {e.data["task"]: e.node for e in events if e.type == "task_done"}
    assert done_by["square"] != expired.node


@pytest.mark.parametrize(
    ("value", "problem"),
    [(0, "greater than 0"), (-5, "greater than 0"), (10**9, "less than or equal")],
)
def test_a_bad_lease_is_one_line(value: float, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        RunSettings(topology="dynamic", lease_s=value)
    assert info.value.field == "--lease-s"
    assert problem in str(info.value)


_CLI_EDITOR = Editor()


def cli_editor(call: ScriptedCall) -> str | ScriptedReply:
    """:class:`Editor` as a team file's script (``tests.coordinator.test_dynamic:cli_editor``)."""
    return _CLI_EDITOR(call)


async def test_a_dynamic_run_resumes_with_its_edited_graph(tmp_path: Path) -> None:
    spec, backends = scripted_team(2, Editor(), latency_s=1.0)
    store = EventStore(tmp_path / "crash.db")
    settings = RunSettings(topology="dynamic", workers=2, success="declared")
    project = load_project(builtin_project("tiny-math"))
    with VirtualClock():
        task = asyncio.ensure_future(run_project(spec, project, store, settings, backends=backends))
        await asyncio.sleep(0)
        while (
            not task.done() and len(store.events(store.runs()[0].run_id, types=["task_done"])) < 3
        ):
            await asyncio.sleep(0.25)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    run_id = store.runs()[0].run_id
    assert store.events(run_id, types=["graph_edit"])  # the edits came before the crash
    with VirtualClock():
        result = await resume_project(store, run_id, backends=backends)
    assert result.status == "done", result.tasks
    assert set(result.tasks) == {
        "add", "square", "greet", "sum-squares", "double-code", "double-notes", "report"
    }  # fmt: skip
    events = store.events(run_id)
    assert len([e for e in events if e.type == "graph_edit"]) == 3  # replayed, not logged again
    done = [e.data["task"] for e in events if e.type == "task_done"]
    assert sorted(done) == sorted(set(done)) and len(done) == 7
    store.close()
