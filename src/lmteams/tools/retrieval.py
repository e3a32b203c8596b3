"""The ``retrieval`` backend: answers with the passages of a local document collection.

The last user message is the query. The reply lists the best passages (BM25 over SQLite FTS5),
each headed by its citation (``[n] path:first-last``), and ends with one line
``citations: [...]`` holding the same citations as JSON, so they travel with the answer through
the event log and any runtime. :func:`parse_citations` reads them back; :func:`strip_citations`
gives the text without that line (what a model should be shown).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from lmteams.errors import ConfigError
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.tools.index import (
    DEFAULT_CHUNK_LINES,
    DEFAULT_GLOBS,
    Passage,
    check_index,
    create_schema,
    discover,
    fill_index,
    open_index,
    search,
)
from lmteams.tools.reply import last_user_message, tool_completion

CITATIONS_PREFIX = "citations: "


class RetrievalOptions(BaseModel):
    """Settings of a ``retrieval`` model in a team file: an index file, or sources to index."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    index: str | None = Field(None, description="Index file built by `lmteams index`.")
    sources: tuple[str, ...] = Field(
        (), description="Files and directories to index in memory when the team starts."
    )
    root: str | None = Field(
        None,
        description="Directory that relative `index` and `sources` paths start from and "
        "citations are shown relative to; default: the current directory.",
    )
    globs: tuple[str, ...] = Field(DEFAULT_GLOBS, min_length=1, description="Files to index.")
    chunk_lines: int = Field(DEFAULT_CHUNK_LINES, ge=4, le=1000, description="Lines a passage.")
    top_k: int = Field(3, ge=1, le=50, description="Passages per answer.")
    max_passage_chars: int = Field(1200, ge=80, le=100_000, description="Longer ones are cut.")

    @model_validator(mode="after")
    def _one_collection(self) -> RetrievalOptions:
        if (self.index is None) == (not self.sources):
            raise PydanticCustomError(
                "retrieval_collection", "set exactly one of 'index' (a file) or 'sources'"
            )
        return self


class Citation(BaseModel):
    """Where a passage came from: file, passage number in that file, lines, BM25 score."""

    model_config = ConfigDict(frozen=True)

    n: int
    source: str
    chunk: int
    start_line: int
    end_line: int
    score: float

    def label(self) -> str:
        return f"{self.source}:{self.start_line}-{self.end_line}"


_CITATIONS = TypeAdapter(list[Citation])


def citation_of(n: int, passage: Passage) -> Citation:
    return Citation(
        n=n,
        source=passage.source,
        chunk=passage.chunk,
        start_line=passage.start_line,
        end_line=passage.end_line,
        score=round(passage.score, 4),
    )


def format_reply(query: str, passages: Sequence[Passage], *, max_chars: int = 1200) -> str:
    """The reply text: each passage under its citation, then the citations as JSON."""
    citations = [citation_of(n, p) for n, p in enumerate(passages, 1)]
    if not passages:
        body = f"No passages match: {' '.join(query.split())[:200]}"
    else:
        parts = []
        for citation, passage in zip(citations, passages, strict=True):
            heading = f" ({passage.heading})" if passage.heading else ""
            text = passage.text
            if len(text) > max_chars:
                text = text[: max_chars - 1].rstrip() + "…"
            parts.append(f"[{citation.n}] {citation.label()}{heading}\n{text}")
        body = "\n\n".join(parts)
    return f"{body}\n\n{CITATIONS_PREFIX}{_CITATIONS.dump_json(citations).decode()}"


def parse_citations(text: str) -> list[Citation]:
    """The citations of a retrieval reply (its last line), or [] when it has none."""
    last = text.rstrip().rpartition("\n")[2]
    if not last.startswith(CITATIONS_PREFIX):
        return []
    try:
        return _CITATIONS.validate_json(last[len(CITATIONS_PREFIX) :])
    except ValidationError:
        return []


def strip_citations(text: str) -> str:
    """A retrieval reply without its machine-readable citations line."""
    head, _, last = text.rstrip().rpartition("\n")
    return head.rstrip() if last.startswith(CITATIONS_PREFIX) else text


class RetrievalBackend(ModelBackend):
    """Searches a document index; one instance may serve many nodes concurrently."""

    kind = "retrieval"
    is_local = True

    def __init__(self, options: RetrievalOptions, *, name: str = "retrieval") -> None:
        self.options = options
        self.name = name
        self.root = Path(options.root).expanduser() if options.root else Path.cwd()
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()  # one sqlite3 connection, used from loop and threads
        self.files = 0

    def _path(self, raw: str) -> Path:
        path = Path(raw).expanduser()
        return path if path.is_absolute() else self.root / path

    def _open(self) -> sqlite3.Connection:
        with self._lock:
            if self._conn is not None:
                return self._conn
            if self.options.index is not None:
                conn = open_index(self._path(self.options.index))
            else:
                conn = self._index_sources()
            self._conn = conn
            return conn

    def _index_sources(self) -> sqlite3.Connection:
        try:
            files = discover([self._path(s) for s in self.options.sources], self.options.globs)
        except ConfigError as exc:
            raise ConfigError(exc.problem, field="sources") from None
        conn = sqlite3.connect(":memory:", check_same_thread=False)
        try:
            create_schema(conn)
            self.files, _, _ = fill_index(
                conn, files, base=self.root, chunk_lines=self.options.chunk_lines
            )
            check_index(conn, f"sources {', '.join(self.options.sources)}")
        except BaseException:
            conn.close()
            raise
        return conn

    async def check_ready(self) -> None:
        """Open the index (or index the sources) once; errors name the field that is wrong."""
        await asyncio.to_thread(self._open)

    def search(self, query: str, k: int | None = None) -> list[Passage]:
        """The best ``k`` (default ``top_k``) passages for ``query``: for direct use in Python."""
        conn = self._open()
        with self._lock:
            return search(conn, query, k or self.options.top_k)

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        started = time.perf_counter()
        query = last_user_message(messages)
        # A BM25 query over a local index takes about a millisecond: run it in the loop, like
        # the event log's own SQLite writes, so it also works under the virtual clock.
        passages = self.search(query)
        text = format_reply(query, passages, max_chars=self.options.max_passage_chars)
        return tool_completion(text, started, self.name)

    async def aclose(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
