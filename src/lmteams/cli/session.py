"""Shared plumbing of commands: opening the event log and running a coroutine to completion."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from lmteams.cli.errors import interrupted
from lmteams.errors import ConfigError, StoreError
from lmteams.state.store import EventStore, default_db_path

T = TypeVar("T")


def open_store(db: Path | None, *, read_only: bool = False) -> EventStore:
    """The event log at ``db`` (default ``./.lmteams/lmteams.db``). ``read_only``: a command
    that only reads the log refuses a path with no log instead of making an empty one there
    (a mistyped ``--db`` would otherwise read as "no runs" and leave a stray file)."""
    where = db if db is not None else default_db_path()
    if read_only and str(where) != ":memory:" and not Path(where).is_file():
        raise ConfigError(
            f"no event log at {where}: runs write one there (`lmteams ask`, `lmteams run`); "
            "give the file they wrote",
            field="--db",
        )
    try:
        return EventStore(db)
    except OSError as exc:  # its folder cannot be made (permissions, a file in the way)
        raise StoreError(
            f"cannot open the event log {where}: {exc.strerror or exc}: {exc.filename or where}"
        ) from None


def open_log_if_any(db: Path | None) -> EventStore | None:
    """The event log, read-only; None when no ``--db`` was given and nothing has run here yet
    (a command that only lists makes no log for that; a ``--db`` with no log is still refused)."""
    if db is None and not default_db_path().is_file():
        return None
    return open_store(db, read_only=True)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro``; Ctrl-C cancels it (runs are then marked cancelled) and exits with 130.

    Engines are closed by the runtimes and teams that opened them, not here."""
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        interrupted()
