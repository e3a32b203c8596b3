"""The Ray actors of the Ray runtime: node hosts and model servers.

A :class:`NodeHost` is one async actor (one process) hosting many nodes. The driver sends it a
*batch* of request envelopes in one actor call; the call is a streaming generator that yields
the replies in groups as they finish (everything that finished in one event-loop tick of the
actor travels together), so a slow node never holds back a fast one and a fan-out of 256
requests costs a handful of actor calls, not 256.

A :class:`ModelServer` owns an engine that must exist once per machine (the embedded model:
its ``n_parallel`` slots are batched across every node of that machine). Node hosts on the
machine call it through :class:`ServedModel`, a :class:`ModelBackend` proxy.

Outcomes travel as values, not raised exceptions: a reply envelope, the typed error the node
raised, or ``None`` for a request the driver cancelled.
"""

from __future__ import annotations

import asyncio
import os
import pickle
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import ray
from pydantic import BaseModel
from ray.exceptions import RayActorError

from lmteams.config import TeamSpec
from lmteams.errors import (
    ConfigError,
    LMTeamsError,
    ModelError,
    ModelUnavailable,
    PermanentModelError,
    TransientModelError,
)
from lmteams.messages import Envelope
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling, current_node
from lmteams.models.registry import check_backend_ready, create_backend, validate_options
from lmteams.node import NodeWorker

#: (index in the batch, reply envelope | the error raised | None when cancelled)
Outcome = tuple[int, Envelope | BaseException | None]


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling (to cross to the driver), else a typed stand-in."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        message = f"{type(exc).__name__}: {exc}"
        if isinstance(exc, ModelError):
            cls = TransientModelError if exc.transient else PermanentModelError
            return cls(message, node=exc.node, model=exc.model, run_id=exc.run_id)
        return RuntimeError(message)
    return exc


def this_machine() -> str:
    return str(ray.get_runtime_context().get_node_id())


