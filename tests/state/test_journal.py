from __future__ import annotations

import asyncio

from lmteams.messages import Envelope, Kind, validate_envelope
from lmteams.state.events import RoundEnd
from lmteams.state.journal import Journal
from lmteams.state.store import EventStore


async def test_group_commit_makes_a_burst_durable_in_one_flush(store: EventStore) -> None:
    run_id = store.new_run("x")
    journal = Journal(store, run_id)
    journal.start_clock()
    flushes = 0
    real_flush = store.flush

    def counting_flush() -> int:
        nonlocal flushes
        flushes += 1
        return real_flush()

    store.flush = counting_flush  # type: ignore[method-assign]

    async def writer(i: int) -> None:
        journal.event(RoundEnd(round=i))
        await journal.wait_durable()

    await asyncio.gather(*(writer(i) for i in range(50)))
    assert store.pending == 0
    assert flushes == 1
    assert len(store.events(run_id)) == 50


async def test_messages_are_logged_as_envelopes(store: EventStore) -> None:
    run_id = store.new_run("x")
    journal = Journal(store, run_id)
    journal.start_clock()
    env = Envelope.make(
        run_id=run_id, sender="c", recipients=("a",), kind=Kind.REQUEST, payload={"x": 1}
    )
    journal.message(env)
    await journal.wait_durable()
    [event] = store.events(run_id)
    assert event.type == "message" and event.node == "c"
    assert event.data["id"] == env.id and event.data["payload"] == {"x": 1}
    assert validate_envelope(event.data) == env  # whole again, though the row holds less
    [(row,)] = store.query("SELECT data FROM events WHERE run_id = ?", (run_id,))
    assert run_id not in row and '"sender"' not in row


async def test_cancelled_waiter_does_not_cancel_the_commit(store: EventStore) -> None:
    run_id = store.new_run("x")
    journal = Journal(store, run_id)
    journal.start_clock()
    journal.event(RoundEnd(round=1))
    first = asyncio.ensure_future(journal.wait_durable())
    second = asyncio.ensure_future(journal.wait_durable())
    await asyncio.sleep(0)
    first.cancel()
    await second
    assert store.pending == 0
