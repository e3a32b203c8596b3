"""The synchronous facade: ``lmteams.ask(...)`` and ``lmteams.run_project(...)`` from a plain
script or a notebook, without ``asyncio.run``.

The async API stays as it is (``lmteams.ask_async``, ``lmteams.run_project_async``, and their
modules ``lmteams.strategies.ask`` and ``lmteams.coordinator.run``), as httpx offers ``Client`` beside
``AsyncClient``. With no event loop running in the calling thread, a call runs on a loop of its
own (``asyncio.run``). Inside a running loop (a notebook cell, an async web handler) that loop
cannot be re-entered, so the call runs on a fresh loop in a worker thread while the caller
waits; in async code, ``await lmteams.ask_async(...)`` instead, which does not block the loop.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

from lmteams.coordinator.run import run_project as run_project_async
from lmteams.strategies.ask import ask as ask_async

__all__ = ["ask", "ask_async", "run_project", "run_project_async", "run_sync"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def run_sync(start: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run the coroutine ``start()`` makes to completion and return its result, whether or
    not an event loop is already running in this thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(start())
    # The coroutine is made in the worker, so nothing of it touches the caller's loop.
    with ThreadPoolExecutor(1, thread_name_prefix="lmteams-sync") as pool:
        return pool.submit(lambda: asyncio.run(start())).result()


def _blocking(function: Callable[_P, Coroutine[Any, Any, _T]]) -> Callable[_P, _T]:
    @functools.wraps(function)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        return run_sync(lambda: function(*args, **kwargs))

    call.__doc__ = (
        f"Blocking form of ``{function.__module__}.{function.__name__}`` (see lmteams.sync).\n\n"
        + (function.__doc__ or "")
    )
    return call


ask = _blocking(ask_async)
run_project = _blocking(run_project_async)
