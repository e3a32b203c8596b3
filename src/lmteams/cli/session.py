"""Shared plumbing of commands: opening the event log and running a coroutine to completion."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lmteams.cli.errors import interrupted
from lmteams.models.embedded import close_all_engines
from lmteams.state.store import EventStore

T = TypeVar("T")


def open_store(db: Path | None) -> EventStore:
    return EventStore(db)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; Ctrl-C cancels it (runs are then marked cancelled) and exits with 130."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        interrupted()
    finally:
        close_all_engines()
