"""Clocks: the system clock, and a virtual clock that lets asyncio code run in simulated time.

Everything in the runtime reads time through the running event loop (``loop.time()``,
``asyncio.sleep``, ``asyncio.timeout``), so the :class:`VirtualClock` only has to make the loop
itself virtual: when every task is waiting on a timer, it jumps time forward to the next timer
instead of sleeping. Tests of timeouts, hedging and scripted latencies then take no wall time
and are exactly repeatable.
"""

from __future__ import annotations

import asyncio
import selectors
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any


def now_s() -> float:
    """Monotonic seconds of the running loop (virtual under :class:`VirtualClock`)."""
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return time.monotonic()


class VirtualClock:
    """Patch the running event loop so that idle waits advance virtual time instantly.

    Use as ``with VirtualClock():`` inside a coroutine. Real I/O (sockets, threads) does not
    mix with it: a thread's result arrives in real time while the loop believes none passes.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = start_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._saved: dict[str, Any] = {}

    def time(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += max(0.0, seconds)

    def __enter__(self) -> VirtualClock:
        loop = asyncio.get_running_loop()
        selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
        real_select: Callable[[float | None], list[Any]] = selector.select

        def virtual_select(timeout: float | None = None) -> list[Any]:
            events = real_select(0)
            if not events and timeout is not None and timeout > 0:
                self._now += timeout
            return events

        self._loop = loop
        self._saved = {"time": loop.time, "select": real_select}
        loop.time = self.time  # type: ignore[method-assign]
        selector.select = virtual_select  # type: ignore[method-assign]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._loop is not None
        self._loop.time = self._saved["time"]  # type: ignore[method-assign]
        self._loop._selector.select = self._saved["select"]  # type: ignore[attr-defined]
