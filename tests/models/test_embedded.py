"""The embedded SmolLM2 model, for real (a few seconds in total)."""

from __future__ import annotations

import asyncio

import pytest

from lmteams.errors import ConfigError, InvalidRequest
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.embedded import (
    EmbeddedBackend,
    EmbeddedOptions,
    default_model_path,
    parse_chat_response,
    resolve_key,
    shared_engine,
)

pytestmark = pytest.mark.model


def test_default_model_file_is_found_through_metadata() -> None:
    path = default_model_path()
    assert path.name.endswith(".gguf")
    assert path.stat().st_size > 50_000_000


def test_missing_model_file_is_a_config_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="model file not found"):
        EmbeddedBackend(EmbeddedOptions(path=str(tmp_path / "none.gguf")))


async def test_completes_with_usage_latency_and_finish_reason() -> None:
    backend = EmbeddedBackend(EmbeddedOptions(n_parallel=4, ctx_per_slot=1024))
    completion = await backend.complete(
        [ChatMessage("user", "What is the capital of France? Answer in one word.")],
        Sampling(temperature=0.0, max_tokens=16, seed=1),
    )
    assert "paris" in completion.text.lower()
    assert completion.usage.prompt_tokens > 5
    assert 0 < completion.usage.completion_tokens <= 16
    assert completion.latency_s > 0
    assert completion.finish_reason in ("stop", "length")


async def test_logprobs_and_length_limit() -> None:
    backend = EmbeddedBackend(EmbeddedOptions(n_parallel=4, ctx_per_slot=1024))
    completion = await backend.complete(
        [ChatMessage("user", "Count from one to fifty in words.")],
        Sampling(temperature=0.0, max_tokens=5, logprobs=True),
    )
    assert completion.finish_reason == "length"
    assert completion.token_logprobs is not None
    assert len(completion.token_logprobs) == completion.usage.completion_tokens
    assert all(lp <= 0.0 for lp in completion.token_logprobs)


async def test_nodes_naming_the_same_model_share_one_engine_and_run_concurrently() -> None:
    options = EmbeddedOptions(n_parallel=4, ctx_per_slot=1024)
    a, b = EmbeddedBackend(options, name="a"), EmbeddedBackend(options, name="b")
    assert a.engine is b.engine is shared_engine(resolve_key(options))
    before = a.engine.calls
    chats = [[ChatMessage("user", f"Say the number {i}.")] for i in range(4)]
    results = await asyncio.gather(
        *(
            (a if i % 2 else b).complete(chat, Sampling(temperature=0.0, max_tokens=8))
            for i, chat in enumerate(chats)
        )
    )
    assert len(results) == 4
    assert a.engine.calls == before + 4


async def test_context_overflow_is_an_invalid_request() -> None:
    backend = EmbeddedBackend(EmbeddedOptions(n_parallel=1, ctx_per_slot=256))
    with pytest.raises(InvalidRequest, match="context"):
        await backend.complete([ChatMessage("user", "word " * 1000)], Sampling(max_tokens=4))


def test_engine_error_objects_are_translated() -> None:
    with pytest.raises(InvalidRequest):
        parse_chat_response({"error": {"code": 400, "message": "bad"}}, "m", 0.1)
    from lmteams.errors import BadOutput, ModelUnavailable

    with pytest.raises(ModelUnavailable):
        parse_chat_response({"error": {"code": 503, "message": "busy"}}, "m", 0.1)
    with pytest.raises(BadOutput):
        parse_chat_response({"choices": []}, "m", 0.1)


def test_prompt_ram_cache_is_bounded_by_default() -> None:
    # llama.cpp's own default (8 GiB of cached prompt states) grew a long run's memory without
    # visible bound; each engine is now capped, and a team file can set it (0 turns it off).
    assert resolve_key(EmbeddedOptions()).cache_ram_mib == 256
    assert resolve_key(EmbeddedOptions(cache_ram_mib=0)).cache_ram_mib == 0
