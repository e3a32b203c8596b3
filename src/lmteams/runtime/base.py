"""The runtime contract: deliver a request envelope to its node, return the node's reply.

Node code never depends on where it runs; a runtime decides that. The local runtime hosts nodes
as coroutines in this process; the Ray runtime hosts them in actors across machines. Both are
driven by the same coordinator through this interface.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

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


async def acquire_slot(limit: asyncio.Semaphore, stats: NodeStats) -> None:
    """Wait for a free slot of a node (the backpressure point), counting who waits.

    The caller releases ``limit`` and decrements ``stats.in_flight`` when its call ends.
    """
    if limit.locked():
        stats.waiting += 1
        try:
            await limit.acquire()
        finally:
            stats.waiting -= 1
    else:
        await limit.acquire()  # does not suspend: a permit is free
    stats.in_flight += 1


class Occupied:
    """A delivery holding the node's slot taken by :func:`acquire_slot`, as a ``with`` block.

    On exit the slot is released and the call counted: completed, or failed on a
    :class:`~lmteams.errors.ModelError` (any other exception, a cancel, counts as neither).
    A plain class, not a generator: it sits on every call's path.
    """

    __slots__ = ("limit", "stats")

    def __init__(self, limit: asyncio.Semaphore, stats: NodeStats) -> None:
        self.limit = limit
        self.stats = stats

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            self.stats.completed += 1
        elif issubclass(kind, ModelError):
            self.stats.failed += 1
        self.stats.in_flight -= 1
        self.limit.release()


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
