"""The rounds harness with scripted agents: the study's two modes, refusals, messages, limits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from lmteams.analysis.metrics import compute
from lmteams.cli.errors import run_exit_code
from lmteams.coordinator.resume import resume_project
from lmteams.coordinator.run import run_project
from lmteams.coordinator.settings import RunResult, RunSettings
from lmteams.errors import ConfigError, ModelUnavailable
from lmteams.faults.config import BudgetSpec
from lmteams.models.scripted import ScriptedCall
from lmteams.runtime.clock import VirtualClock
from lmteams.scheduling.project import ProjectSpec, builtin_project, load_project
from lmteams.state.store import EventStore
from lmteams.testing import scripted_team

from ..scheduling.test_graph import STUDY
from .rounds_script import actions, rounds_script
from .test_resume import stopped_midway

TINY = load_project(builtin_project("tiny-math"))


async def rounds(
    project: ProjectSpec,
    topology: str,
    store: EventStore,
    script=rounds_script,
    workers: int = 3,
    **settings,
) -> RunResult:  # type: ignore[no-untyped-def]
    spec, backends = scripted_team(workers, script)
    return await run_project(
        spec,
        project,
        store,
        RunSettings(topology=topology, workers=workers, harness="rounds", **settings),
        backends=backends,
    )


def counts(store: EventStore, run_id: str) -> Counter[str]:
    return Counter(e.type for e in store.events(run_id))


@pytest.mark.parametrize("topology", ["decentralized", "preassign"])
async def test_tiny_math_finishes_with_every_check_passing(
    topology: str, store: EventStore
) -> None:
    result = await rounds(TINY, topology, store)
    assert result.status == "done" and set(result.tasks.values()) == {"done"}
    seen = counts(store, result.run_id)
    assert seen["task_done"] == 5 and seen["round_start"] >= 2
    checks = [e.data for e in store.events(result.run_id, types=["check_run"])]
    assert len(checks) == 5 and all(c["ok"] for c in checks)
    assert (Path(result.workspace) / "sum_squares.py").read_text().startswith("def sum_squares")
    schedule = store.events(result.run_id, types=["schedule"])[0].data
    assert schedule["harness"] == "rounds" and schedule["topology"] == topology
    assert run_exit_code(result) == 0


@pytest.mark.parametrize("topology", ["decentralized", "preassign"])
async def test_a_study_project_finishes(topology: str, store: EventStore) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))
    result = await rounds(project, topology, store, workers=4)
    assert result.status == "done" and len(result.tasks) == 20
    metrics = compute(result.run_id, store.events(result.run_id), project.graph())
    assert metrics.tasks_done == 20 and metrics.workers == 4
    # the chain of ten takes at least ten rounds: one task per agent per round
    assert counts(store, result.run_id)["round_start"] >= 10


async def test_calls_are_envelopes_one_per_agent_per_round(store: EventStore) -> None:
    result = await rounds(TINY, "decentralized", store)
    requests = [
        e.data
        for e in store.events(result.run_id, types=["message"])
        if e.data["kind"] == "request"
    ]
    per_round = Counter(r["payload"]["meta"]["round"] for r in requests)
    assert set(per_round.values()) == {3}  # every agent, every round
    assert "Act with one JSON block" in requests[0]["payload"]["messages"][-1]["content"]


def _premature(call: ScriptedCall) -> str:
    return rounds_script(call, premature="(round 1;" in call.prompt)


async def test_a_premature_claim_is_refused_and_counted(store: EventStore) -> None:
    result = await rounds(TINY, "decentralized", store, script=_premature, workers=2)
    assert result.status == "done"
    refused = [e.data for e in store.events(result.run_id, types=["claim_refused"])]
    assert any("waits for" in r["detail"] for r in refused)
    metrics = compute(result.run_id, store.events(result.run_id), TINY.graph())
    assert metrics.claims_refused == len(refused) >= 2
    # the refusal is in the agent's history in the next round
    prompts = [
        e.data["payload"]["messages"][-1]["content"]
        for e in store.events(result.run_id, types=["message"])
        if e.data["kind"] == "request" and e.data["payload"]["meta"]["round"] == 2
    ]
    assert any("refused: sum-squares waits for" in p for p in prompts)


def _garbage_first(call: ScriptedCall) -> str:
    if "(round 1;" in call.prompt and call.node == "n0":
        return 'I claim ```json\n{"actions": [{"action": "steal", "task": "add"}]}\n```'
    if "(round 1;" in call.prompt and call.node == "n1":
        return "no idea"
    return rounds_script(call)


async def test_an_invalid_action_is_refused_and_logged(store: EventStore) -> None:
    result = await rounds(TINY, "decentralized", store, script=_garbage_first, workers=2)
    assert result.status == "done"
    refused = [(e.node, e.data) for e in store.events(result.run_id, types=["action_refused"])]
    assert (
        "n0",
        {
            "round": 1,
            "action": None,
            "reason": "action 1: unknown action 'steal'; "
            "one of: claim, complete, edit, run_tests, message, wait",
        },
    ) in refused
    assert any(n == "n1" and d["reason"].startswith("no actions") for n, d in refused)
    end = store.events(result.run_id, types=["rounds_end"])[0].data
    assert end["action_refused"] == len(refused) == 2


async def test_a_claim_under_preassign_and_a_stranger_task_are_refused(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "(round 1;" in call.prompt:
            return actions(
                {"action": "claim", "task": "add"},
                {"action": "complete", "task": "greet" if call.node == "n0" else "zzz"},
            )
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    reasons = [e.data["reason"] for e in store.events(result.run_id, types=["action_refused"])]
    assert (
        reasons.count("tasks are assigned under this topology: work on the task you are given") == 2
    )
    assert "unknown task 'zzz'" in reasons


async def test_max_rounds_stops_the_run_unfinished(store: EventStore) -> None:
    result = await rounds(
        TINY, "decentralized", store, script=lambda call: actions({"action": "wait"}), max_rounds=3
    )
    assert result.status == "unfinished" and run_exit_code(result) == 4
    assert result.stopped == "3 rounds (--max-rounds) reached"
    seen = counts(store, result.run_id)
    assert seen["round_start"] == 3 and seen["max_rounds"] == 1
    assert store.run(result.run_id).status == "unfinished"


async def test_agent_messages_are_envelopes(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "(round 1;" in call.prompt and call.node == "n0":
            return actions(
                {"action": "message", "text": "I take add"},
                {"action": "message", "text": "you take square", "to": "n1"},
                {"action": "wait"},
            )
        return rounds_script(call)

    result = await rounds(TINY, "decentralized", store, script=script)
    sent = [
        e.data
        for e in store.events(result.run_id, types=["message"])
        if e.data["kind"] == "broadcast"
    ]
    assert [(m["sender"], m["recipients"], m["payload"]["text"]) for m in sent] == [
        ("n0", ["n1", "n2"], "I take add"),
        ("n0", ["n1"], "you take square"),
    ]
    assert sent[1]["payload"]["direct"] is True and sent[0]["parent_id"]
    round2 = [
        (e.data["recipients"][0], e.data["payload"]["messages"][-1]["content"])
        for e in store.events(result.run_id, types=["message"])
        if e.data["kind"] == "request" and e.data["payload"]["meta"]["round"] == 2
    ]
    assert any(n == "n1" and "message from n0: you take square" in p for n, p in round2)
    assert not any(n == "n2" and "you take square" in p for n, p in round2)


async def test_a_failed_check_is_fed_back_and_retried(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "You hold task add." in call.prompt and "failed its check" not in call.prompt:
            return "add.py\n```python\ndef add(a, b): return a - b\n```\n" + actions(
                {"action": "run_tests"}, {"action": "complete", "task": "add"}
            )
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    checks = [
        e.data for e in store.events(result.run_id, types=["check_run"]) if e.data["task"] == "add"
    ]
    assert [c["ok"] for c in checks] == [False, True]
    tests = store.events(result.run_id, types=["tests_run"])
    assert tests and tests[0].data["ok"] is False and tests[0].data["task"] == "add"


async def test_an_edit_action_writes_through_the_workspace(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "You hold task greet." in call.prompt:
            return actions(
                {
                    "action": "edit",
                    "path": "greet.py",
                    "content": "def greet(n): return 'Hello, ' + n\n",
                },
                {"action": "complete", "task": "greet"},
            )
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script)
    assert result.status == "done"
    written = [
        e.data
        for e in store.events(result.run_id, types=["file_written"])
        if e.data["path"] == "greet.py"
    ]
    assert len(written) == 1 and written[0]["content"].startswith("def greet(n)")


async def test_completing_with_no_file_is_a_failed_try(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "You hold task add." in call.prompt:
            return actions({"action": "complete", "task": "add"})
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "partial"
    assert result.tasks["add"] == "failed" and result.tasks["sum-squares"] == "blocked"
    failed = store.events(result.run_id, types=["task_failed"])[0].data
    assert failed == {"task": "add", "error": "no code yet for add.py"}
    assert run_exit_code(result) == 4


async def test_another_topology_is_refused_before_the_run(store: EventStore) -> None:
    with pytest.raises(ConfigError, match="--harness rounds runs the study's modes") as caught:
        await rounds(TINY, "steal", store)
    assert caught.value.field == "--topology"
    assert store.runs() == []


async def test_a_resumed_rounds_run_reads_its_logged_checks_back(tmp_path: Path) -> None:
    settings = RunSettings(topology="decentralized", workers=3, harness="rounds")
    stopped = await stopped_midway(
        tmp_path, TINY, settings, rounds_script, 3, done=2, event="check_run", virtual=False
    )
    store, run_id = stopped.store, stopped.run_id
    logged = store.events(run_id, types=["check_run"])
    assert 2 <= len(logged) < 5 and all(e.data["ok"] for e in logged)
    result = await resume_project(store, run_id, backends=stopped.backends)
    assert result.status == "done"
    # each task's check once in the log: those logged before were read back, not run again
    runs = [e.data for e in store.events(run_id, types=["check_run"])]
    assert sorted(r["task"] for r in runs) == sorted(TINY.graph().ids) and all(
        r["ok"] for r in runs
    )
    store.close()


@pytest.mark.parametrize("topology", ["decentralized", "preassign"])
async def test_a_rounds_run_stopped_midway_resumes_where_it_stopped(
    tmp_path: Path, topology: str
) -> None:
    project = load_project(next(p for p in STUDY if p.stem == "mathutilities20_p05"))
    settings = RunSettings(topology=topology, workers=3, harness="rounds")
    spec, clean = scripted_team(3, rounds_script, latency_s=1.0)
    with EventStore(tmp_path / "clean.db") as store, VirtualClock():
        expected = await run_project(spec, project, store, settings, backends=clean)
        expected_rounds = counts(store, expected.run_id)["round_start"]
    assert expected.status == "done"

    # the same run, stopped after a few tasks (mid-round: calls in flight)
    stopped = await stopped_midway(tmp_path, project, settings, rounds_script, 3)
    store, run_id, backends = stopped.store, stopped.run_id, stopped.backends
    before, committed = stopped.calls_before, stopped.committed
    assert committed < clean["scripted"].calls  # type: ignore[attr-defined]

    with VirtualClock():
        result = await resume_project(store, run_id, backends=backends)
    assert result.status == "done" and set(result.tasks.values()) == {"done"}
    files = {p.name: p.read_text() for p in Path(result.workspace).iterdir()}
    assert files == {p.name: p.read_text() for p in Path(expected.workspace).iterdir()}
    # every committed call was answered from the log: only new keys reached the model
    sent = backends["scripted"].calls - before  # type: ignore[attr-defined]
    assert sent == len(store.call_results(run_id)) - committed
    assert sent + committed == clean["scripted"].calls  # type: ignore[attr-defined]
    # nothing logged twice: the replayed rounds added only what the log did not hold
    seen = counts(store, run_id)
    assert seen["round_start"] == expected_rounds
    rounds_started = Counter(e.data["round"] for e in store.events(run_id, types=["round_start"]))
    assert set(rounds_started.values()) == {1}
    assert Counter(e.data["task"] for e in store.events(run_id, types=["task_done"])) == Counter(
        {t: 1 for t in result.tasks}
    )
    attempts = Counter(
        (e.data["task"], e.data["attempt"]) for e in store.events(run_id, types=["task_attempt"])
    )
    assert set(attempts.values()) == {1}
    ids = [e.data["id"] for e in store.events(run_id, types=["message"])]
    assert len(ids) == len(set(ids))
    assert seen["call_replayed"] == committed
    store.close()


async def test_a_node_whose_calls_fail_is_lost_and_its_task_moves(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        if call.node == "n1":
            return ModelUnavailable("down", node="n1")
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    lost = store.events(result.run_id, types=["node_lost"])
    assert [e.node for e in lost] == ["n1"]
    done_by = {e.data["task"]: e.node for e in store.events(result.run_id, types=["task_done"])}
    assert set(done_by.values()) == {"n0"}
    moved = store.events(result.run_id, types=["task_interrupted"])
    assert all(e.data["requeue"] for e in moved)


async def test_a_spent_budget_stops_the_run(store: EventStore) -> None:
    spec, backends = scripted_team(2, rounds_script)
    spec = spec.model_copy(update={"budget": BudgetSpec(max_tokens=400)})
    result = await run_project(
        spec,
        TINY,
        store,
        RunSettings(topology="preassign", workers=2, harness="rounds"),
        backends=backends,
    )
    assert result.status == "stopped" and result.stopped
    assert run_exit_code(result) == 4
    assert store.events(result.run_id, types=["budget_stop"])


async def test_words_beside_the_actions_are_not_a_file(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        if "You hold task add." in call.prompt and "(round 1;" in call.prompt:
            return "Done\n" + actions({"action": "wait"})
        return rounds_script(call)

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    written = [e.data for e in store.events(result.run_id, types=["file_written"])]
    assert all(w["content"] != "Done\n" for w in written)


async def test_code_without_actions_is_read_as_a_task_reply(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        reply = rounds_script(call)
        return reply.split("```json")[0] if "You hold task" in call.prompt else reply

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    implied = store.events(result.run_id, types=["action_implied"])
    assert sorted(e.data["task"] for e in implied) == sorted(TINY.graph().ids)
    assert not store.events(result.run_id, types=["action_refused"])
    declared = await rounds(
        TINY, "preassign", store, script=script, workers=2, success="declared", max_rounds=3
    )
    assert declared.status == "unfinished"  # under the study's rule only a declaration counts


async def test_a_task_named_by_its_title_is_completed(store: EventStore) -> None:
    def script(call: ScriptedCall) -> str:
        reply = rounds_script(call)
        return reply.replace('"task": "add"', '"task": "add(a, b)"')

    result = await rounds(TINY, "preassign", store, script=script, workers=2)
    assert result.status == "done"
    assert not store.events(result.run_id, types=["action_refused"])


@pytest.mark.parametrize("topology", ["decentralized", "preassign"])
async def test_the_oracle_team_finishes_a_study_project_in_rounds(
    topology: str, store: EventStore
) -> None:
    from lmteams.models.oracle import oracle_script
    from lmteams.scheduling.project import study_folder

    from .test_study_oracle import study_project

    name = "dataanalysis_p05"
    spec, backends = scripted_team(3, oracle_script(study_folder(name) / "solutions"))
    result = await run_project(
        spec,
        study_project(name, None),
        store,
        RunSettings(topology=topology, workers=3, harness="rounds", success="suite"),
        backends=backends,
    )
    assert result.status == "done", (result.tasks, result.suite)
    assert result.suite is not None and result.suite.ok and result.suite.failed == 0


async def test_project_script_claims_and_writes_in_rounds(store: EventStore) -> None:
    from lmteams.testing import project_script

    project = load_project(next(p for p in STUDY if p.stem == "svgutils_p09"))
    result = await rounds(project, "decentralized", store, script=project_script)
    assert result.status == "done"
    assert len(store.events(result.run_id, types=["action_implied"])) == 20
