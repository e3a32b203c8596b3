"""The local runtime: every node is a coroutine in this process's event loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError
from lmteams.messages import Envelope
from lmteams.models.base import ModelBackend, current_node
from lmteams.models.registry import check_backend_ready
from lmteams.node import NodeWorker
from lmteams.runtime.base import NodeSlots, NodeStats, Runtime, build_backends, build_workers


class LocalRuntime(Runtime):
    """Delivers envelopes by awaiting the node's worker, at most ``max_concurrent`` at a time."""

    name = "local"

    def __init__(self) -> None:
        self._slots: dict[str, NodeSlots[NodeWorker]] = {}
        self._backends: dict[str, ModelBackend] = {}
        self._owned: list[ModelBackend] = []
        self._closed = False

    async def start(
        self, team: TeamSpec, backends: Mapping[str, ModelBackend] | None = None
    ) -> None:
        self._backends = build_backends(team, backends)
        self._owned = [
            b for name, b in self._backends.items() if not backends or name not in backends
        ]
        if len(self._backends) == 1:  # the usual one model: no tasks to start for it
            await check_backend_ready(*next(iter(self._backends.items())))
        else:
            try:
                async with asyncio.TaskGroup() as group:
                    for name, backend in self._backends.items():
                        group.create_task(check_backend_ready(name, backend))
            except* ConfigError as errors:
                raise errors.exceptions[0] from None
        workers = build_workers(team, self._backends)
        self._slots = {
            node.name: NodeSlots(workers[node.name], team.max_concurrent(node))
            for node in team.nodes
        }

    async def request(self, envelope: Envelope) -> Envelope:
        self._check_open()
        name = envelope.recipients[0]
        slot = self._slots[name]
        if not slot.try_take():  # a free slot is taken without a coroutine of its own
            await slot.take()
        token = current_node.set(name)
        try:
            reply = await slot.server.handle(envelope)
        except BaseException as exc:
            slot.give_back(exc)
            raise
        finally:
            current_node.reset(token)
        slot.give_back(None)
        return reply

    async def aclose(self) -> None:
        self._closed = True
        for backend in self._owned:
            await backend.aclose()

    def statistics(self) -> dict[str, NodeStats]:
        return {name: slot.stats for name, slot in self._slots.items()}
