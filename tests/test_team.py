from __future__ import annotations

import asyncio
import sqlite3

import pytest

from lmteams.errors import ConfigError, ModelTimeout
from lmteams.messages import Envelope, Kind
from lmteams.state.replay import idempotency_key, legacy_payload_digest, payload_digest
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import event_types, scripted_team


async def test_every_message_is_logged_with_causal_links(store: EventStore) -> None:
    spec, backends = scripted_team(2, lambda c: "Answer: 1")
    async with Team(spec, store, kind="test", backends=backends) as team:
        reply = await team.call("n0", "q")
        assert reply.text == "Answer: 1" and reply.node == "n0"
        run_id = team.run_id
    types = event_types(store, run_id)
    assert types == ["run_started", "message", "message", "run_finished"]
    request, answer = (
        Envelope.from_json(_json(e.data)) for e in store.events(run_id, types=["message"])
    )
    assert request.kind is Kind.REQUEST and answer.kind is Kind.REPLY
    assert answer.parent_id == request.id
    assert answer.usage is not None and answer.usage.total_tokens > 0
    run = store.run(run_id)
    assert run.status == "done"


def _json(data: dict) -> str:  # type: ignore[type-arg]
    import json

    return json.dumps(data)


async def test_reply_is_durable_before_call_returns(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: "x")
    async with Team(spec, store, kind="test", backends=backends) as team:
        await team.call("n0", "q")
        assert store.pending == 0


async def test_failed_call_is_logged_and_raised(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: ModelTimeout("slow"))
    async with Team(spec, store, kind="test", backends=backends) as team:
        with pytest.raises(ModelTimeout):
            await team.call("n0", "q")
        run_id = team.run_id
    failed = store.events(run_id, types=["call_failed"])
    assert failed[0].data["error"] == "ModelTimeout" and failed[0].data["transient"] is True
    assert failed[0].node == "n0"


async def test_exception_marks_run_failed(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: "x")
    with pytest.raises(ValueError):
        async with Team(spec, store, kind="test", backends=backends) as team:
            raise ValueError("boom")
    assert store.run(team.run_id).status == "failed"
    assert store.run(team.run_id).result == {"error": "boom"}


async def test_cancellation_marks_run_cancelled(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: "x", latency_s=60)
    run_ids = []

    async def run() -> None:
        async with Team(spec, store, kind="test", backends=backends) as team:
            run_ids.append(team.run_id)
            await team.call("n0", "q")

    task = asyncio.ensure_future(run())
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert store.run(run_ids[0]).status == "cancelled"


async def test_start_failure_is_recorded(store: EventStore) -> None:
    from lmteams.config import parse_team

    spec = parse_team(
        {
            "models": {"m": {"backend": "embedded", "path": "/nonexistent.gguf"}},
            "nodes": [{"name": "a"}],
        },
        source="t",
    )
    with pytest.raises(ConfigError, match="models.m.path: model file not found"):
        async with Team(spec, store, kind="test"):
            pass
    [run] = store.runs()
    assert run.status == "failed"


async def test_keyed_calls_are_committed_and_replayed_on_resume(store: EventStore) -> None:
    spec, backends = scripted_team(2, lambda c: f"reply to {c.prompt}")
    backend = backends["scripted"]
    async with Team(spec, store, kind="test", backends=backends) as team:
        first = await team.call("n0", "q1", key="task-1/0")
        run_id = team.run_id
    assert backend.calls == 1  # type: ignore[attr-defined]
    async with Team(
        spec, store, kind="test", backends=backends, run_id=run_id, resume=True
    ) as again:
        replayed = await again.call("n0", "q1", key="task-1/0")
        fresh = await again.call("n0", "q2", key="task-2/0")
        assert again.replayed == 1
    assert replayed == first
    assert fresh.text == "reply to q2"
    assert backend.calls == 2  # type: ignore[attr-defined]
    types = [e.type for e in store.events(run_id)]
    assert types.count("run_started") == 1 and "run_resumed" in types and "call_replayed" in types
    assert store.run(run_id).status == "done"


async def test_a_call_committed_by_an_earlier_lmteams_is_replayed(store: EventStore) -> None:
    # keys committed before 2026-12-03 hold the json module's digest of the request
    spec, backends = scripted_team(1, lambda c: f"reply to {c.prompt}")
    async with Team(spec, store, kind="test", backends=backends) as team:
        first = await team.call("n0", "q1", key="task-1/0", meta={"é": 1.5})
        run_id = team.run_id
    [(key, _)] = store.call_results(run_id).items()
    request = next(
        Envelope.from_json(_json(e.data))
        for e in store.events(run_id, types=["message"])
        if e.data["kind"] == "request"
    )
    old = idempotency_key(run_id, "n0", "task-1/0", request.payload, legacy=True)
    assert old != key
    with sqlite3.connect(store.path) as db:
        db.execute("UPDATE call_results SET key = ? WHERE key = ?", (old, key))
    async with Team(
        spec, store, kind="test", backends=backends, run_id=run_id, resume=True
    ) as again:
        assert await again.call("n0", "q1", key="task-1/0", meta={"é": 1.5}) == first
        assert again.replayed == 1
    assert backends["scripted"].calls == 1  # type: ignore[attr-defined]