class ServedModel(ModelBackend):
    """A node host's handle on a model-server actor (this machine's, when it has one)."""

    kind = "served"
    is_local = True

    def __init__(self, name: str, servers: Mapping[str, str], machine: str) -> None:
        self.name = name
        # After node loss a restarted host may land on a machine without a server of its own.
        # Servers are found by actor name: names, unlike handles, are plain constructor
        # arguments that a restarted actor can always be rebuilt from.
        self._server = ray.get_actor(servers.get(machine) or next(iter(servers.values())))

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        try:
            outcome: Completion | BaseException = await self._server.complete.remote(
                list(messages), sampling
            )
        except RayActorError as exc:
            raise ModelUnavailable(
                f"the model server is unavailable: {type(exc).__name__}", model=self.name
            ) from None
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class NodeHostActor:
    """Hosts the team's nodes named in ``nodes``; executes batches of request envelopes.

    Construction never raises (Ray would report only that the actor died); a problem building
    a backend is kept and raised by :meth:`ready`, which the driver awaits once at start.
    """

    def __init__(
        self,
        spec: TeamSpec,
        nodes: Sequence[str],
        overrides: Mapping[str, ModelBackend],
        remote: Mapping[str, tuple[str, BaseModel]],
        servers: Mapping[str, Mapping[str, str]],
    ) -> None:
        self._machine = this_machine()
        self._workers: dict[str, NodeWorker] = {}
        self._backends: dict[str, ModelBackend] = {}
        self._owned: list[ModelBackend] = []
        self._running: dict[str, asyncio.Task[Envelope]] = {}
        self._error: BaseException | None = None
        self.executed = 0
        self.batches = 0
        try:
            for name in nodes:
                node = spec.node(name)
                backend = self._backend(spec.model_of(node), overrides, remote, servers)
                self._workers[name] = NodeWorker(
                    name, node.role, spec.system_prompt(node), spec.sampling(node), backend
                )
        except Exception as exc:
            self._error = exc

    def _backend(
        self,
        model: str,
        overrides: Mapping[str, ModelBackend],
        remote: Mapping[str, tuple[str, BaseModel]],
        servers: Mapping[str, Mapping[str, str]],
    ) -> ModelBackend:
        """The model's backend, built once and shared by the nodes on this actor."""
        backend = self._backends.get(model)
        if backend is None:
            if model in overrides:
                backend = overrides[model]
            elif model in servers:
                backend = ServedModel(model, servers[model], self._machine)
            else:
                kind, options = remote[model]
                try:
                    backend = create_backend(kind, options, model)
                except ConfigError as exc:
                    raise exc.under(f"models.{model}") from None
                self._owned.append(backend)
            self._backends[model] = backend
        return backend

    async def ready(self) -> dict[str, Any]:
        """Check every backend can serve; where this actor runs. Raises what setup raised."""
        if self._error is not None:
            raise self._error
        await asyncio.gather(*(check_backend_ready(m, b) for m, b in self._backends.items()))
        return {"pid": os.getpid(), "machine": self._machine, "nodes": len(self._workers)}

    async def handle(self, envelopes: list[Envelope]) -> AsyncIterator[list[Outcome]]:
        """Run every envelope concurrently; yield outcomes in groups as they finish.

        Closing the stream (the driver went away) cancels what is still running.
        """
        self.batches += 1
        done: list[Outcome] = []
        wake = asyncio.Event()
        tasks = [
            self._start(index, envelope, done, wake) for index, envelope in enumerate(envelopes)
        ]
        remaining = len(tasks)
        try:
            while remaining:
                await wake.wait()
                wake.clear()
                finished = done.copy()
                done.clear()
                remaining -= len(finished)
                yield finished
        finally:
            for task in tasks:
                task.cancel()

    def _start(
        self, index: int, envelope: Envelope, done: list[Outcome], wake: asyncio.Event
    ) -> asyncio.Task[Envelope]:
        task = asyncio.create_task(self._run(envelope))
        self._running[envelope.id] = task

        def finished(task: asyncio.Task[Envelope]) -> None:
            self._running.pop(envelope.id, None)
            outcome: Envelope | BaseException | None
            if task.cancelled():
                outcome = None
            else:
                error = task.exception()
                outcome = task.result() if error is None else portable(error)
            done.append((index, outcome))
            wake.set()

        task.add_done_callback(finished)
        return task

    async def _run(self, envelope: Envelope) -> Envelope:
        name = envelope.recipients[0]
        worker = self._workers.get(name)
        if worker is None:
            raise ModelUnavailable(f"node {name!r} is not hosted by this actor", node=name)
        current_node.set(name)  # the task's own context: scripted models see their node
        reply = await worker.handle(envelope)
        self.executed += 1
        return reply

    def cancel(self, ids: list[str]) -> None:
        """Abandon requests whose callers gave up (their timeout or cancellation)."""
        for envelope_id in ids:
            task = self._running.get(envelope_id)
            if task is not None:
                task.cancel()

    def statistics(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "machine": self._machine,
            "executed": self.executed,
            "batches": self.batches,
            "running": len(self._running),
        }

    async def aclose(self) -> None:
        for backend in self._owned:
            await backend.aclose()


class ModelServerActor:
    """One model engine for a whole machine, shared by the node hosts there."""

    def __init__(self, name: str, kind: str, options: dict[str, Any]) -> None:
        self._name = name
        self._error: LMTeamsError | None = None
        self._backend: ModelBackend | None = None
        try:
            self._backend = create_backend(kind, validate_options(kind, options), name)
        except ConfigError as exc:
            self._error = exc.under(f"models.{name}")
        except LMTeamsError as exc:
            self._error = exc
        self.calls = 0

    async def ready(self) -> dict[str, Any]:
        """Load the engine (raises what loading raised); where this server runs."""
        if self._error is not None:
            raise self._error
        assert self._backend is not None
        await check_backend_ready(self._name, self._backend)
        return {"pid": os.getpid(), "machine": this_machine()}

    async def complete(
        self, messages: list[ChatMessage], sampling: Sampling
    ) -> Completion | BaseException:
        assert self._backend is not None
        self.calls += 1
        try:
            return await self._backend.complete(messages, sampling)
        except Exception as exc:  # returned, not raised: Ray would wrap it in RayTaskError
            return portable(exc)

    def statistics(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "machine": this_machine(), "calls": self.calls}

    async def aclose(self) -> None:
        if self._backend is not None:
            await self._backend.aclose()


NodeHost = ray.remote(NodeHostActor)
ModelServer = ray.remote(ModelServerActor)
#: Async actors run many batches and model calls at once on one event loop per process.
MAX_CONCURRENCY = 100_000
