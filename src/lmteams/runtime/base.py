"""The runtime contract: deliver a request envelope to its node, return the node's reply.

Node code never depends on where it runs; a runtime decides that. The local runtime hosts nodes
as coroutines in this process; the Ray runtime hosts them in actors across machines. Both are
driven by the same coordinator through this interface.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError, ModelError, RuntimeClosed
from lmteams.messages import Envelope
from lmteams.models.base import ModelBackend
from lmteams.models.registry import create_backend, validate_options
from lmteams.node import NodeWorker
from lmteams.state.events import Emit


@dataclass(slots=True)
class NodeStats:
    """Live counters of one node, as a runtime sees it."""

    in_flight: int = 0
    waiting: int = 0
    completed: int = 0
    failed: int = 0


Server = TypeVar("Server")


class NodeSlots(Generic[Server]):
    """A node's ``max_concurrent`` slots, its live counters and the ``server`` of its calls (a
    worker in this process, the actor that hosts it...): a runtime's backpressure point.

    A first-come, first-served semaphore whose free path is one synchronous call
    (:meth:`try_take`): it is on every call's path, where ``asyncio.Semaphore`` cost seven
    method calls (``locked()`` twice, each with a generator, ``acquire``, ``release`` and its
    wake-up) and a ``with`` block three more. A freed slot goes straight to the oldest waiter.
    """

    __slots__ = ("_waiters", "limit", "server", "stats")

    def __init__(self, server: Server, limit: int) -> None:
        self.server = server
        self.limit = limit
        self.stats = NodeStats()
        self._waiters: deque[asyncio.Future[None]] = deque()

    def try_take(self) -> bool:
        """Take a free slot without waiting; False when none is free (or others wait for one)."""
        stats = self.stats
        if stats.in_flight < self.limit and not self._waiters:
            stats.in_flight += 1
            return True
        return False

    async def take(self) -> None:
        """Take a slot, waiting in line for one (counted in ``stats.waiting``) when none is
        free. The caller gives it back with :meth:`give_back` when its call ends."""
        if self.try_take():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self.stats.waiting += 1
        try:
            await waiter  # resolved by give_back, which hands its slot over as it is
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release()  # handed a slot while being cancelled: the next one takes it
            else:
                waiter.cancel()
                if waiter in self._waiters:  # a release may have dropped it already
                    self._waiters.remove(waiter)
            raise
        finally:
            self.stats.waiting -= 1

    def give_back(self, error: BaseException | None) -> None:
        """Give back a slot and count its call: completed, or failed on a
        :class:`~lmteams.errors.ModelError` (``error``; any other exception, a cancel,
        counts as neither)."""
        if error is None:
            self.stats.completed += 1
        elif isinstance(error, ModelError):
            self.stats.failed += 1
        self._release()

    def _release(self) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot changes hands: in_flight stays the same
                return
        self.stats.in_flight -= 1


class Runtime(ABC):
    """Where nodes live. One runtime serves one team at a time."""

    name: str = "abstract"
    #: Where the runtime reports what it saw happen to its nodes (an actor lost, restarted):
    #: ``emit(event, node)`` logs an event in the run. Set by the team that uses it.
    emit: Emit | None = None

    @abstractmethod
    async def start(
        self, team: TeamSpec, backends: Mapping[str, ModelBackend] | None = None
    ) -> None:
        """Create the team's nodes and make sure their models can serve.

        ``backends`` overrides models of the team by name (tests pass scripted models here).
        Raises :class:`~lmteams.errors.ConfigError` if a model cannot be reached.
        """

    #: Set by :meth:`aclose`; a stopped runtime takes no more deliveries.
    _closed: bool = False

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeClosed("the runtime has been stopped")

    @abstractmethod
    async def request(self, envelope: Envelope) -> Envelope:
        """Deliver ``envelope`` to ``envelope.recipients[0]`` and return the reply.

        Waits for a free slot of that node (its ``max_concurrent``) first: this is the
        backpressure point. Cancelling the caller cancels the delivery. Raises
        :class:`~lmteams.errors.ModelError` when the node's call fails.
        """

    @abstractmethod
    async def aclose(self) -> None:
        """Stop every node and release the models this runtime created."""

    @abstractmethod
    def statistics(self) -> dict[str, NodeStats]:
        """Per-node counters, for live views and metrics."""


def build_backends(
    team: TeamSpec, overrides: Mapping[str, ModelBackend] | None = None
) -> dict[str, ModelBackend]:
    """One backend per model the team's nodes use (shared by those nodes)."""
    overrides = overrides or {}
    used = {team.model_of(node) for node in team.nodes}
    backends: dict[str, ModelBackend] = {}
    for name in used:
        backends[name] = overrides[name] if name in overrides else open_backend(team, name)
    return backends


def open_backend(team: TeamSpec, name: str) -> ModelBackend:
    """A new backend for the team's model ``name``; its settings' errors name ``models.NAME``."""
    spec = team.models[name]
    try:
        options = validate_options(spec.backend, spec.options)
        return create_backend(spec.backend, options, name)
    except ConfigError as exc:
        raise exc.under(f"models.{name}") from None


def build_workers(team: TeamSpec, backends: Mapping[str, ModelBackend]) -> dict[str, NodeWorker]:
    return {
        node.name: NodeWorker(
            node.name,
            node.role,
            team.system_prompt(node),
            team.sampling(node),
            backends[team.model_of(node)],
        )
        for node in team.nodes
    }
