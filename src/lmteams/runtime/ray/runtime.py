"""The Ray runtime: nodes live in Ray actors across machines; the coordinator stays here.

What lives where:

* the driver (this process): the coordinator, the event log, each node's concurrency limit
  (backpressure happens here, exactly as in the local runtime) and the delivery bookkeeping;
* node-host actors: many nodes per async actor, placed by :mod:`.placement`;
* model-server actors: one per machine and embedded model, shared by that machine's nodes.

Requests addressed to one actor within one event-loop tick travel as one actor call carrying a
list of envelopes; replies stream back in groups as they finish (see :mod:`.actors`). When
an actor dies, requests in flight on it are resent to the restarted actor or failed as
:class:`~lmteams.errors.ModelUnavailable`, as :mod:`.recovery` decides.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import (
    ConfigError,
    InvalidRequest,
    LMTeamsError,
    ModelUnavailable,
    RuntimeClosed,
)
from lmteams.messages import Envelope
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import NodeSlots, NodeStats, Runtime
from lmteams.runtime.ray.cluster import (
    ClusterLease,
    cause_of,
    connect,
    first_line,
    machines,
    on_machine,
)
from lmteams.runtime.ray.models import model_homes
from lmteams.runtime.ray.placement import ActorPlan, NodeDemand, machines_for, plan_actors
from lmteams.runtime.ray.recovery import after_actor_loss, probe_delay_s
from lmteams.runtime.ray.settings import RaySettings
from lmteams.state.events import ActorEvent, ActorEventKind


@dataclass(slots=True)
class _Pending:
    envelope: Envelope
    future: asyncio.Future[Envelope]
    resent: int = 0
    sent: bool = False


@dataclass(slots=True)
class _Host:
    """The driver's view of one node-host actor."""

    plan: ActorPlan
    handle: Any
    outbox: list[_Pending] = field(default_factory=list)
    cancels: list[str] = field(default_factory=list)
    limbo: list[_Pending] = field(default_factory=list)
    recovering: bool = False
    dead: str | None = None
    losses: int = 0
    restarts: int = 0
    batches: int = 0


