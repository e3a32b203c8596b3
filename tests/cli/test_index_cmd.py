"""`lmteams index` and `lmteams search`, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_cli import assert_clean_error, lmteams


def docs(tmp_path: Path) -> Path:
    (tmp_path / "docs").mkdir()
    (tmp_path / "README.md").write_text("# Project\n\nRun `make demo` to see the team answer.\n")
    (tmp_path / "docs" / "routing.md").write_text(
        "# Routing\n\n## Replicas\n\nLeast outstanding requests beats round robin on p99.\n"
    )
    (tmp_path / "docs" / "notes.txt").write_text("Plain notes about replicas and routing.\n")
    return tmp_path


def test_index_then_search(tmp_path: Path) -> None:
    root = docs(tmp_path)
    proc = lmteams("index", "README.md", "docs", "--out", "kb.db", "--json", cwd=root)
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert stats["files"] == 3 and stats["chunks"] >= 3 and stats["path"] == "kb.db"

    hits = lmteams("search", "round robin replicas", "--index", "kb.db", "--json", cwd=root)
    assert hits.returncode == 0, hits.stderr
    first = json.loads(hits.stdout)[0]
    assert (first["source"], first["start_line"], first["heading"]) == (
        "docs/routing.md",
        3,
        "Replicas",
    )

    human = lmteams("search", "make demo", "-i", "kb.db", "-k", "1", cwd=root)
    assert human.returncode == 0
    assert human.stdout.startswith("[1] README.md:1-3 · Project")
    assert "Run `make demo`" in human.stdout


def test_index_human_output_and_default_location(tmp_path: Path) -> None:
    root = docs(tmp_path)
    proc = lmteams("index", "docs", "--glob", "*.md", cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert "Indexed 1 file(s)" in proc.stdout
    assert (root / ".lmteams" / "index.db").exists()
    hits = lmteams("search", "routing", "--json", cwd=root)
    assert [h["source"] for h in json.loads(hits.stdout)] == ["docs/routing.md"]


def test_index_errors_are_one_line(tmp_path: Path) -> None:
    root = docs(tmp_path)
    assert_clean_error(lmteams("index", "missing", cwd=root), "no such file or directory: missing")
    assert_clean_error(
        lmteams("index", "docs", "--glob", "*.rst", cwd=root), "no files matching *.rst"
    )
    (root / "empty.md").write_text("")
    assert_clean_error(lmteams("index", "empty.md", cwd=root), "nothing to index")
    proc = lmteams("search", "x", "--index", "nope.db", cwd=root)
    assert_clean_error(proc, "--index: index file not found: nope.db")
    assert proc.returncode == 2
    (root / "junk.db").write_text("junk" * 1000)
    assert_clean_error(
        lmteams("search", "x", "--index", "junk.db", cwd=root), "junk.db is not an lmteams index"
    )


def test_help_teaches_by_example(tmp_path: Path) -> None:
    proc = lmteams("index", "--help", cwd=tmp_path)
    assert proc.returncode == 0
    assert "lmteams index README.md docs --out docs.db" in proc.stdout