def test_the_request_digest_reads_the_payload_not_its_key_order() -> None:
    one = {"messages": [{"role": "user", "content": "q"}], "meta": {"a": 1, "b": [1, 2]}}
    same = {"meta": {"b": [1, 2], "a": 1}, "messages": [{"content": "q", "role": "user"}]}
    assert payload_digest(one) == payload_digest(same)
    assert payload_digest(one) != payload_digest({**one, "meta": {"a": 2, "b": [1, 2]}})
    assert len(payload_digest(one)) == 16
    # a value orjson cannot write (an integer past 64 bits) falls back to the json module's rules
    huge = {"meta": {"n": 10**30}}
    assert payload_digest(huge) == legacy_payload_digest(huge)


async def test_same_key_with_a_different_request_is_not_replayed(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: c.prompt)
    async with Team(spec, store, kind="test", backends=backends) as team:
        await team.call("n0", "a", key="k")
        run_id = team.run_id
    async with Team(
        spec, store, kind="test", backends=backends, run_id=run_id, resume=True
    ) as again:
        reply = await again.call("n0", "b", key="k")
    assert reply.text == "b" and again.replayed == 0


async def test_run_started_names_the_coordinator_process(store: EventStore) -> None:
    import os

    spec, backends = scripted_team(1, lambda c: "x")
    async with Team(spec, store, kind="test", backends=backends) as team:
        pass
    [started] = store.events(team.run_id, types=["run_started"])
    assert started.data["pid"] == os.getpid() and started.data["host"]


async def test_unkeyed_calls_replay_from_logged_messages_when_asked(store: EventStore) -> None:
    spec, backends = scripted_team(2, lambda c: f"reply to {c.prompt}")
    backend = backends["scripted"]
    async with Team(spec, store, kind="test", backends=backends) as team:
        first = await team.call("n0", "q1")
        await team.call("n0", "q1")
        run_id = team.run_id
    async with Team(
        spec, store, kind="test", backends=backends, run_id=run_id, resume=True
    ) as plain:
        await plain.call("n0", "q1")
        assert plain.replayed == 0  # unkeyed calls are not replayed unless asked
    assert backend.calls == 3  # type: ignore[attr-defined]
    async with Team(
        spec,
        store,
        kind="test",
        backends=backends,
        run_id=run_id,
        resume=True,
        replay_unkeyed=True,
    ) as again:
        replayed = [await again.call("n0", "q1") for _ in range(4)]
        assert again.replayed == 3  # the three logged replies, in order, then a new call
    assert replayed[0] == first and backend.calls == 4  # type: ignore[attr-defined]


async def test_a_reply_round_trips_through_its_record() -> None:
    from lmteams.messages import Usage
    from lmteams.team import Reply

    reply = Reply("n0", "t", Usage(1, 2), 0.5, "stop", "m", "e1", (0.1,), served_by="n1")
    assert Reply.from_record(reply.to_record()) == reply


async def test_without_a_resilience_layer_heartbeats_are_ignored(store: EventStore) -> None:
    spec, backends = scripted_team(1, lambda c: "x")
    async with Team(spec, store, kind="test", backends=backends) as team:
        team.heartbeat("n0")
        await team.call("n0", "q")
        stats = team.statistics()
    assert stats.resilience is None and stats.totals.calls == 1
    assert stats.runtime["n0"].completed == 1


async def test_secrets_in_a_team_file_never_reach_the_log(store: EventStore) -> None:
    from lmteams.config import parse_team
    from lmteams.team import loggable_team

    spec = parse_team(
        {
            "models": {
                "r": {
                    "backend": "openai",
                    "base_url": "http://127.0.0.1:9/v1",
                    "api_key": "sk-SECRET",
                    "api_key_env": "MY_KEY",
                    "check_on_start": False,
                }
            },
            "nodes": [{"name": "a", "model": "r"}],
        },
        source="t",
    )
    logged = loggable_team(spec)
    assert "sk-SECRET" not in str(logged)
    assert logged["models"]["r"]["api_key"] == "***"
    assert logged["models"]["r"]["api_key_env"] == "MY_KEY"
