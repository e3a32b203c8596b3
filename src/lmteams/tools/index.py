"""A document index for the ``retrieval`` tool: text files cut into passages, in SQLite FTS5.

Files are cut at Markdown headings, then into windows of lines that overlap a little, so a
passage is short enough to hand to a small model and its citation (file and line span) points
at the place it came from. Ranking is FTS5's BM25, with a passage's heading weighted above its
body. ``lmteams index`` writes an index file; a retrieval node can also index its sources in
memory when the team starts.
"""

from __future__ import annotations

import re
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lmteams.errors import ConfigError

SCHEMA_VERSION = 1
DEFAULT_GLOBS = ("*.md", "*.markdown", "*.rst", "*.txt")
DEFAULT_CHUNK_LINES = 24
DEFAULT_OVERLAP_LINES = 4
MAX_FILE_BYTES = 2_000_000
#: Directories never worth searching: VCS data, environments, caches, build output.
SKIP_DIRS = frozenset(
    {"node_modules", "__pycache__", "venv", "build", "dist", "site-packages", "htmlcov"}
)
#: BM25 column weights: (heading, text).
HEADING_WEIGHT = 2.0
TEXT_WEIGHT = 1.0
_MAX_QUERY_TERMS = 32
_STOPWORDS_TEXT = """
    a an and are as at be by can do does for from how i in into is it its of on or that the
    their then there these this to was what when where which who why will with you your
"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One passage of one file: lines ``start_line``..``end_line`` (1-based, inclusive)."""

    source: str
    chunk: int
    start_line: int
    end_line: int
    heading: str
    text: str


class IndexStats(BaseModel):
    """What building an index did (also ``lmteams index --json``)."""

    model_config = ConfigDict(frozen=True)

    path: str
    files: int
    chunks: int
    skipped: list[str]
    bytes: int
    seconds: float


# -- cutting text into passages (pure) --------------------------------------------------------


