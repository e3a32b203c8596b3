"""The Ray runtime end to end on a local Ray instance (see conftest: one per session)."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from lmteams.config import load_team, parse_team
from lmteams.errors import ConfigError, InvalidRequest, ModelUnavailable, RateLimited
from lmteams.messages import Envelope, Kind, Usage
from lmteams.models import base as model_base
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
from lmteams.runtime.local import LocalRuntime
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask, ask_team
from lmteams.team import Team
from lmteams.testing import scripted_team
from tests.runtime.conftest import comparable

pytestmark = pytest.mark.ray

RayRuntimeFactory = Callable[..., Any]


def by_node_and_prompt(call: ScriptedCall) -> str | ScriptedReply | BaseException:
    """Depends only on the node and the question: the same under any runtime."""
    node = call.node or "?"
    if node == "n4":
        return ModelUnavailable("n4 is down")
    if node == "n5":
        return RateLimited("slow down", retry_after_s=2.5)
    answer = 42 if node in ("n0", "n1", "n3", "n6") else 41
    return ScriptedReply(
        f"[{node}:{call.sampling.temperature}] {call.prompt} Answer: {answer}",
        completion_tokens=len(node) + len(call.prompt),
        token_logprobs=(-0.5, -0.25),
    )


def request(node: str, text: str = "hi") -> Envelope:
    return Envelope.make(
        run_id="r",
        sender="c",
        recipients=(node,),
        kind=Kind.REQUEST,
        payload={"messages": [{"role": "user", "content": text}]},
    )


def message_log(store: EventStore, run_id: str) -> list[str]:
    """A run's messages without ids and clocks, order-free (replies race under any runtime)."""
    rows = [json.dumps(comparable(e.data), sort_keys=True) for e in store.events(run_id)]
    return sorted(r for r in rows if '"kind": "re' in r)


async def test_ask_is_identical_under_local_and_ray(
    store: EventStore, ray_runtime: RayRuntimeFactory
) -> None:
    spec, backends = scripted_team(
        8, by_node_and_prompt, roles=["solver", "critic", "responder"], temperature=0.3
    )
    local = await ask(spec, "What is 6 x 7?", store, backends=backends)
    remote = await ask(spec, "What is 6 x 7?", store, backends=backends, runtime=ray_runtime())
    assert local.answer == "42" and local.support == 4
    assert [n.status for n in local.nodes].count("failed") == 2
    assert comparable(remote) == comparable(local)
    assert message_log(store, remote.run_id) == message_log(store, local.run_id)
    failures = [
        [(e.node, e.data["error"]) for e in store.events(r.run_id, types=["call_failed"])]
        for r in (local, remote)
    ]
    assert (
        sorted(failures[0])
        == sorted(failures[1])
        == [
            ("n4", "ModelUnavailable"),
            ("n5", "RateLimited"),
        ]
    )
    decisions = [
        comparable(store.events(r.run_id, types=["decision"])[0].data) for r in (local, remote)
    ]
    assert decisions[0] == decisions[1]


async def test_nodes_share_actors_and_each_actor_gets_one_batch_per_fan_out(
    store: EventStore, ray_runtime: RayRuntimeFactory
) -> None:
    spec, backends = scripted_team(64, lambda c: "Answer: 7", roles=["a", "b"])
    runtime = ray_runtime(actors_per_machine=3)
    async with Team(spec, store, kind="t", runtime=runtime, backends=backends) as team:
        assert [len(p.nodes) for p in runtime.plans] == [22, 21, 21]
        first = await ask_team(team, "q1")
        second = await ask_team(team, "q2")
        rows = await runtime.actor_statistics()
    assert first.answer == second.answer == "7" and first.valid_votes == 64
    assert [r["batches"] for r in rows] == [2, 2, 2]  # one actor call per actor per question
    assert sum(r["executed"] for r in rows) == 128
    assert len({r["pid"] for r in rows}) == 3


