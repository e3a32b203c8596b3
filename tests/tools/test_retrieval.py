from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmteams.config import parse_team
from lmteams.errors import ConfigError
from lmteams.messages import Envelope
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.registry import create_backend, validate_options
from lmteams.state.store import EventStore
from lmteams.team import Team
from lmteams.tools.index import build_index
from lmteams.tools.retrieval import (
    Citation,
    RetrievalBackend,
    RetrievalOptions,
    parse_citations,
    strip_citations,
)

QUESTION = [
    ChatMessage("system", "You are a librarian."),
    ChatMessage("user", "an earlier question about bread"),
    ChatMessage("assistant", "..."),
    ChatMessage("user", "How often should I water the tomatoes?"),
]


def backend(**options: object) -> RetrievalBackend:
    return RetrievalBackend(RetrievalOptions.model_validate(options), name="docs")


async def test_answers_the_last_user_message_with_cited_passages(corpus: Path) -> None:
    docs = backend(sources=["garden.md", "sub"], root=str(corpus), top_k=2, chunk_lines=6)
    await docs.check_ready()
    completion = await docs.complete(QUESTION, Sampling())
    text = completion.text
    assert text.startswith("[1] garden.md:1-5 (Gardening notes)\n# Gardening notes\n")
    assert "[2] sub/kitchen.md:" in text and "Water tomatoes deeply" in text
    citations = parse_citations(text)
    assert [(c.n, c.source, c.start_line, c.end_line) for c in citations] == [
        (1, "garden.md", 1, 5),
        (2, citations[1].source, citations[1].start_line, citations[1].end_line),
    ]
    assert citations[1].source == "sub/kitchen.md" and citations[0].score > citations[1].score
    assert "citations:" not in strip_citations(text)
    assert strip_citations(text).endswith(text.split("\n\ncitations: ")[0].rsplit("\n", 1)[1])
    assert completion.usage.total_tokens == 0 and completion.model == "docs"
    await docs.aclose()


async def test_passages_are_cut_to_the_configured_length(corpus: Path) -> None:
    docs = backend(sources=[str(corpus)], top_k=1, max_passage_chars=80, chunk_lines=40)
    reply = (await docs.complete(QUESTION, Sampling())).text
    passage = strip_citations(reply).split("\n", 1)[1]
    assert len(passage) <= 80 and passage.endswith("…")


async def test_no_match_still_replies_with_empty_citations(corpus: Path) -> None:
    docs = backend(sources=[str(corpus)])
    reply = (await docs.complete([ChatMessage("user", "quantum chromodynamics")], Sampling())).text
    assert reply.startswith("No passages match: quantum chromodynamics")
    assert parse_citations(reply) == [] and reply.endswith("citations: []")


async def test_an_index_file_relative_to_root(corpus: Path, tmp_path: Path) -> None:
    build_index([corpus], tmp_path / "idx" / "docs.db", base=corpus)
    docs = backend(index="idx/docs.db", root=str(tmp_path))
    hits = docs.search("slugs lettuce")
    assert hits[0].source == "garden.md" and hits[0].heading == "Pests"


def test_citations_parse_only_from_the_last_line() -> None:
    quoted = 'citations: [{"n": 1, "source": "x", "chunk": 0, "start_line": 1, "end_line": 2, "score": 1}]'
    assert parse_citations(f"{quoted}\nmore text") == []
    assert parse_citations(f"text\n{quoted}") == [
        Citation(n=1, source="x", chunk=0, start_line=1, end_line=2, score=1.0)
    ]
    assert parse_citations("text\ncitations: [not json") == []
    assert strip_citations("plain") == "plain"


@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({}, None, "set exactly one of 'index' (a file) or 'sources'"),
        ({"index": "a.db", "sources": ["docs"]}, None, "set exactly one of"),
        ({"sources": ["d"], "top_k": 0}, "top_k", "greater than or equal to 1"),
        ({"sources": ["d"], "globs": []}, "globs", "at least 1 item"),
        ({"sources": ["d"], "indx": "a.db"}, "indx", "Extra inputs are not permitted"),
    ],
)
def test_bad_options(options: dict[str, object], field: str | None, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_options("retrieval", options)
    assert info.value.field == field and message in info.value.problem


def team_file(model: dict[str, object]) -> dict[str, object]:
    return {
        "models": {"docs": {"backend": "retrieval", **model}},
        "nodes": [{"name": "library", "role": "retrieval", "model": "docs"}],
    }


async def test_a_retrieval_node_in_a_team_is_logged_like_any_node(
    corpus: Path, store: EventStore
) -> None:
    spec = parse_team(team_file({"sources": [str(corpus)]}), source="t.yaml")
    async with Team(spec, store, kind="test") as team:
        reply = await team.call("library", "Where do aphids gather?")
        run_id = team.run_id
    assert parse_citations(reply.text)[0].source == "corpus/garden.md"
    messages = [
        Envelope.from_json(json.dumps(e.data)) for e in store.events(run_id, types=["message"])
    ]
    assert messages[1].sender == "library" and messages[1].payload["text"] == reply.text
    assert parse_citations(messages[1].payload["text"]) == parse_citations(reply.text)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ({"index": "missing.db"}, "models.docs.index: index file not found: "),
        ({"sources": ["nowhere"]}, "models.docs.sources: no such file or directory: "),
        (
            {"sources": ["corpus"], "globs": ["*.rst"]},
            "models.docs.index: index sources corpus is empty",
        ),
    ],
)
async def test_a_team_with_a_broken_collection_does_not_start(
    corpus: Path, store: EventStore, model: dict[str, object], message: str
) -> None:
    spec = parse_team(team_file(model), source="t.yaml")
    with pytest.raises(ConfigError) as info:
        async with Team(spec, store, kind="test"):
            pass
    assert str(info.value).startswith(message)


def test_registry_builds_it() -> None:
    options = validate_options("retrieval", {"sources": ["docs"], "top_k": 5})
    built = create_backend("retrieval", options, "kb")
    assert isinstance(built, RetrievalBackend) and built.name == "kb"
    assert built.options.top_k == 5
