"""Fault injection at the runtime's edge, through a Team, in virtual time."""

from __future__ import annotations

import asyncio

import pytest

from lmteams.errors import ModelUnavailable, RateLimited
from lmteams.faults.config import FaultRule, FaultsSpec
from lmteams.faults.injection.injector import FaultInjectingRuntime
from lmteams.faults.validation import OutputRules, problem
from lmteams.models.scripted import ScriptedBackend, ScriptedCall
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.testing import VirtualClock, scripted_team


def faulty(
    rules: dict[str, FaultRule], *, n: int = 2, latency_s: float = 1.0, answer: str = "Answer: 42"
) -> tuple[Team, ScriptedBackend, EventStore]:
    spec, backends = scripted_team(n, lambda c: answer, latency_s=latency_s)
    spec = spec.model_copy(update={"faults": FaultsSpec(seed=1, nodes=rules)})
    store = EventStore(":memory:")
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend)
    return Team(spec, store, kind="test", backends=backends), backend, store


async def test_a_crashed_node_refuses_calls_and_the_crash_is_an_event() -> None:
    team, backend, store = faulty({"n0": FaultRule(crash_after=2)})
    with VirtualClock():
        async with team:
            assert isinstance(team.runtime, FaultInjectingRuntime)
            await team.call("n0", "q")
            await team.call("n0", "q")
            with pytest.raises(ModelUnavailable, match="crashed"):
                await team.call("n0", "q")
            assert (await team.call("n1", "q")).text == "Answer: 42"  # others are unaffected
    assert backend.calls == 3
    [crash] = store.events(team.run_id, types=["fault_injected"])
    assert crash.node == "n0" and crash.data["fault"] == "crash" and crash.data["after_calls"] == 2


async def test_calls_in_flight_fail_when_their_node_crashes() -> None:
    spec, backends = scripted_team(
        1, lambda c: "ok", latency_s=lambda c: 1.0 if c.index == 0 else 5.0
    )
    spec = spec.model_copy(update={"faults": FaultsSpec(nodes={"n0": FaultRule(crash_after=1)})})
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with Team(spec, EventStore(":memory:"), kind="test", backends=backends) as team:
            first = asyncio.ensure_future(team.call("n0", "a"))
            await asyncio.sleep(0)
            others = [asyncio.ensure_future(team.call("n0", x)) for x in "bc"]
            assert (await first).text == "ok"
            for other in others:
                with pytest.raises(ModelUnavailable, match="crashed during the call"):
                    await other
            assert loop.time() == pytest.approx(1.0)


async def test_a_straggler_is_slower_by_its_factor() -> None:
    team, _, _ = faulty({"n0": FaultRule(slow=10)}, latency_s=0.5)
    with VirtualClock():
        loop = asyncio.get_running_loop()
        async with team:
            start = loop.time()
            await team.call("n1", "q")
            assert loop.time() - start == pytest.approx(0.5)
            start = loop.time()
            await team.call("n0", "q")
            assert loop.time() - start == pytest.approx(5.0)


async def test_error_rate_raises_the_configured_error() -> None:
    rule = FaultRule(error_rate=1.0, error="rate_limited", retry_after_s=3)
    team, backend, store = faulty({"n0": rule})
    with VirtualClock():
        async with team:
            with pytest.raises(RateLimited) as info:
                await team.call("n0", "q")
    assert info.value.retry_after_s == 3 and backend.calls == 0
    assert [e.data["fault"] for e in store.events(team.run_id, types=["fault_injected"])] == [
        "error"
    ]


async def test_some_errors_at_a_fractional_rate() -> None:
    team, _, _ = faulty({"n0": FaultRule(error_rate=0.5)}, latency_s=0)
    failures = 0
    async with team:
        for _ in range(100):
            try:
                await team.call("n0", "q")
            except ModelUnavailable:
                failures += 1
    assert 25 < failures < 75


async def test_garbage_and_byzantine_replies() -> None:
    team, _, store = faulty(
        {"n0": FaultRule(garbage_rate=1.0), "n1": FaultRule(byzantine_rate=1.0)},
        answer="7 + 35 = 42. Answer: 42",
    )
    with VirtualClock():
        async with team:
            rules = OutputRules(regex=r"Answer: \d+")
            garbage = [(await team.call("n0", f"q{i}")).text for i in range(5)]
            assert all(problem(text, rules) is not None for text in garbage)
            lie = (await team.call("n1", "q")).text
    assert lie.startswith("7 + 35 = 42. Answer: ") and lie != "7 + 35 = 42. Answer: 42"
    assert problem(lie, rules) is None  # plausible: it passes the format check
    kinds = [e.data["fault"] for e in store.events(team.run_id, types=["fault_injected"])]
    assert kinds == ["garbage"] * 5 + ["byzantine"]


async def test_colluding_byzantine_nodes_agree_on_a_wrong_answer() -> None:
    rule = FaultRule(byzantine_rate=1.0, wrong_answer="41")
    team, _, _ = faulty({"role:generalist": rule}, answer="Answer: 42")
    with VirtualClock():
        async with team:
            texts = {(await team.call(n, "q")).text for n in ("n0", "n1")}
    assert texts == {"Answer: 41"}


async def test_a_hung_node_never_answers() -> None:
    team, backend, _ = faulty({"n0": FaultRule(crash_after=0, crash_mode="hang")})
    with VirtualClock():
        async with team:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(100):
                    await team.call("n0", "q")
    assert backend.calls == 0


def script_for_inject(call: ScriptedCall) -> str:
    return "Answer: 1"


async def test_rules_without_effect_leave_the_runtime_alone() -> None:
    spec, backends = scripted_team(1, script_for_inject)
    spec = spec.model_copy(update={"faults": FaultsSpec(nodes={"n0": FaultRule()})})
    team = Team(spec, EventStore(":memory:"), kind="test", backends=backends)
    assert not isinstance(team.runtime, FaultInjectingRuntime)