def _sections(lines: Sequence[str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, heading) of each Markdown section: 0-based, end exclusive."""
    start, heading, in_fence = 0, "", False
    for number, line in enumerate(lines):
        if _FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else _HEADING.match(line)
        if match and number > start:
            yield start, number, heading
            start = number
        if match:
            heading = match.group(2).strip()
    if start < len(lines):
        yield start, len(lines), heading


def chunk_text(
    text: str,
    source: str,
    *,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    overlap_lines: int = DEFAULT_OVERLAP_LINES,
) -> list[Chunk]:
    """Cut ``text`` into passages at headings and every ``chunk_lines`` lines (with overlap)."""
    if chunk_lines < 2 or not 0 <= overlap_lines < chunk_lines:
        raise ValueError("need chunk_lines >= 2 and 0 <= overlap_lines < chunk_lines")
    lines = text.splitlines()
    chunks: list[Chunk] = []
    step = chunk_lines - overlap_lines
    for start, end, heading in _sections(lines):
        first = start
        while first < end:
            last = min(first + chunk_lines, end)
            body = "\n".join(lines[first:last]).strip()
            if body:
                chunks.append(Chunk(source, len(chunks), first + 1, last, heading, body))
            if last >= end:
                break
            first += step
    return chunks


# -- finding files ---------------------------------------------------------------------------


def display_path(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (as citations show it), else absolute."""
    resolved = path.resolve()
    try:
        return resolved.relative_to(base.resolve()).as_posix()
    except ValueError:
        return resolved.as_posix()


def discover(paths: Iterable[Path], globs: Sequence[str]) -> list[Path]:
    """Files among ``paths`` (files as given; directories searched for ``globs``), sorted.

    Hidden directories and :data:`SKIP_DIRS` are not searched. Raises
    :class:`~lmteams.errors.ConfigError` for a path that does not exist.
    """
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_file():
            found[path.resolve()] = None
        elif path.is_dir():
            for file in sorted(_walk(path, globs)):
                found[file.resolve()] = None
        else:
            raise ConfigError(f"no such file or directory: {path}")
    return list(found)


def _walk(directory: Path, globs: Sequence[str]) -> Iterator[Path]:
    for item in directory.iterdir():
        if item.is_dir():
            if not item.name.startswith(".") and item.name not in SKIP_DIRS:
                yield from _walk(item, globs)
        elif item.is_file() and any(item.match(pattern) for pattern in globs):
            yield item


# -- the SQLite schema -------------------------------------------------------------------------


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(
        """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE chunks(
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            chunk INTEGER NOT NULL,
            start_line INTEGER NOT NULL,
            end_line INTEGER NOT NULL,
            heading TEXT NOT NULL,
            text TEXT NOT NULL
        );
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            heading, text, content='chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        """
    )


def fill_index(
    conn: sqlite3.Connection,
    files: Sequence[Path],
    *,
    base: Path,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    overlap_lines: int = DEFAULT_OVERLAP_LINES,
    on_file: Callable[[Path], None] | None = None,
) -> tuple[int, int, list[str]]:
    """Add ``files`` to a fresh index in ``conn``: (files indexed, chunks, skipped files)."""
    skipped: list[str] = []
    indexed = total_bytes = 0
    rows: list[tuple[str, int, int, int, str, str]] = []
    for file in files:
        shown = display_path(file, base)
        if on_file is not None:
            on_file(file)
        try:
            if file.stat().st_size > MAX_FILE_BYTES:
                skipped.append(f"{shown} (larger than {MAX_FILE_BYTES} bytes)")
                continue
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            skipped.append(f"{shown} (not UTF-8 text)")
            continue
        except OSError as exc:
            skipped.append(f"{shown} ({exc.strerror or exc})")
            continue
        indexed += 1
        total_bytes += len(text.encode())
        for c in chunk_text(text, shown, chunk_lines=chunk_lines, overlap_lines=overlap_lines):
            rows.append((c.source, c.chunk, c.start_line, c.end_line, c.heading, c.text))
    with conn:
        conn.executemany(
            "INSERT INTO chunks(source, chunk, start_line, end_line, heading, text) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
        meta = {
            "schema_version": str(SCHEMA_VERSION),
            "built_at": str(time.time()),
            "base": str(base.resolve()),
            "chunk_lines": str(chunk_lines),
            "bytes": str(total_bytes),
        }
        conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", meta.items())
    return indexed, len(rows), skipped


def build_index(
    paths: Sequence[Path],
    out: Path,
    *,
    globs: Sequence[str] = DEFAULT_GLOBS,
    base: Path | None = None,
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    overlap_lines: int = DEFAULT_OVERLAP_LINES,
    on_file: Callable[[Path], None] | None = None,
) -> IndexStats:
    """Index the files under ``paths`` into the SQLite file ``out`` (replaced atomically).

    Citations name files relative to ``base`` (default: the current directory). Raises
    :class:`~lmteams.errors.ConfigError` when a path is missing or nothing could be indexed.
    """
    started = time.perf_counter()
    base = base or Path.cwd()
    files = discover(paths, globs)
    if not files:
        where = ", ".join(str(p) for p in paths)
        raise ConfigError(f"no files matching {', '.join(globs)} under {where}")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    conn = sqlite3.connect(partial)
    try:
        create_schema(conn)
        indexed, chunks, skipped = fill_index(
            conn,
            files,
            base=base,
            chunk_lines=chunk_lines,
            overlap_lines=overlap_lines,
            on_file=on_file,
        )
        size = int(conn.execute("SELECT value FROM meta WHERE key = 'bytes'").fetchone()[0])
    finally:
        conn.close()
    if chunks == 0:
        partial.unlink(missing_ok=True)
        raise ConfigError(f"nothing to index: every matching file was empty or skipped ({skipped})")
    partial.replace(out)
    return IndexStats(
        path=str(out),
        files=indexed,
        chunks=chunks,
        skipped=skipped,
        bytes=size,
        seconds=time.perf_counter() - started,
    )


def open_index(path: Path) -> sqlite3.Connection:
    """Open an index file read-only, after checking that it is one.

    Raises :class:`~lmteams.errors.ConfigError` (field ``index``) when the file is missing,
    is not an lmteams index, or holds no passages.
    """
    if not path.is_file():
        raise ConfigError(
            f"index file not found: {path}; build it with `lmteams index DIR --out {path}`",
            field="index",
        )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        check_index(conn, str(path))
    except BaseException:
        conn.close()
        raise
    return conn


def check_index(conn: sqlite3.Connection, name: str) -> None:
    try:
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        count = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    except sqlite3.DatabaseError:
        raise ConfigError(f"{name} is not an lmteams index", field="index") from None
    version = meta.get("schema_version")
    if version != str(SCHEMA_VERSION):
        raise ConfigError(
            f"{name} has index version {version}, this lmteams reads {SCHEMA_VERSION}; rebuild it",
            field="index",
        )
    if count == 0:
        raise ConfigError(f"index {name} is empty: it holds no passages", field="index")


# -- searching --------------------------------------------------------------------------------


def fts_query(text: str) -> str | None:
    """An FTS5 query for free text: its words, quoted, joined by OR (BM25 ranks the matches).

    Stop words are dropped unless nothing else is left; None when the text has no words.
    """
    words = list(dict.fromkeys(re.findall(r"\w+", text.lower())))
    kept = [w for w in words if w not in _STOPWORDS and len(w) > 1] or words
    if not kept:
        return None
    return " OR ".join(f'"{w}"' for w in kept[:_MAX_QUERY_TERMS])


@dataclass(frozen=True, slots=True)
class Passage(Chunk):
    """A search hit: the passage and where it came from; higher ``score`` is better."""

    score: float


def search(conn: sqlite3.Connection, query: str, k: int) -> list[Passage]:
    """The ``k`` passages that best match ``query``, best first (BM25)."""
    match = fts_query(query)
    if match is None:
        return []
    rows = conn.execute(
        "SELECT c.source, c.chunk, c.start_line, c.end_line, c.heading, c.text, "
        f"bm25(chunks_fts, {HEADING_WEIGHT}, {TEXT_WEIGHT}) AS rank "
        "FROM chunks_fts JOIN chunks c ON c.id = chunks_fts.rowid "
        "WHERE chunks_fts MATCH ? ORDER BY rank, c.id LIMIT ?",
        (match, k),
    ).fetchall()
    return [
        Passage(
            source=source,
            chunk=chunk,
            start_line=start,
            end_line=end,
            heading=heading,
            text=body,
            score=-float(rank),
        )
        for source, chunk, start, end, heading, body, rank in rows
    ]


def index_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta").fetchall())
