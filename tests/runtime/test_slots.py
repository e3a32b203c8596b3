"""NodeSlots: a node's max_concurrent slots, first come first served, with live counters."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lmteams.errors import ModelUnavailable
from lmteams.runtime.base import NodeSlots


async def test_free_slots_are_taken_at_once_and_counted() -> None:
    slots = NodeSlots("worker", 2)
    assert slots.try_take() and slots.try_take()
    assert not slots.try_take()
    assert slots.stats.in_flight == 2
    slots.give_back(None)
    slots.give_back(ModelUnavailable("down"))
    assert (slots.stats.in_flight, slots.stats.completed, slots.stats.failed) == (0, 1, 1)


async def test_a_cancel_or_other_error_counts_as_neither_completed_nor_failed() -> None:
    slots = NodeSlots("worker", 1)
    await slots.take()
    slots.give_back(asyncio.CancelledError())
    assert (slots.stats.in_flight, slots.stats.completed, slots.stats.failed) == (0, 0, 0)


async def test_waiters_get_freed_slots_in_the_order_they_came() -> None:
    slots = NodeSlots("worker", 1)
    await slots.take()
    order: list[int] = []

    async def wait(i: int) -> None:
        await slots.take()
        order.append(i)

    waiters = [asyncio.create_task(wait(i)) for i in range(3)]
    await asyncio.sleep(0)
    assert slots.stats.waiting == 3
    assert not slots.try_take()  # a newcomer does not jump the line
    for expected in range(3):
        slots.give_back(None)
        await asyncio.sleep(0)
        assert order == list(range(expected + 1))
        assert slots.stats.in_flight == 1  # the slot changed hands
    await asyncio.gather(*waiters)
    assert slots.stats.waiting == 0
    slots.give_back(None)
    assert slots.stats.in_flight == 0


async def test_a_cancelled_waiter_leaves_the_line() -> None:
    slots = NodeSlots("worker", 1)
    await slots.take()
    first = asyncio.create_task(slots.take())
    second = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    slots.give_back(None)
    await asyncio.wait_for(second, timeout=5)
    assert (slots.stats.in_flight, slots.stats.waiting) == (1, 0)


async def test_a_waiter_cancelled_after_it_was_handed_a_slot_passes_it_on() -> None:
    slots = NodeSlots("worker", 1)
    await slots.take()
    first = asyncio.create_task(slots.take())
    second = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    slots.give_back(None)  # hands the slot to `first`, which has not run yet
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    await asyncio.wait_for(second, timeout=5)
    assert slots.stats.in_flight == 1
    slots.give_back(None)
    assert slots.try_take()  # nothing was lost on the way


def test_the_slots_carry_what_serves_the_node() -> None:
    worker = object()
    assert NodeSlots(worker, 1).server is worker


async def test_a_waiter_cancelled_as_a_slot_is_freed_leaves_no_trace() -> None:
    # The cancel lands first; the holder's give_back runs before the cancelled waiter resumes
    # (and finds it done): the waiter still ends cancelled, and the slot is free.
    slots = NodeSlots("worker", 1)
    await slots.take()
    waiter = asyncio.create_task(slots.take())
    await asyncio.sleep(0)
    waiter.cancel()
    slots.give_back(None)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert (slots.stats.in_flight, slots.stats.waiting) == (0, 0)
    assert slots.try_take()


OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["take", "cancel", "give_back", "step"]), st.integers(0, 7)),
    max_size=40,
)


@given(limit=st.integers(1, 3), operations=OPERATIONS)
@example(  # a waiter cancelled, then its slot freed before it resumes
    limit=1,
    operations=[
        ("take", 0),
        ("step", 0),
        ("take", 0),
        ("step", 0),
        ("cancel", 1),
        ("give_back", 0),
        ("step", 0),
    ],
)
def test_slots_are_never_lost_nor_shared_past_the_limit(
    limit: int, operations: list[tuple[str, int]]
) -> None:
    """Any interleaving of takes, cancels and gives back: never more than ``limit`` holders,
    slots handed out in the order they were asked for, and every slot free at the end."""

    async def play() -> None:
        slots = NodeSlots("worker", limit)
        asked: list[asyncio.Task[None]] = []  # in the order they asked
        holders: list[asyncio.Task[None]] = []  # in the order they got a slot
        given_back: set[asyncio.Task[None]] = set()

        async def settle() -> None:
            for _ in range(4):  # a slot handed on by a cancelled waiter takes a step or two
                await asyncio.sleep(0)

        def check() -> None:
            ended = [t for t in asked if t.done() and not t.cancelled()]
            assert all(t.exception() is None for t in ended)
            held = [t for t in ended if t not in given_back]
            assert slots.stats.in_flight == len(held) <= limit
            for task in held:
                if task not in holders:
                    holders.append(task)
            served = [t for t in asked if t in holders]
            assert served == holders  # first come, first served

        for operation, index in operations:
            if operation == "take":
                asked.append(asyncio.ensure_future(slots.take()))
            elif operation == "cancel" and asked:
                asked[index % len(asked)].cancel()
            elif operation == "give_back":
                held = [t for t in holders if t not in given_back]
                if held:
                    given_back.add(held[index % len(held)])
                    slots.give_back(None)
            else:  # operations in between steps land before any waiter resumes
                await settle()
                check()
        await settle()
        check()
        for task in asked:
            task.cancel()
        await asyncio.gather(*asked, return_exceptions=True)
        check()
        for task in holders:
            if task not in given_back:
                slots.give_back(None)
        assert (slots.stats.in_flight, slots.stats.waiting) == (0, 0)
        assert all(slots.try_take() for _ in range(limit)) and not slots.try_take()

    asyncio.run(play())