async def test_errors_cross_typed_with_the_node_named(ray_runtime: RayRuntimeFactory) -> None:
    def script(call: ScriptedCall) -> str | BaseException:
        return {
            "rate": RateLimited("busy", retry_after_s=1.5),
            "bug": KeyError("no such thing"),
        }.get(call.prompt, "ok")

    spec, backends = scripted_team(2, script)
    runtime = ray_runtime(actors_per_machine=1)
    await runtime.start(spec, backends)
    assert [p.nodes for p in runtime.plans] == [("n0", "n1")]
    with pytest.raises(RateLimited) as info:
        await runtime.request(request("n1", "rate"))
    assert info.value.retry_after_s == 1.5 and info.value.node == "n1"
    with pytest.raises(KeyError):  # a bug in a script surfaces as itself, as it does locally
        await runtime.request(request("n0", "bug"))
    unsendable = request("n1")
    unsendable.payload["meta"] = {"lock": threading.Lock()}
    one, two = await asyncio.gather(
        runtime.request(unsendable), runtime.request(request("n0")), return_exceptions=True
    )
    assert isinstance(one, InvalidRequest) and one.node == "n1"  # the bad one alone fails
    reply = two
    assert isinstance(reply, Envelope)
    assert reply.payload["text"] == "ok" and reply.sender == "n0" and reply.kind is Kind.REPLY
    stats = runtime.statistics()
    assert (stats["n1"].failed, stats["n0"].completed) == (2, 1)
    await runtime.aclose()


async def test_backpressure_and_cancellation(ray_runtime: RayRuntimeFactory) -> None:
    spec, backends = scripted_team(
        1,
        lambda c: ScriptedReply("x", latency_s=30.0 if c.prompt == "slow" else 0.2),
        max_concurrent=2,
    )
    runtime = ray_runtime()
    await runtime.start(spec, backends)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, runtime.statistics()["n0"].in_flight)
            await asyncio.sleep(0.02)

    watcher = asyncio.ensure_future(watch())
    await asyncio.gather(*(runtime.request(request("n0")) for _ in range(6)))
    watcher.cancel()
    assert peak == 2 and runtime.statistics()["n0"].completed == 6

    slow = asyncio.ensure_future(runtime.request(request("n0", "slow")))
    await asyncio.sleep(0.5)
    slow.cancel()
    with pytest.raises(asyncio.CancelledError):
        await slow
    assert runtime.statistics()["n0"].in_flight == 0
    for _ in range(100):  # the cancel reaches the actor, which drops the call
        (row,) = await runtime.actor_statistics()
        if row["running"] == 0:
            break
        await asyncio.sleep(0.05)
    assert row["running"] == 0
    await runtime.aclose()


class Counter:
    """Counts model executions across processes (a Ray actor in these tests)."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []

    def start(self, node: str) -> None:
        self.started.append(node)

    def finish(self, node: str) -> None:
        self.finished.append(node)

    def counts(self) -> tuple[list[str], list[str]]:
        return self.started, self.finished

    def first_time(self, node: str) -> bool:
        return self.started.count(node) == 1


class CountingModel(ModelBackend):
    """Reports each call's start and completion to a counter actor; takes ``latency_s``."""

    kind = "counting"

    def __init__(self, counter: Any, latency_s: float) -> None:
        self.counter = counter
        self.latency_s = latency_s
        self.name = "counting"

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        # Through the module: test code travels to the actors by value, a ContextVar cannot.
        node = model_base.current_node.get() or "?"
        await self.counter.start.remote(node)
        await asyncio.sleep(self.latency_s)
        await self.counter.finish.remote(node)
        return Completion("Answer: 42", Usage(3, 2), self.latency_s, model=self.name)


