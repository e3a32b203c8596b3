from __future__ import annotations

import asyncio

import pytest

from lmteams.config import ModelSpec, NodeSpec, TeamSpec
from lmteams.errors import ConfigError, ModelUnavailable, RuntimeClosed
from lmteams.messages import Envelope, Kind
from lmteams.models.scripted import ScriptedBackend, ScriptedReply
from lmteams.runtime.clock import VirtualClock
from lmteams.runtime.local import LocalRuntime
from lmteams.testing import scripted_team


def request(node: str, text: str = "hi") -> Envelope:
    return Envelope.make(
        run_id="r",
        sender="c",
        recipients=(node,),
        kind=Kind.REQUEST,
        payload={"messages": [{"role": "user", "content": text}]},
    )


async def test_delivers_to_the_named_node_with_its_system_prompt() -> None:
    seen = []

    def script(call):  # type: ignore[no-untyped-def]
        seen.append((call.node, call.messages[0].role, call.messages[0].content))
        return f"from {call.node}"

    spec, backends = scripted_team(2, script, system_prompt="be terse")
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    reply = await runtime.request(request("n1"))
    assert reply.payload["text"] == "from n1"
    assert reply.sender == "n1" and reply.kind is Kind.REPLY
    assert seen == [("n1", "system", "be terse")]
    await runtime.aclose()


async def test_per_node_concurrency_limit_is_backpressure() -> None:
    spec, backends = scripted_team(1, lambda c: "x", max_concurrent=2, latency_s=1.0)
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            stats = runtime.statistics()["n0"]
            peak = max(peak, stats.in_flight)
            await asyncio.sleep(0.1)

    with VirtualClock() as clock:
        watcher = asyncio.ensure_future(watch())
        await asyncio.gather(*(runtime.request(request("n0")) for _ in range(6)))
        watcher.cancel()
        elapsed = clock.time()
    assert peak == 2
    assert elapsed == pytest.approx(3.0)  # 6 calls, 2 at a time, 1 s each
    assert runtime.statistics()["n0"].completed == 6
    await runtime.aclose()


async def test_cancellation_frees_the_slot() -> None:
    spec, backends = scripted_team(1, lambda c: "x", max_concurrent=1, latency_s=100.0)
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    with VirtualClock():
        task = asyncio.ensure_future(runtime.request(request("n0")))
        await asyncio.sleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert runtime.statistics()["n0"].in_flight == 0
        backends["scripted"]._latency = 0.0  # type: ignore[attr-defined]
        reply = await asyncio.wait_for(runtime.request(request("n0")), timeout=5)
    assert reply.payload["text"] == "x"


async def test_failures_are_typed_counted_and_name_the_node() -> None:
    spec, backends = scripted_team(1, lambda c: ModelUnavailable("down"))
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    with pytest.raises(ModelUnavailable) as info:
        await runtime.request(request("n0"))
    assert info.value.node == "n0"
    assert runtime.statistics()["n0"].failed == 1


async def test_closed_runtime_refuses_work() -> None:
    spec, backends = scripted_team(1, lambda c: "x")
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    await runtime.aclose()
    with pytest.raises(RuntimeClosed):
        await runtime.request(request("n0"))


async def test_sampling_overrides_from_the_request() -> None:
    seen = []
    spec, backends = scripted_team(1, lambda c: seen.append(c.sampling) or ScriptedReply("x"))
    runtime = LocalRuntime()
    await runtime.start(spec, backends)
    env = Envelope.make(
        run_id="r",
        sender="c",
        recipients=("n0",),
        kind=Kind.REQUEST,
        payload={
            "messages": [{"role": "user", "content": "q"}],
            "sampling": {"max_tokens": 7, "stop": ["\n"]},
        },
    )
    await runtime.request(env)
    assert seen[0].max_tokens == 7 and seen[0].stop == ("\n",)


class _NotReady(ScriptedBackend):
    async def check_ready(self) -> None:
        raise ConfigError("no such file", field="path")


@pytest.mark.parametrize("models", [["only"], ["fine", "broken"]])
async def test_a_model_that_cannot_start_is_named_in_the_error(models: list[str]) -> None:
    # One model is checked directly, several at once; either way the error names its field.
    spec = TeamSpec(
        name="t",
        models={m: ModelSpec(backend="scripted") for m in models},
        nodes=[NodeSpec(name=f"n-{m}", model=m) for m in models],
    )
    broken = models[-1]
    backends = {m: _NotReady() if m == broken else ScriptedBackend() for m in models}
    with pytest.raises(ConfigError) as caught:
        await LocalRuntime().start(spec, backends)
    assert caught.value.field == f"models.{broken}.path"
    assert "no such file" in str(caught.value)
