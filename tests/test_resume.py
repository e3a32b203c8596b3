from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections import Counter

import pytest

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError, RunNotFound
from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
from lmteams.resume import (
    ResumeContext,
    register_resumer,
    resumable_kinds,
    resume_run,
    resumer_for,
    team_of,
)
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team


def answers(call: ScriptedCall) -> ScriptedReply:
    text = {"n0": "Answer: 4", "n1": "Answer: 4", "n2": "Answer: 5", "n3": "Answer: 5"}
    return ScriptedReply(text[call.node or ""], latency_s=10.0 if call.node == "n3" else 1.0)


def team() -> tuple[TeamSpec, ScriptedBackend]:
    spec, backends = scripted_team(4, answers)
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend)
    return spec, backend


async def interrupted_ask(store: EventStore, spec: TeamSpec, backend: ScriptedBackend) -> str:
    """Start an ask and kill its coordinator after 5 s: n3's answer is still missing."""
    task = asyncio.ensure_future(ask(spec, "q", store, backends={"scripted": backend}))
    await asyncio.sleep(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [run] = store.runs()
    return run.run_id


async def test_an_interrupted_ask_resumes_without_asking_again(store: EventStore) -> None:
    spec, backend = team()
    with VirtualClock():
        run_id = await interrupted_ask(store, spec, backend)
        assert store.run(run_id).status == "cancelled" and backend.calls == 4
        outcome = await resume_run(store, run_id, backends={"scripted": backend})
    assert outcome.status == "done" and outcome.replayed == 3 and outcome.new_calls == 1
    assert backend.calls == 5  # only n3, whose reply was never logged, was asked again
    fresh_spec, fresh_backend = team()
    with VirtualClock():
        uninterrupted = await ask(
            fresh_spec, "q", EventStore(":memory:"), backends={"scripted": fresh_backend}
        )
    assert outcome.result is not None
    assert outcome.result["answer"] == uninterrupted.answer == "4"
    assert [n["answer"] for n in outcome.result["nodes"]] == [n.answer for n in uninterrupted.nodes]
    # No message logged twice: every reply answers a distinct request.
    replies = [
        e.data["parent_id"]
        for e in store.events(run_id, types=["message"])
        if e.data["kind"] == "reply"
    ]
    assert len(replies) == 4 and len(set(replies)) == 4
    types = Counter(e.type for e in store.events(run_id))
    assert types["run_started"] == 1 and types["run_resumed"] == 1 and types["call_replayed"] == 3
    assert types["decision"] == 1


async def test_a_resumed_ask_keeps_the_consensus_options_it_was_given(
    store: EventStore,
) -> None:
    spec, backend = team()
    with VirtualClock():
        task = asyncio.ensure_future(
            ask(
                spec,
                "q",
                store,
                consensus="single",
                options={"node": "n3"},  # n3 answers 5, after 10 s
                extractor="number",
                backends={"scripted": backend},
            )
        )
        await asyncio.sleep(5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [run] = store.runs()
        assert run.params["options"]["node"] == "n3" and run.params["extractor"] == "number"
        outcome = await resume_run(store, run.run_id, backends={"scripted": backend})
    assert outcome.status == "done" and outcome.result is not None
    assert outcome.result["answer"] == "5"  # n3's answer, not the team file's default node's


async def test_an_ask_killed_after_its_decision_does_not_decide_twice(
    store: EventStore,
) -> None:
    spec, backend = team()
    with VirtualClock():
        decided = await ask(spec, "q", store, backends={"scripted": backend})
    # As if the process died after committing the decision but before closing the run.
    store.set_status(decided.run_id, "cancelled")
    with VirtualClock():
        outcome = await resume_run(store, decided.run_id, backends={"scripted": backend})
    assert outcome.status == "done" and outcome.new_calls == 0 and backend.calls == 4
    assert outcome.result is not None and outcome.result["answer"] == decided.answer
    assert len(store.events(decided.run_id, types=["decision"])) == 1


async def test_finished_runs_are_not_resumed(store: EventStore) -> None:
    spec, backend = team()
    with VirtualClock():
        result = await ask(spec, "q", store, backends={"scripted": backend})
    with pytest.raises(ConfigError, match="already finished"):
        await resume_run(store, result.run_id)
    with pytest.raises(RunNotFound):
        await resume_run(store, "nope")


async def test_a_live_coordinator_is_not_resumed_unless_forced(store: EventStore) -> None:
    spec, backend = team()
    run_id = store.new_run("ask", params={"question": "q"}, team="t")
    store.append(
        run_id,
        "run_started",
        {"team": spec.model_dump(mode="json"), "pid": os.getppid(), "host": socket.gethostname()},
    )
    with pytest.raises(ConfigError, match=f"still running \\(process {os.getppid()}\\)"):
        await resume_run(store, run_id)
    with VirtualClock():
        outcome = await resume_run(store, run_id, backends={"scripted": backend}, force=True)
    assert outcome.status == "done" and outcome.replayed == 0


async def test_a_dead_coordinator_is_resumed(store: EventStore) -> None:
    spec, backend = team()
    run_id = store.new_run("ask", params={"question": "q"}, team="t")
    store.append(run_id, "run_started", {"team": spec.model_dump(mode="json"), "pid": 2**22 + 7})
    with VirtualClock():
        outcome = await resume_run(store, run_id, backends={"scripted": backend})
    assert outcome.status == "done"


async def test_kinds_without_a_resumer_are_refused(store: EventStore) -> None:
    run_id = store.new_run("mystery")
    with pytest.raises(ConfigError, match="runs of kind 'mystery' cannot be resumed; resumable"):
        await resume_run(store, run_id)


async def test_registered_resumers_redo_their_work_with_keyed_calls(store: EventStore) -> None:
    spec, backends = scripted_team(2, lambda c: f"did {c.prompt}")
    backend = backends["scripted"]

    async def work(team: Team, stop_after: int | None = None) -> None:
        done = []
        for i in range(4):
            if stop_after is not None and i == stop_after:
                raise KeyboardInterrupt  # the coordinator dies
            done.append((await team.call(f"n{i % 2}", f"task {i}", key=f"task-{i}")).text)
        team.result = {"done": done}

    async def resume_batch(ctx: ResumeContext) -> None:
        async with ctx.team() as team:
            await work(team)

    register_resumer("batch", resume_batch)
    assert "batch" in resumable_kinds() and resumer_for("batch") is resume_batch
    with pytest.raises(KeyboardInterrupt):
        async with Team(spec, store, kind="batch", backends=backends) as first:
            await work(first, stop_after=3)
    outcome = await resume_run(store, first.run_id, backends=backends)
    assert outcome.replayed == 3 and outcome.new_calls == 1
    assert backend.calls == 4  # type: ignore[attr-defined]
    assert outcome.result == {"done": [f"did task {i}" for i in range(4)]}


def test_each_feature_registers_its_own_kind_when_first_looked_up() -> None:
    """The built-in resumers live with their features; the registry imports them on first use,
    so `lmteams resume` finds every kind although importing the registry loaded none of ask's."""
    probe = (
        "import sys\n"
        "import lmteams.resume as r\n"
        "before = 'lmteams.strategies.resume' in sys.modules\n"
        "from lmteams.coordinator.resume import resume_graph\n"
        "kinds = r.resumable_kinds()\n"
        "from lmteams.strategies.resume import resume_ask\n"
        "print(before, kinds, r.resumer_for('ask') is resume_ask,"
        " r.resumer_for('run') is resume_graph)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "['ask',", "'eval',", "'run']", "True", "True"]


@pytest.mark.parametrize("kind", ["sim", "mystery"])
async def test_a_kind_nobody_resumes_is_one_line(store: EventStore, kind: str) -> None:
    run_id = store.new_run(kind)
    with pytest.raises(ConfigError) as refused:
        await resume_run(store, run_id)
    message = str(refused.value)
    prefix = f"RUN: runs of kind {kind!r} cannot be resumed; resumable kinds: "
    assert message.startswith(prefix) and message.endswith("; start it again")
    kinds = message[len(prefix) : -len("; start it again")].split(", ")
    assert {"ask", "run"} <= set(kinds) and kind not in kinds  # other tests may register more
    assert refused.value.field == "RUN" and "\n" not in message


async def test_the_team_comes_from_the_log(store: EventStore) -> None:
    spec, backend = team()
    with VirtualClock():
        result = await ask(spec, "q", store, backends={"scripted": backend})
    assert team_of(store, store.run(result.run_id)) == spec
    bare = store.new_run("ask")
    with pytest.raises(ConfigError, match="has no logged team; pass --team FILE"):
        team_of(store, store.run(bare))


async def test_a_team_with_redacted_secrets_must_be_given_again(store: EventStore) -> None:
    run_id = store.new_run("ask", params={"question": "q"})
    team = {
        "models": {"r": {"backend": "openai", "base_url": "http://x/v1", "api_key": "***"}},
        "nodes": [{"name": "a", "model": "r"}],
    }
    store.append(run_id, "run_started", {"team": team})
    with pytest.raises(ConfigError, match="model 'r' has a secret that was not logged; pass"):
        team_of(store, store.run(run_id))
