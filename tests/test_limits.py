from __future__ import annotations

import os
from pathlib import Path

import pytest

from lmteams.errors import ConfigError
from lmteams.limits import (
    MAX_DEPTH,
    MAX_TEXT_CHARS,
    check_text,
    json_depth,
    load_json,
    load_yaml,
    read_text,
)


def test_read_text_checks_the_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with open(path, "wb") as file:  # sparse: 50 MiB of nothing, written instantly
        file.truncate(50 << 20)
    with pytest.raises(ConfigError, match=r"big\.yaml: file is too large \(50\.0 MiB"):
        read_text(path)
    assert read_text(path, max_bytes=60 << 20).startswith("\0")


def test_read_text_refuses_what_is_not_a_regular_utf8_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        read_text(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        read_text(tmp_path)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text("/dev/zero")
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        read_text(fifo)
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 0xe9 at offset 9\)"):
        read_text(tmp_path / "latin1.yaml")


def test_yaml_nesting_is_refused_without_recursion() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert load_yaml(ok, source="t") is not None
    with pytest.raises(ConfigError, match=f"t: line 1: nested more than {MAX_DEPTH} levels"):
        load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), source="t")
    block = "a:\n" + "".join("  " * i + "b:\n" for i in range(1, 100))
    with pytest.raises(ConfigError, match="line 65: nested more than"):
        load_yaml(block, source="t")
    with pytest.raises(ConfigError, match="t: "):
        load_yaml("[" * 100_000 + "]" * 100_000, source="t")


def test_yaml_alias_expansion_is_bounded() -> None:
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 10)}]\n" for i in range(8)
    )
    with pytest.raises(ConfigError, match="expands to more than"):
        load_yaml(laughs, source="t")
    merged = load_yaml("d: &d {a: 1, b: [1, 2]}\nx: {<<: *d, c: 3}\n", source="t")
    assert merged["x"] == {"a": 1, "b": [1, 2], "c": 3}


def test_yaml_errors_name_the_line() -> None:
    with pytest.raises(ConfigError, match="t: line 2, column 1: invalid YAML"):
        load_yaml("a: [1\n", source="t")


def test_json_depth_and_errors() -> None:
    assert json_depth({"a": [1, {"b": []}]}) == 4
    assert json_depth(5) == 0
    assert json_depth(load_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, source="f")) == MAX_DEPTH
    with pytest.raises(ConfigError, match=f"f: nested more than {MAX_DEPTH} levels"):
        load_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), source="f")
    with pytest.raises(ConfigError, match="f: line 3: nested more than"):
        load_json("[" * 100_000 + "]" * 100_000, source="f", field="line 3")
    with pytest.raises(ConfigError, match="f: line 1, column 2: invalid JSON"):
        load_json("{", source="f")


def test_check_text() -> None:
    assert check_text("What is 2 + 2?") == "What is 2 + 2?"
    with pytest.raises(ConfigError, match="question: must not be empty"):
        check_text(" \n", field="question")
    with pytest.raises(ConfigError, match="too long"):
        check_text("x" * (MAX_TEXT_CHARS + 1), field="question")
