"""Embedding answers for similarity grouping, with a model the team file configures.

``consensus: {similarity: embedding, embedding_model: NAME}`` names a model of ``models:``: an
``embedded`` GGUF file is loaded a second time in llama.cpp's embedding mode (mean pooling),
and an ``openai`` endpoint is asked through its ``/embeddings`` route. Other backends cannot
embed, which is reported as a configuration error. A chat model's pooled hidden states are a
weak embedding (SmolLM2-135M's barely separate unrelated words); prefer a real embedding model.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError, InvalidRequest, ModelUnavailable

#: Texts in, one vector per text out.
Embedder = Callable[[Sequence[str]], Awaitable[list[list[float]]]]

_engines: dict[str, Any] = {}
_lock = threading.Lock()


def _embedding_server(path: str) -> Any:
    import xllamacpp  # the native library loads only when embeddings are asked for

    with _lock:
        server = _engines.get(path)
        if server is None:
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
            server = _engines[path] = xllamacpp.Server(params)
        return server


def embedded_embedder(options: dict[str, Any]) -> Embedder:
    from lmteams.models.embedded import EmbeddedOptions, resolve_key

    path = resolve_key(EmbeddedOptions.model_validate(options)).path

    def run(texts: Sequence[str]) -> list[list[float]]:
        result = dict(_embedding_server(path).handle_embeddings({"input": list(texts)}))
        if "error" in result:
            raise InvalidRequest(f"embedding failed: {result['error']}")
        rows = sorted(result["data"], key=lambda d: int(d.get("index", 0)))
        return [[float(x) for x in row["embedding"]] for row in rows]

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        return await asyncio.to_thread(run, texts)

    return embed


def openai_embedder(options: dict[str, Any], name: str) -> Embedder:
    import openai as openai_sdk

    base_url = (
        options.get("base_url")
        or os.environ.get("LMTEAMS_OPENAI_BASE_URL")
        or os.environ.get("OPENAI_BASE_URL")
    )
    if not base_url:
        raise ConfigError("no endpoint for the embedding model", field="embedding_model")
    key = options.get("api_key") or os.environ.get(options.get("api_key_env", "OPENAI_API_KEY"))
    model = options.get("model") or os.environ.get("LMTEAMS_OPENAI_MODEL") or name
    client = openai_sdk.AsyncOpenAI(
        base_url=base_url, api_key=str(key or "not-needed"), max_retries=0, timeout=60.0
    )

    async def embed(texts: Sequence[str]) -> list[list[float]]:
        try:
            response = await client.embeddings.create(model=model, input=list(texts))
        except openai_sdk.APIError as exc:  # never echo the key: only the class and status
            raise ModelUnavailable(f"embedding endpoint failed: {type(exc).__name__}") from None
        return [list(item.embedding) for item in response.data]

    return embed


def embedder_for(spec: TeamSpec, model_name: str) -> Embedder:
    """The embedder for a model of ``spec``; a clear ConfigError if it cannot embed."""
    if model_name not in spec.models:
        raise ConfigError(
            f"unknown model {model_name!r}; defined: {', '.join(spec.models)}",
            field="consensus.embedding_model",
        )
    model = spec.models[model_name]
    if model.backend == "embedded":
        return embedded_embedder(model.options)
    if model.backend == "openai":
        return openai_embedder(model.options, model_name)
    raise ConfigError(
        f"model {model_name!r} ({model.backend}) cannot embed; use an embedded or openai model",
        field="consensus.embedding_model",
    )
