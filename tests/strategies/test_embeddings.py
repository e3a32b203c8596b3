from __future__ import annotations

import pytest

from lmteams.config import parse_team
from lmteams.errors import ConfigError
from lmteams.strategies.embeddings import embedder_for, openai_embedder

TEAM = {
    "models": {"s": {"backend": "scripted"}, "e": {"backend": "embedded"}},
    "nodes": [{"name": "a", "model": "s"}],
}


def test_models_that_cannot_embed_are_config_errors() -> None:
    spec = parse_team(TEAM, source="t")
    with pytest.raises(ConfigError, match="'s' \\(scripted\\) cannot embed"):
        embedder_for(spec, "s")
    with pytest.raises(ConfigError, match="unknown model 'x'"):
        embedder_for(spec, "x")


def test_openai_embedder_needs_an_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LMTEAMS_OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ConfigError, match="no endpoint"):
        openai_embedder({}, "o")
    assert callable(openai_embedder({"base_url": "http://127.0.0.1:9/v1"}, "o"))


@pytest.mark.model
async def test_embedded_model_embeds() -> None:
    spec = parse_team(TEAM, source="t")
    vectors = await embedder_for(spec, "e")(["Paris", "a banana"])
    assert len(vectors) == 2 and len(vectors[0]) == len(vectors[1]) > 100
    assert vectors[0] != vectors[1]