class CrashingModel(CountingModel):
    """Kills its own process on ``node``'s first call, like a segfault in a native engine."""

    def __init__(self, counter: Any, node: str) -> None:
        super().__init__(counter, latency_s=0.0)
        self.node = node

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        node = model_base.current_node.get() or "?"
        if node == self.node:
            await self.counter.start.remote(node)
            if await self.counter.first_time.remote(node):
                os._exit(1)
            await self.counter.finish.remote(node)
            return Completion("Answer: 42", Usage(3, 2), 0.0, model=self.name)
        return await super().complete(messages, sampling)


@pytest.fixture
def counter(ray_cluster: None) -> Any:
    import ray

    handle = ray.remote(Counter).options(num_cpus=0).remote()
    yield handle
    ray.kill(handle)


async def wait_started(counter: Any, count: int) -> None:
    for _ in range(1200):
        if len((await counter.counts.remote())[0]) >= count:
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"fewer than {count} calls started within a minute")


async def test_killing_a_node_actor_mid_run_runs_every_request_once(
    store: EventStore, ray_runtime: RayRuntimeFactory, counter: Any
) -> None:
    import ray

    spec, _ = scripted_team(8, None)
    runtime = ray_runtime(actors_per_machine=2)
    backends = {"scripted": CountingModel(counter, latency_s=1.5)}
    run = asyncio.ensure_future(ask(spec, "q", store, backends=backends, runtime=runtime))
    await wait_started(counter, 8)  # every request is running on its actor
    victims = next(p.nodes for p in runtime.plans if "n0" in p.nodes)
    ray.kill(runtime.actor_of("n0"), no_restart=False)
    result = await run

    assert [n.status for n in result.nodes] == ["done"] * 8 and result.answer == "42"
    started, finished = await counter.counts.remote()
    assert sorted(finished) == sorted(spec.node_names)  # each node's call completed once
    assert sorted(started) == sorted([*spec.node_names, *victims])  # cut calls ran again
    assert runtime.resent == len(victims) == 4
    rows = await runtime.actor_statistics()  # after the run: what the driver saw
    assert sorted((r["losses"], r["restarts"]) for r in rows) == [(0, 0), (1, 1)]
    kinds = [e.data["kind"] for e in store.events(result.run_id, types=["message"])]
    assert kinds.count("request") == kinds.count("reply") == 8  # each logged exactly once
    assert store.events(result.run_id, types=["call_failed"]) == []


async def test_a_crashed_actor_is_restarted_and_its_requests_resent(
    store: EventStore, ray_runtime: RayRuntimeFactory, counter: Any
) -> None:
    spec, _ = scripted_team(4, None)
    runtime = ray_runtime(actors_per_machine=2)
    backends = {"scripted": CrashingModel(counter, "n0")}
    result = await ask(spec, "q", store, backends=backends, runtime=runtime)
    assert [n.status for n in result.nodes] == ["done"] * 4
    started, finished = await counter.counts.remote()
    assert started.count("n0") == 2 and set(finished) == set(spec.node_names)
    # A neighbour on the crashed actor may have finished with its reply still inside the dead
    # process: it ran twice at the model (at least once), and is logged once (exactly once).
    assert runtime.resent >= 1
    kinds = [e.data["kind"] for e in store.events(result.run_id, types=["message"])]
    assert kinds.count("request") == kinds.count("reply") == 4
    assert store.events(result.run_id, types=["call_failed"]) == []


async def test_keyed_call_resent_after_actor_loss_is_committed_once_and_replayed(
    store: EventStore, ray_runtime: RayRuntimeFactory, counter: Any
) -> None:
    import ray

    spec, _ = scripted_team(2, None)
    runtime = ray_runtime()
    backends = {"scripted": CountingModel(counter, latency_s=1.0)}
    async with Team(spec, store, kind="t", runtime=runtime, backends=backends) as team:
        call = asyncio.ensure_future(team.call("n0", "q", key="task-1/attempt-0"))
        await wait_started(counter, 1)
        ray.kill(runtime.actor_of("n0"), no_restart=False)
        reply = await call
    assert reply.text == "Answer: 42" and runtime.resent == 1
    assert len(store.call_results(team.run_id)) == 1

    never = ScriptedBackend(lambda c: ModelUnavailable("must not be called"))
    resumed = Team(
        spec,
        store,
        kind="t",
        runtime=LocalRuntime(),
        backends={"scripted": never},
        run_id=team.run_id,
        resume=True,
    )
    async with resumed:
        replay = await resumed.call("n0", "q", key="task-1/attempt-0")
    assert replay == reply and resumed.replayed == 1 and never.calls == 0


