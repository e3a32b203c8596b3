from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lmteams.errors import ConfigError
from lmteams.tools.index import (
    build_index,
    chunk_text,
    discover,
    fts_query,
    open_index,
    search,
)


def test_chunks_follow_headings_and_keep_line_spans() -> None:
    text = "# A\none\ntwo\n```\n# not a heading\n```\n## B\nthree\n"
    chunks = chunk_text(text, "doc.md", chunk_lines=10, overlap_lines=2)
    assert [(c.heading, c.start_line, c.end_line) for c in chunks] == [("A", 1, 6), ("B", 7, 8)]
    assert chunks[0].text.splitlines()[0] == "# A" and "# not a heading" in chunks[0].text
    assert [c.chunk for c in chunks] == [0, 1]


def test_long_sections_are_cut_into_overlapping_windows() -> None:
    text = "\n".join(f"line {i}" for i in range(1, 21))
    chunks = chunk_text(text, "t.txt", chunk_lines=8, overlap_lines=2)
    assert [(c.start_line, c.end_line) for c in chunks] == [(1, 8), (7, 14), (13, 20)]
    with pytest.raises(ValueError):
        chunk_text(text, "t.txt", chunk_lines=4, overlap_lines=4)


@given(st.lists(st.text(alphabet="ab #\n`", max_size=30), max_size=30), st.integers(2, 12))
def test_every_non_blank_line_lands_in_a_chunk(lines: list[str], size: int) -> None:
    text = "\n".join(lines)
    chunks = chunk_text(text, "x", chunk_lines=size, overlap_lines=size // 3)
    covered = {n for c in chunks for n in range(c.start_line, c.end_line + 1)}
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            assert number in covered
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line and c.end_line - c.start_line < size


def test_fts_query_quotes_words_and_drops_stop_words() -> None:
    assert fts_query("How do I water the tomatoes?") == '"water" OR "tomatoes"'
    assert fts_query('what "is" it') == '"what" OR "is" OR "it"'  # only stop words: keep them
    assert fts_query("?!") is None
    assert fts_query("NEAR(a b) OR x*") == '"near"'  # FTS5 syntax is never passed through


def test_discover_skips_hidden_directories_and_other_patterns(corpus: Path) -> None:
    found = [p.relative_to(corpus.resolve()).as_posix() for p in discover([corpus], ["*.md"])]
    assert found == ["garden.md", "latin1.md", "sub/kitchen.md"]
    with pytest.raises(ConfigError, match="no such file or directory"):
        discover([corpus / "missing"], ["*.md"])


def test_build_and_search_ranks_by_bm25(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(corpus)
    stats = build_index([Path(".")], tmp_path / "out" / "index.db", chunk_lines=6)
    assert stats.files == 3 and stats.chunks >= 4
    assert stats.skipped == ["latin1.md (not UTF-8 text)"]
    conn = open_index(tmp_path / "out" / "index.db")
    hits = search(conn, "how often should I water tomatoes", 3)
    # garden.md's first section talks about watering tomatoes twice; it ranks first
    assert (hits[0].source, hits[0].start_line, hits[0].end_line) == ("garden.md", 1, 5)
    assert hits[0].heading == "Gardening notes"
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    sources = {h.source for h in hits}
    assert "sub/kitchen.md" in sources and "cars.txt" not in sources
    # a heading match weighs more than a body match: "sauce" is only in a heading
    assert search(conn, "sauce", 1)[0].heading == "Tomato sauce"
    assert search(conn, "quantum chromodynamics", 3) == []
    conn.close()


def test_the_index_is_read_only_and_replaced_atomically(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(corpus / "sub")
    out = tmp_path / "i.db"
    build_index([corpus / "garden.md"], out)
    conn = open_index(out)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        conn.execute("DELETE FROM chunks")
    conn.close()
    build_index([corpus / "cars.txt"], out)
    conn = open_index(out)
    assert [h.source for h in search(conn, "oil engine", 5)] == [
        (corpus / "cars.txt").resolve().as_posix()  # outside the current directory: absolute
    ]
    conn.close()
    assert not (tmp_path / "i.db.partial").exists()


def test_missing_empty_and_foreign_index_files(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="index file not found: .*nope.db; build it with"):
        open_index(tmp_path / "nope.db")
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t(x)").connection.commit()
    with pytest.raises(ConfigError, match="is not an lmteams index"):
        open_index(foreign)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all " * 100)
    with pytest.raises(ConfigError, match="is not an lmteams index"):
        open_index(junk)


def test_nothing_to_index_is_an_error(corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no files matching \*\.rst"):
        build_index([corpus], tmp_path / "i.db", globs=["*.rst"])
    (corpus / "empty.md").write_text("\n\n")
    with pytest.raises(ConfigError, match="nothing to index"):
        build_index([corpus / "empty.md"], tmp_path / "i.db")
    assert not (tmp_path / "i.db").exists()
