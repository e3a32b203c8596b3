"""Shared plumbing of commands: opening the event log and running a coroutine to completion."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lmteams.cli.errors import interrupted
from lmteams.errors import StoreError
from lmteams.state.store import EventStore, default_db_path

T = TypeVar("T")


def open_store(db: Path | None) -> EventStore:
    try:
        return EventStore(db)
    except OSError as exc:  # its folder cannot be made (permissions, a file in the way)
        where = db if db is not None else default_db_path()
        raise StoreError(
            f"cannot open the event log {where}: {exc.strerror or exc}: {exc.filename or where}"
        ) from None


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; Ctrl-C cancels it (runs are then marked cancelled) and exits with 130.

    Engines are closed by the runtimes and teams that opened them, not here."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        interrupted()