async def test_at_most_once_and_dead_for_good_surface_model_unavailable(
    store: EventStore, ray_runtime: RayRuntimeFactory, counter: Any
) -> None:
    import ray

    spec, _ = scripted_team(4, None)
    runtime = ray_runtime(actors_per_machine=2, max_restarts=1, resend_in_flight=0)
    backends = {"scripted": CountingModel(counter, latency_s=1.0)}
    async with Team(spec, store, kind="t", runtime=runtime, backends=backends) as team:
        victims = next(p.nodes for p in runtime.plans if "n0" in p.nodes)
        run = asyncio.ensure_future(ask_team(team, "q"))
        await wait_started(counter, 4)
        ray.kill(runtime.actor_of("n0"), no_restart=False)
        first = await run
        failed = {n.node: n.error for n in first.nodes if n.status == "failed"}
        assert sorted(failed) == sorted(victims)
        assert all("ModelUnavailable" in (e or "") and "lost" in (e or "") for e in failed.values())

        second = await ask_team(team, "again")  # restarted: the actor serves again
        assert all(n.status == "done" for n in second.nodes)

        ray.kill(runtime.actor_of("n0"), no_restart=False)  # no restarts left: dead for good
        third = await ask_team(team, "once more")
        gone = {n.node for n in third.nodes if n.status == "failed"}
        assert gone == set(victims)
        assert all(n.status == "done" for n in third.nodes if n.node not in victims)
        with pytest.raises(ModelUnavailable, match="gone"):
            await team.call(victims[0], "still there?")


async def test_configuration_errors_name_the_field(ray_runtime: RayRuntimeFactory) -> None:
    spec, backends = scripted_team(2, lambda c: "x", roles=["solver"])
    with pytest.raises(ConfigError) as info:
        await ray_runtime(roles={"judge": {}}).start(spec, backends)
    assert info.value.field == "ray.roles.judge"

    with pytest.raises(ConfigError) as info:
        await ray_runtime(roles={"solver": {"resources": {"GPU": 1}}}).start(spec, backends)
    assert info.value.field == "ray.roles.solver.resources" and "GPU: 1" in str(info.value)

    remote_team = parse_team(
        {
            "models": {"api": {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"}},
            "nodes": [{"name": "a"}],
        },
        source="t",
    )
    with pytest.raises(ConfigError) as info:  # raised in the actor, reported as locally
        await ray_runtime().start(remote_team)
    assert info.value.field == "models.api.base_url" and "cannot reach" in str(info.value)


@pytest.mark.model
async def test_embedded_model_is_served_by_one_model_server_actor(
    store: EventStore, ray_runtime: RayRuntimeFactory
) -> None:
    spec = load_team(None)
    spec = spec.model_copy(update={"defaults": spec.defaults.model_copy(update={"max_tokens": 12})})
    runtime = ray_runtime(actors_per_machine=2)
    async with Team(spec, store, kind="t", runtime=runtime) as team:
        result = await ask_team(team, "What is 2 + 2?")
        rows = await runtime.actor_statistics()
    assert all(n.status == "done" and n.completion_tokens > 0 for n in result.nodes)
    servers = [r for r in rows if r["actor"].startswith("model-")]
    hosts = [r for r in rows if r["actor"].startswith("nodes-")]
    assert len(servers) == 1 and servers[0]["calls"] == 3  # one engine for the machine
    assert len(hosts) == 2 and servers[0]["pid"] not in {h["pid"] for h in hosts}