class RayRuntime(Runtime):
    """Delivers envelopes to nodes hosted in Ray actors; see the module docstring.

    ``address``: ``None`` (a private local cluster for this runtime, stopped by
    :meth:`aclose`), ``"auto"`` or ``"HOST:PORT"`` (join; the cluster keeps running). A process
    already connected to Ray keeps its connection. ``settings`` override the team's ``ray:``
    section; ``num_cpus`` sizes a local cluster.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        settings: RaySettings | None = None,
        num_cpus: int | None = None,
    ) -> None:
        self._address = address
        self._explicit_settings = settings
        self.settings = settings or RaySettings()
        self._num_cpus = num_cpus
        self._lease: ClusterLease | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: dict[str, NodeSlots[_Host]] = {}
        self._hosts: list[_Host] = []
        self._servers: dict[str, dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._dirty: set[int] = set()
        self._flush_scheduled = False
        self._closed = False
        self.plans: list[ActorPlan] = []
        self.resent = 0
        self._id = os.urandom(4).hex()  # names this runtime's named actors

    # -- start -------------------------------------------------------------------------------

    async def start(
        self, team: TeamSpec, backends: Mapping[str, ModelBackend] | None = None
    ) -> None:
        """Connect to Ray (or start it), place the nodes and wait until every actor serves.

        Blocks the event loop while a local cluster starts (a few seconds). Raises
        :class:`~lmteams.errors.ConfigError` for bad settings, an unreachable cluster, a model
        that cannot serve, or actors that cannot be placed within ``start_timeout_s``.
        """
        from lmteams.runtime.ray.actors import MAX_CONCURRENCY, ModelServer, NodeHost

        self._loop = asyncio.get_running_loop()
        settings = self._explicit_settings or team.ray or RaySettings()
        self.settings = settings
        roles = {node.role for node in team.nodes}
        for role in settings.roles:
            if role not in roles:
                raise ConfigError(
                    f"no node has role {role!r}; roles: {', '.join(sorted(roles))}",
                    field=f"ray.roles.{role}",
                )
        model_of = {node.name: team.model_of(node) for node in team.nodes}
        homes = model_homes(team, backends)

        self._lease = connect(self._address, num_cpus=self._num_cpus)
        self.plans = plan_actors(
            [NodeDemand(n.name, n.role, n.resources, i) for i, n in enumerate(team.nodes)],
            machines(),
            settings,
        )
        common = {
            "max_restarts": settings.max_restarts,
            "max_task_retries": 0,  # resending is ours to decide: see recovery
            "max_concurrency": MAX_CONCURRENCY,
        }
        server_names: dict[str, dict[str, str]] = {}
        for model, on in machines_for(self.plans, model_of, homes.served).items():
            kind, options = homes.served[model]
            server_names[model] = {m: f"lmteams-{self._id}-{model}-{m[:12]}" for m in on}
            self._servers[model] = {
                machine: ModelServer.options(
                    name=server_names[model][machine],
                    **on_machine(machine, {"CPU": settings.model_server_cpus}),
                    **common,
                ).remote(model, kind, options)
                for machine in on
            }
        # Arguments go by value, not ray.put: a restarted actor is rebuilt from them, and an
        # object-store reference could be gone by then.
        for plan in self.plans:
            handle = NodeHost.options(
                **on_machine(plan.machine, plan.resources),
                **common,
            ).remote(team, plan.nodes, homes.copied, homes.built, server_names)
            self._hosts.append(_Host(plan, handle))
        await self._wait_ready(settings.start_timeout_s)
        for host in self._hosts:
            for name in host.plan.nodes:
                node = team.node(name)
                self._slots[name] = NodeSlots(host, team.max_concurrent(node))

    async def _wait_ready(self, timeout_s: float) -> None:
        calls = [
            *(h.handle.ready.remote() for h in self._hosts),
            *(
                s.ready.remote()
                for by_machine in self._servers.values()
                for s in by_machine.values()
            ),
        ]
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.gather(*calls)
        except TimeoutError:
            raise ConfigError(
                f"the Ray actors did not start within {timeout_s:g} s: the cluster may lack "
                "the resources they reserve (see `ray status`)",
                field="ray.start_timeout_s",
            ) from None
        except Exception as exc:
            cause = cause_of(exc)
            if isinstance(cause, LMTeamsError):
                raise cause from None
            raise ConfigError(f"a Ray actor failed to start: {first_line(cause)}") from None

    # -- delivery ----------------------------------------------------------------------------

    async def request(self, envelope: Envelope) -> Envelope:
        self._check_open()
        name = envelope.recipients[0]
        slot = self._slots[name]
        await slot.take()
        host = slot.server
        pending = _Pending(envelope, self._loop.create_future())  # type: ignore[union-attr]
        try:
            if host.dead is not None:
                raise ModelUnavailable(f"the node's actor is gone: {host.dead}", node=name)
            host.outbox.append(pending)
            self._mark(host)
            reply = await pending.future
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                self._abandon(host, pending)
            slot.give_back(exc)
            raise
        slot.give_back(None)
        return reply

    def _abandon(self, host: _Host, pending: _Pending) -> None:
        for queue in (host.outbox, host.limbo):
            if pending in queue:
                queue.remove(pending)
                return
        if pending.sent:
            host.cancels.append(pending.envelope.id)
            self._mark(host)

    def _mark(self, host: _Host) -> None:
        self._dirty.add(host.plan.index)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)  # type: ignore[union-attr]

    def _flush(self) -> None:
        """Send each actor everything addressed to it this tick, as one call."""
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, set()
        for index in dirty:
            host = self._hosts[index]
            if host.recovering or self._closed:
                continue  # its outbox goes out once the actor is back
            if host.cancels:
                host.handle.cancel.remote(host.cancels)
                host.cancels = []
            if host.outbox:
                batch, host.outbox = host.outbox, []
                self._spawn(self._stream(host, batch))

    def _spawn(self, coroutine: Any) -> None:
        task = self._loop.create_task(coroutine)  # type: ignore[union-attr]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _stream(self, host: _Host, batch: list[_Pending]) -> None:
        from ray.exceptions import RayActorError

        open_ = dict(enumerate(batch))
        for pending in batch:
            pending.sent = True
        host.batches += 1
        try:
            stream = host.handle.handle.options(num_returns="streaming").remote(
                [p.envelope for p in batch]
            )
        except TypeError:  # Ray could not serialize the batch
            self._unserializable(host, batch)
            return
        try:
            async for ref in stream:
                for index, outcome in await ref:
                    _settle(open_.pop(index), outcome)
        except RayActorError as exc:
            self._lost(host, list(open_.values()), exc)
            return
        except asyncio.CancelledError:  # the runtime is closing
            for pending in open_.values():
                _settle(pending, RuntimeClosed("the runtime has been stopped"))
            raise
        except Exception as exc:
            error = f"{type(exc).__name__}: {first_line(cause_of(exc))}"
            for pending in open_.values():
                _settle(
                    pending,
                    ModelUnavailable(
                        f"the node's actor failed the batch: {error}",
                        node=pending.envelope.recipients[0],
                    ),
                )
            return
        for pending in open_.values():  # a stream that ended early: never expected
            _settle(pending, ModelUnavailable("no reply", node=pending.envelope.recipients[0]))

    def _unserializable(self, host: _Host, batch: list[_Pending]) -> None:
        """Fail the requests that cannot be pickled; send the rest of the batch again."""
        from ray import cloudpickle

        for pending in batch:
            try:
                cloudpickle.dumps(pending.envelope)  # type: ignore[no-untyped-call]
            except Exception as exc:
                node = pending.envelope.recipients[0]
                problem = f"the request cannot be sent to its actor: {first_line(exc)}"
                _settle(pending, InvalidRequest(problem, node=node))
            else:
                pending.sent = False
                host.outbox.append(pending)
        self._mark(host)

    # -- failure -----------------------------------------------------------------------------

    def _lost(self, host: _Host, in_flight: list[_Pending], exc: BaseException) -> None:
        """An actor call failed because the actor died or is unreachable: recover its work."""
        host.limbo.extend(p for p in in_flight if not p.future.done())
        if not host.recovering:
            host.losses += 1
            host.recovering = True
            self._report(
                "actor_lost",
                host,
                reason=first_line(exc),
                in_flight=len(host.limbo),
            )
            self._spawn(self._recover(host, first_line(exc)))

    async def _recover(self, host: _Host, reason: str) -> None:
        from ray.exceptions import ActorUnavailableError

        loop = asyncio.get_running_loop()
        restartable = True
        deadline = loop.time() + self.settings.start_timeout_s
        attempt = 0
        while True:
            try:
                await host.handle.ready.remote()
                break
            except ActorUnavailableError:  # restarting: Ray refuses calls until it is back
                if loop.time() > deadline:
                    restartable = False
                    break
                await asyncio.sleep(probe_delay_s(attempt))
                attempt += 1
            except Exception:  # dead for good, or it cannot serve after its restart
                restartable = False
                break
        host.recovering = False
        if restartable:
            host.restarts += 1
        else:
            host.dead = reason
        limbo, host.limbo = host.limbo, []
        resend: list[_Pending] = []
        failed = 0
        for pending in limbo:
            if pending.future.done():
                continue
            if after_actor_loss(pending.resent, self.settings, restartable=restartable) == (
                "resend"
            ):
                pending.resent += 1
                pending.sent = False
                self.resent += 1
                resend.append(pending)
            else:
                failed += 1
                node = pending.envelope.recipients[0]
                _settle(
                    pending,
                    ModelUnavailable(
                        f"the node's actor was lost with this request in flight ({reason})",
                        node=node,
                    ),
                )
        host.outbox[:0] = resend
        if restartable:
            self._report("actor_restarted", host, resent=len(resend), failed=failed)
        else:
            self._report("actor_dead", host, reason=reason, failed=failed + len(host.outbox))
        if host.dead is not None:
            waiting, host.outbox = host.outbox, []
            for pending in waiting:
                node = pending.envelope.recipients[0]
                _settle(pending, ModelUnavailable(f"the node's actor is gone: {reason}", node=node))
        self._mark(host)

    def _report(self, kind: ActorEventKind, host: _Host, **data: Any) -> None:
        if self.emit is not None:
            plan = host.plan
            actor = f"nodes-{plan.index}"
            self.emit(
                ActorEvent(
                    type=kind, actor=actor, machine=plan.machine, nodes=list(plan.nodes), **data
                ),
                None,
            )

    # -- the rest of the contract ------------------------------------------------------------

    async def aclose(self) -> None:
        """Kill this runtime's actors; stop or leave Ray as :class:`ClusterLease` says."""
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        closed = RuntimeClosed("the runtime has been stopped")
        for host in self._hosts:
            for pending in (*host.outbox, *host.limbo):
                _settle(pending, closed)
            host.outbox, host.limbo = [], []
        self.close_nowait()

    def close_nowait(self) -> None:
        """Kill this runtime's actors and release Ray now, without awaiting anything.

        :meth:`aclose` ends with this; call it directly only outside the event loop (teardown).
        """
        self._closed = True
        if self._lease is not None:
            import ray

            for host in self._hosts:
                ray.kill(host.handle, no_restart=True)
            for by_machine in self._servers.values():
                for server in by_machine.values():
                    ray.kill(server, no_restart=True)
            self._lease.release()
            self._lease = None

    def statistics(self) -> dict[str, NodeStats]:
        return {name: slot.stats for name, slot in self._slots.items()}

    def actor_of(self, node: str) -> Any:
        """The Ray handle of the actor hosting ``node`` (for tests and operators)."""
        return self._slots[node].server.handle

    async def actor_statistics(self) -> list[dict[str, Any]]:
        """Per actor: where it runs, its nodes, batches, losses, restarts, executed requests."""
        rows: list[dict[str, Any]] = []
        for host in self._hosts:
            row: dict[str, Any] = {
                "actor": f"nodes-{host.plan.index}",
                "group": host.plan.group,
                "nodes": len(host.plan.nodes),
                "batches": host.batches,
                "losses": host.losses,
                "restarts": host.restarts,
                "dead": host.dead,
            }
            if host.dead is None and not self._closed:
                row.update(await host.handle.statistics.remote())
            rows.append(row)
        for model, by_machine in self._servers.items():
            for server in by_machine.values():
                row = {"actor": f"model-{model}"}
                if not self._closed:
                    row.update(await server.statistics.remote())
                rows.append(row)
        return rows


def _settle(pending: _Pending, outcome: Envelope | BaseException | None) -> None:
    future = pending.future
    if future.done():
        return  # its caller gave up (cancelled or timed out)
    if outcome is None:
        outcome = ModelUnavailable("cancelled on the actor", node=pending.envelope.recipients[0])
    if isinstance(outcome, BaseException):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
