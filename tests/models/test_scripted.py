from __future__ import annotations

import asyncio

import pytest

from lmteams.errors import ConfigError, ModelTimeout, ModelUnavailable
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.scripted import ScriptedBackend, ScriptedOptions, ScriptedReply
from lmteams.runtime.clock import VirtualClock

CHAT = [ChatMessage("user", "What is 2 + 2?")]


async def test_table_answers_by_substring() -> None:
    backend = ScriptedBackend(options=ScriptedOptions(answers={"2 + 2": "Answer: 4"}, default="?"))
    completion = await backend.complete(CHAT, Sampling())
    assert completion.text == "Answer: 4"
    assert completion.usage.completion_tokens > 0
    assert completion.usage.prompt_tokens > 0
    other = await backend.complete([ChatMessage("user", "hello")], Sampling())
    assert other.text == "?"
    assert backend.calls == 2


async def test_callable_sees_call_index_and_prompt() -> None:
    seen = []

    def script(call):  # type: ignore[no-untyped-def]
        seen.append((call.index, call.prompt))
        return f"reply {call.index}"

    backend = ScriptedBackend(script)
    assert (await backend.complete(CHAT, Sampling())).text == "reply 0"
    assert (await backend.complete(CHAT, Sampling())).text == "reply 1"
    assert seen == [(0, "What is 2 + 2?"), (1, "What is 2 + 2?")]


async def test_script_can_raise_typed_errors() -> None:
    backend = ScriptedBackend(lambda call: ModelTimeout("slow"))
    with pytest.raises(ModelTimeout):
        await backend.complete(CHAT, Sampling())


async def test_latency_runs_in_virtual_time() -> None:
    backend = ScriptedBackend(lambda call: ScriptedReply("ok", latency_s=30.0))
    with VirtualClock() as clock:
        start = clock.time()
        completion = await backend.complete(CHAT, Sampling())
        assert clock.time() - start == pytest.approx(30.0)
    assert completion.latency_s == 30.0


async def test_concurrent_latencies_overlap_in_virtual_time() -> None:
    backend = ScriptedBackend(lambda call: "x", latency_s=5.0)
    with VirtualClock() as clock:
        await asyncio.gather(*(backend.complete(CHAT, Sampling()) for _ in range(10)))
        assert clock.time() == pytest.approx(5.0)


async def test_error_rate_is_seeded_and_deterministic() -> None:
    async def failures(seed: int) -> list[bool]:
        backend = ScriptedBackend(options=ScriptedOptions(error_rate=0.5, seed=seed))
        out = []
        for _ in range(20):
            try:
                await backend.complete(CHAT, Sampling())
                out.append(False)
            except ModelUnavailable:
                out.append(True)
        return out

    first = await failures(3)
    assert first == await failures(3)
    assert 3 < sum(first) < 17


def test_unknown_error_kind_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown error"):
        ScriptedBackend(options=ScriptedOptions(error="gremlins"))


def test_script_reference_must_resolve() -> None:
    with pytest.raises(ConfigError, match="cannot load script"):
        ScriptedBackend(options=ScriptedOptions(script="lmteams.nothing:here"))
    with pytest.raises(ConfigError, match="module:function"):
        ScriptedBackend(options=ScriptedOptions(script="no_colon"))
