"""A run's journal: events and messages appended to the event log with group commit.

Appends are buffered; once per event-loop iteration, everything appended so far is committed
in one transaction (group commit). Code that must not act on a result before it is durable
awaits :meth:`Journal.wait_durable`, which resolves after the commit that holds it.

A commit that fails (the log locked by another process past every retry:
:class:`~lmteams.state.store.StoreBusy`) fails every waiter, and every later one at once: the
run stops instead of acting on results that are not durable. What was buffered stays buffered,
and :meth:`Journal.aclose` tries once more.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lmteams.messages import Envelope
from lmteams.state.blobs import SHARE_MIN_CHARS
from lmteams.state.events import Event, dumps, event_json
from lmteams.state.store import EventStore


class Journal:
    """Append-only view of one run in an :class:`EventStore`, with group commit."""

    def __init__(self, store: EventStore, run_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self._loop: asyncio.AbstractEventLoop | None = None
        self._t0 = 0.0
        self._flush_scheduled = False
        self._waiters: list[asyncio.Future[None]] = []
        self._failed: Exception | None = None
        self.messages = 0
        self.events = 0

    def start_clock(self) -> None:
        """Make now the run's t = 0 (on the loop's clock, which may be virtual)."""
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()

    def now(self) -> float:
        """Seconds since the run started, on the run's clock."""
        if self._loop is None:
            return 0.0
        return self._loop.time() - self._t0

    def event(self, event: Event, *, node: str | None = None) -> None:
        """Buffer one event (a model of :mod:`lmteams.state.events`; an undeclared type is
        refused with :class:`~lmteams.errors.StoreError`)."""
        data = event_json(event)
        self.events += 1
        self.store.append_json(
            self.run_id, event.type, data, node=node, t=self.now(), ts=time.time()
        )
        self._schedule_flush()

    def message(self, envelope: Envelope) -> None:
        self.messages += 1
        loop = self._loop
        data = envelope.log_json()
        if len(data) >= SHARE_MIN_CHARS:  # only a long envelope can hold a long prompt
            data = self.store.share_texts(data)
        self.store.append_json(
            self.run_id,
            "message",
            data.decode(),
            node=envelope.sender,
            t=loop.time() - self._t0 if loop is not None else 0.0,
            ts=envelope.created_at,
        )
        if not self._flush_scheduled:
            self._schedule_flush()

    def record_call(self, key: str, node: str | None, result: dict[str, Any]) -> None:
        """Buffer a call's result under its idempotency key (durable after the next flush)."""
        self.store.put_call_result(key, self.run_id, node, dumps(result))
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if self._flush_scheduled or self._loop is None or self._failed is not None:
            return
        self._flush_scheduled = True
        self._loop.call_soon(self._start_commit)

    def _start_commit(self) -> None:
        self._flush_scheduled = False
        waiters, self._waiters = self._waiters, []
        try:
            self.store.flush()
        except Exception as exc:
            # Raised to whoever waits for durability, now or later, not into the event loop.
            self._failed = exc
            _resolve(waiters, exc)
            return
        _resolve(waiters, None)

    async def wait_durable(self) -> None:
        """Return once everything appended so far is committed (shared group commit)."""
        if self._loop is None:
            self.store.flush()
            return
        if self._failed is not None:
            raise self._failed
        if self.store.pending == 0:
            return
        # A future per waiter (not one shared future): cancelling one waiter must not cancel
        # the commit that the others wait for.
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        self._schedule_flush()
        await waiter

    async def aclose(self) -> None:
        """Commit everything still buffered (after a failed commit too: the lock may be gone)."""
        waiters, self._waiters = self._waiters, []
        try:
            self.store.flush()
        except Exception as exc:
            _resolve(waiters, exc)
            raise
        self._failed = None
        _resolve(waiters, None)


def _resolve(waiters: list[asyncio.Future[None]], error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)
