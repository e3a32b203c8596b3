"""NodeSlots: a node's max_concurrent slots, first come first served, with live counters."""

from __future__ import annotations

import asyncio

import pytest

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
