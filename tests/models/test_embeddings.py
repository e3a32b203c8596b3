"""Embedding through the backend interface: which backends can, the team's embedding backend,
and engines closed with the backends that hold them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import httpx2 as httpx
import openai as openai_sdk
import pytest

from lmteams.config import parse_team
from lmteams.errors import AuthenticationFailed, ConfigError, InvalidRequest
from lmteams.models import embedded
from lmteams.models.base import Completion, ModelBackend, Sampling
from lmteams.models.embedded import EmbeddedBackend, EmbeddedOptions
from lmteams.models.embeddings import open_embedding_backend
from lmteams.models.openai import OpenAIBackend, OpenAIOptions
from lmteams.models.scripted import ScriptedBackend, ScriptedOptions, bag_of_words
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.team import Team

TEAM: dict[str, Any] = {
    "models": {
        "s": {"backend": "scripted"},
        "p": {"backend": "python"},
        "o": {"backend": "openai", "check_on_start": False},
        "e": {"backend": "embedded"},
    },
    "nodes": [{"name": "a", "model": "s"}],
}


async def test_a_model_whose_backend_cannot_embed_is_a_config_error() -> None:
    spec = parse_team(TEAM, source="t")
    with pytest.raises(ConfigError, match="'p' \\(python\\) cannot embed") as caught:
        await open_embedding_backend(spec, "p")
    assert caught.value.field == "consensus.embedding_model"
    with pytest.raises(ConfigError, match="unknown model 'x'; defined: s, p, o, e"):
        await open_embedding_backend(spec, "x")


async def test_an_openai_embedding_model_needs_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMTEAMS_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    spec = parse_team(TEAM, source="t")
    with pytest.raises(ConfigError, match="no endpoint") as caught:
        await open_embedding_backend(spec, "o")
    assert caught.value.field == "models.o.base_url"


class _Plain(ModelBackend):
    kind = "plain"

    async def complete(self, messages: Any, sampling: Sampling) -> Completion:
        raise AssertionError("not called")


async def test_the_default_embed_says_the_backend_cannot() -> None:
    with pytest.raises(InvalidRequest, match="the plain backend cannot embed"):
        await _Plain().embed(["x"])
    spec = parse_team(TEAM, source="t")
    with pytest.raises(ConfigError, match="'s' \\(plain\\) cannot embed"):
        await open_embedding_backend(spec, "s", {"s": _Plain()})


async def test_scripted_vectors_come_from_its_table_else_a_bag_of_words() -> None:
    backend = ScriptedBackend(options=ScriptedOptions(embeddings={"x": [1.0, 2.0]}))
    vectors = await backend.embed(["x", "new york", "New York!"])
    assert vectors[0] == [1.0, 2.0]
    assert vectors[1] == vectors[2] == bag_of_words("york new") != bag_of_words("boston")
    assert sum(vectors[1]) == 2 and backend.embedded == [["x", "new york", "New York!"]]


def _grouping_team(embeddings: dict[str, list[float]]) -> dict[str, Any]:
    return {
        "models": {
            "chat": {"backend": "scripted"},
            "vectors": {"backend": "scripted", "embeddings": embeddings},
        },
        "nodes": [{"name": n, "model": "chat"} for n in ("n0", "n1", "n2")],
        "consensus": {"similarity": "embedding", "embedding_model": "vectors"},
    }


async def test_the_team_embeds_with_its_model_and_closes_the_backend_it_opened(
    monkeypatch: pytest.MonkeyPatch, store: EventStore
) -> None:
    closed: list[str] = []

    async def aclose(self: ScriptedBackend) -> None:
        closed.append(self.name)

    monkeypatch.setattr(ScriptedBackend, "aclose", aclose)
    table = {"big apple": [1.0, 0.0], "new york": [0.99, 0.05], "boston": [0.0, 1.0]}
    spec = parse_team(_grouping_team(table), source="t")
    replies = {"n0": "Answer: the big apple", "n1": "Answer: boston", "n2": "Answer: new york"}
    chat = ScriptedBackend(lambda call: replies[call.node or ""], name="chat")
    result = await ask(spec, "Which city?", store, backends={"chat": chat})
    assert result.support == 2 and result.answer in ("the big apple", "new york")
    assert closed == ["vectors"]  # the team's own embedding backend; "chat" is the caller's


async def test_the_embedding_backend_is_opened_once_per_team(store: EventStore) -> None:
    spec = parse_team(_grouping_team({}), source="t")
    async with Team(spec, store, kind="t") as team:
        first = await team.embedding_backend("vectors")
        assert await team.embedding_backend("vectors") is first
        with pytest.raises(ConfigError, match="unknown model 'nope'"):
            await team.embedding_backend("nope")


class _FakeEngine:
    loaded: ClassVar[list[str]] = []
    closed: ClassVar[list[str]] = []

    def __init__(self, key: embedded.EngineKey, *, n_threads: int | None = None) -> None:
        self.key = key
        _FakeEngine.loaded.append(key.path)

    def close(self) -> None:
        _FakeEngine.closed.append(self.key.path)


async def test_an_engine_closes_with_the_last_backend_holding_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "EmbeddedEngine", _FakeEngine)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    options = EmbeddedOptions(path=str(model))
    a, b = EmbeddedBackend(options, name="a"), EmbeddedBackend(options, name="b")
    first = a.engine
    assert first is b.engine
    await a.aclose()
    await a.aclose()  # a second close releases nothing more
    assert _FakeEngine.closed == []  # b still holds it
    await b.aclose()
    assert _FakeEngine.closed == [str(model.resolve())]
    c = EmbeddedBackend(options, name="c")
    assert c.engine is not first and len(_FakeEngine.loaded) == 2  # loaded afresh
    await c.aclose()


@pytest.mark.model
async def test_the_embedded_backend_embeds_and_closes_its_embedding_engine() -> None:
    backend = EmbeddedBackend(EmbeddedOptions())
    vectors = await backend.embed(["Paris", "a banana"])
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 100
    assert vectors[0] != vectors[1]
    await backend.aclose()
    assert backend._embedder is None


def _openai_with(handler: Any) -> OpenAIBackend:
    backend = OpenAIBackend(OpenAIOptions(base_url="http://127.0.0.1:9/v1", model="emb"))
    backend._client = openai_sdk.AsyncOpenAI(
        base_url="http://127.0.0.1:9/v1",
        api_key="k",
        max_retries=0,
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    return backend


async def test_the_openai_backend_embeds_through_the_embeddings_route() -> None:
    asked: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append({"path": request.url.path, **json.loads(request.content)})
        rows = [
            {"object": "embedding", "index": 1, "embedding": [0.0, 1.0]},
            {"object": "embedding", "index": 0, "embedding": [1.0, 0.0]},
        ]
        usage = {"prompt_tokens": 2, "total_tokens": 2}
        return httpx.Response(
            200, json={"object": "list", "data": rows, "model": "emb", "usage": usage}
        )

    backend = _openai_with(handler)
    assert await backend.embed(["a", "b"]) == [[1.0, 0.0], [0.0, 1.0]]  # in the texts' order
    assert asked[0]["path"] == "/v1/embeddings"
    assert asked[0]["model"] == "emb" and asked[0]["input"] == ["a", "b"]
    await backend.aclose()


async def test_an_openai_embedding_failure_is_a_typed_error() -> None:
    backend = _openai_with(lambda request: httpx.Response(401, json={"error": {"message": "no"}}))
    with pytest.raises(AuthenticationFailed):
        await backend.embed(["a"])
    await backend.aclose()
