"""One timer for many deadlines, in virtual time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lmteams.faults.watchdog import Watchdog
from lmteams.testing import VirtualClock


async def guarded(watchdog: Watchdog, key: str, work_s: float) -> tuple[str, float]:
    """A call under the watchdog: ("done" | "timeout", when it ended)."""
    loop = asyncio.get_running_loop()
    watchdog.start(key)
    try:
        await asyncio.sleep(work_s)
    except asyncio.CancelledError:
        if watchdog.stop(key):
            return "timeout", loop.time()
        raise
    watchdog.stop(key)
    return "done", loop.time()


async def test_calls_expire_at_their_own_deadlines_in_the_order_they_started() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        async with asyncio.TaskGroup() as group:
            a = group.create_task(guarded(watchdog, "a", 100))
            await asyncio.sleep(3)
            b = group.create_task(guarded(watchdog, "b", 5))  # done at 8, before its 13
            await asyncio.sleep(2)
            c = group.create_task(guarded(watchdog, "c", 100))
    assert a.result() == ("timeout", pytest.approx(10.0))
    assert b.result() == ("done", pytest.approx(8.0))
    assert c.result() == ("timeout", pytest.approx(15.0))
    assert watchdog.in_flight == 0


async def test_a_cancellation_from_outside_stays_a_cancellation() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        call = asyncio.ensure_future(guarded(watchdog, "a", 100))
        await asyncio.sleep(1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert watchdog.in_flight == 0
        # its deadline passes with nothing left to cancel
        await asyncio.sleep(20)
        later = await guarded(watchdog, "b", 1)
    assert later[0] == "done"


async def test_an_outside_cancel_at_the_deadline_is_not_taken_for_a_timeout() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        call = asyncio.ensure_future(guarded(watchdog, "a", 100))
        await asyncio.sleep(10)  # the watchdog has cancelled it, and now someone else does too
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call


async def test_close_cancels_the_timer() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        call = asyncio.ensure_future(guarded(watchdog, "a", 5))
        await asyncio.sleep(0)
        watchdog.close()
        assert await call == ("done", pytest.approx(5.0))  # no deadline after close


async def test_no_timer_is_left_once_no_call_is_in_flight() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        loop = asyncio.get_running_loop()
        assert await guarded(watchdog, "a", 1) == ("done", pytest.approx(1.0))
        # A wait on real I/O (a thread here, a check's subprocess in a run): a timer left
        # behind would make the virtual clock jump to it.
        await loop.run_in_executor(None, lambda: None)
        assert loop.time() == pytest.approx(1.0)


async def test_calls_that_end_back_to_back_share_one_timer_until_the_loop_moves_on() -> None:
    watchdog = Watchdog(10.0)
    with VirtualClock():
        loop = asyncio.get_running_loop()
        armed: list[float] = []
        call_at = loop.call_at

        def counting_call_at(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
            armed.append(when)
            return call_at(when, *args, **kwargs)

        loop.call_at = counting_call_at  # type: ignore[method-assign]
        for key in "abcd":  # replies that need no wait: each call ends before the next starts
            watchdog.start(key)
            assert not watchdog.stop(key)
        assert armed == [pytest.approx(10.0)]
        await asyncio.sleep(0)  # the loop's next step drops the idle timer
        await loop.run_in_executor(None, lambda: None)
        assert loop.time() == pytest.approx(0.0)  # no timer left to jump to
        assert await guarded(watchdog, "e", 1) == ("done", pytest.approx(1.0))
        # a call after the drop arms the watchdog again (its deadline, then the sleep's timer)
        assert armed[1:] == [pytest.approx(10.0), pytest.approx(1.0)]
