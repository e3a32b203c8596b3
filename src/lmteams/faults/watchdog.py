"""One timer for the deadlines of many calls that share one timeout (the team's fast path).

``asyncio.timeout`` around every call costs a timer handle per call: scheduled, cancelled and
swept from the loop's heap, measured at about a third of the fast path's per-call overhead.
Calls that share one timeout expire in the order they started, so one timer suffices: it
fires at the oldest call's deadline, cancels every call past its deadline, and is set again
for the oldest call left; with no call in flight there is no timer. Calls that end back to
back (replies that need no wait, a fan-out served from a cache) keep the one timer: it is
dropped on the loop's next step if no call started meanwhile, not re-armed per call. A call
cancelled this way is told so by :meth:`Watchdog.stop`, and raises
:class:`~lmteams.errors.ModelTimeout` instead of ``CancelledError`` (a cancellation from outside
is still a cancellation, as with ``asyncio.timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any

# A timer may fire this much before its time (the loop's clock resolution); a call that close
# to its deadline is past it.
_EARLY_S = 1e-6


class Watchdog:
    """Deadlines of calls in flight, all ``timeout_s`` long, watched by one timer."""

    __slots__ = ("_calls", "_drop_due", "_expired", "_timer", "timeout_s")

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        # key -> (deadline, the task awaiting the call, its cancel requests at the start);
        # insertion order is deadline order, since every call gets the same timeout.
        self._calls: dict[str, tuple[float, asyncio.Task[Any], int]] = {}
        self._expired: dict[str, int] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._drop_due = False  # the idle timer's drop is scheduled for the loop's next step

    def start(self, key: str) -> None:
        """Watch the call ``key`` that the current task is about to await."""
        task = asyncio.current_task()
        if task is None:
            return
        loop = task.get_loop()
        deadline = loop.time() + self.timeout_s
        self._calls[key] = (deadline, task, task.cancelling())
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire, loop)

    def stop(self, key: str) -> bool:
        """Stop watching ``key``; True when its deadline passed and its task was cancelled for
        it, and no other cancellation of the task is pending (the caller then raises a
        timeout instead)."""
        calls = self._calls
        calls.pop(key, None)
        if not calls and self._timer is not None and not self._drop_due:
            # Nothing left to watch: no timer either once the loop moves on (a virtual clock
            # jumps to the next timer whenever the loop waits, on a subprocess too).
            self._drop_due = True
            asyncio.get_running_loop().call_soon(self._drop_idle_timer)
        if not self._expired:
            return False
        cancelling = self._expired.pop(key, None)
        if cancelling is None:
            return False
        task = asyncio.current_task()
        return task is not None and task.uncancel() <= cancelling

    @property
    def in_flight(self) -> int:
        return len(self._calls)

    def _drop_idle_timer(self) -> None:
        self._drop_due = False
        if not self._calls and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        now = loop.time()
        calls = self._calls
        while calls:
            key = next(iter(calls))
            deadline, task, cancelling = calls[key]
            if deadline - now > _EARLY_S:
                self._timer = loop.call_at(deadline, self._fire, loop)
                return
            del calls[key]
            self._expired[key] = cancelling
            task.cancel()

    def close(self) -> None:
        """Cancel the timer (the calls still in flight keep no deadline)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._calls.clear()
