"""Input limits: how large and how deeply nested a file lmteams reads may be, checked first.

A hostile or careless file must cost a second and one line, not minutes and a traceback. So the
size is read from the file system before a byte is read, YAML is scanned as a flat event stream
(no recursion) for nesting depth and alias expansion before it is built, and JSON depth is
checked without recursion once decoded. Every refusal is one :class:`ConfigError` naming the
file. The limits are generous for real files (the study's largest project is 25 KB).
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from lmteams.errors import ConfigError

MIB = 1 << 20
MAX_CONFIG_BYTES = 2 * MIB
"""Largest team or project file (YAML parsing costs about a second per MiB)."""
MAX_DATASET_BYTES = 64 * MIB
"""Largest evaluation dataset (JSON Lines)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and lists in a YAML or JSON document."""
MAX_YAML_NODES = 1_000_000
"""Most values a YAML document may hold once its aliases are expanded (billion laughs)."""
MAX_TEXT_CHARS = 1_000_000
"""Longest single prompt text: a question, a task description, a system prompt."""

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MiB" if n >= MIB else f"{n} bytes"


def read_text(path: str | Path, *, max_bytes: int = MAX_CONFIG_BYTES) -> str:
    """The UTF-8 text of a regular file of at most ``max_bytes``, size checked before reading."""
    source = str(path)
    if not source.strip():
        raise ConfigError("no file name given (the path is empty)")
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise ConfigError("file not found", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError("is a directory, not a file", source=source)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device could block or never end
        raise ConfigError("not a regular file", source=source)
    if info.st_size > max_bytes:
        raise ConfigError(
            f"file is too large ({_size(info.st_size)}; the limit is {_size(max_bytes)})",
            source=source,
        )
    try:
        with open(path, "rb") as file:
            data = file.read(max_bytes + 1)
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", source=source) from None
    if len(data) > max_bytes:  # grew between stat and read
        raise ConfigError(f"file is too large (the limit is {_size(max_bytes)})", source=source)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", source=source
        ) from None


def check_text(text: str, *, source: str | None = None, field: str | None = None) -> str:
    """``text`` unchanged if it is a usable prompt: not blank and at most MAX_TEXT_CHARS."""
    if not text.strip():
        raise ConfigError("must not be empty", source=source, field=field)
    if len(text) > MAX_TEXT_CHARS:
        raise ConfigError(
            f"too long ({len(text):,} characters; the limit is {MAX_TEXT_CHARS:,})",
            source=source,
            field=field,
        )
    return text


def _yaml_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
    problem = getattr(exc, "problem", None) or str(exc).strip().split("\n", 1)[0]
    if isinstance(exc, yaml.reader.ReaderError):  # its text spans lines; say it in one
        character = exc.character if isinstance(exc.character, int) else ord(exc.character)
        problem = f"character #x{character:04x} is not allowed (position {exc.position})"
    return ConfigError(f"invalid YAML: {problem}", source=source, field=where)


def _line(event: yaml.Event) -> str | None:
    mark = event.start_mark
    return None if mark is None else f"line {mark.line + 1}"


def scan_yaml(text: str, *, source: str) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH or expanding past MAX_YAML_NODES values.

    Walks the parser's flat event stream with an explicit stack, so depth costs no recursion;
    each anchor's expanded size is remembered, so an alias counts as the values it stands for.
    """
    sizes: dict[str, int] = {}
    stack: list[tuple[str | None, int]] = []  # (anchor, values so far) per open collection
    total = 0

    def add(count: int, event: yaml.Event) -> None:
        nonlocal total
        total += count
        if total > MAX_YAML_NODES:
            raise ConfigError(
                f"expands to more than {MAX_YAML_NODES:,} values (aliases of aliases?)",
                source=source,
                field=_line(event),
            )
        if stack:
            anchor, values = stack[-1]
            stack[-1] = (anchor, values + count)

    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise ConfigError(
                    f"nested more than {MAX_DEPTH} levels deep", source=source, field=_line(event)
                )
            add(1, event)
            stack.append((event.anchor, 1))
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, values = stack.pop()
            if anchor is not None:
                sizes[anchor] = values
            if stack:  # the parent already counted this collection's own start
                parent_anchor, parent_values = stack[-1]
                stack[-1] = (parent_anchor, parent_values + values - 1)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, event)
        elif isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor or "", 1), event)  # an alias stands for all it names


def load_yaml(text: str, *, source: str) -> Any:
    """Parse YAML text (safe types only) after checking its depth and alias expansion."""
    try:
        scan_yaml(text, source=source)
        return yaml.load(text, Loader=_Loader)  # a safe loader: plain types only
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None


def json_depth(value: Any) -> int:
    """How deeply lists and dicts nest in decoded JSON, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def load_json(text: str, *, source: str, field: str | None = None) -> Any:
    """Decode JSON, refusing documents nested deeper than MAX_DEPTH."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        where = field or f"line {exc.lineno}, column {exc.colno}"
        raise ConfigError(f"invalid JSON: {exc.msg}", source=source, field=where) from None
    except RecursionError:  # the C decoder stops cleanly at the interpreter's limit
        raise ConfigError(
            f"nested more than {MAX_DEPTH} levels deep", source=source, field=field
        ) from None
    if json_depth(value) > MAX_DEPTH:
        raise ConfigError(f"nested more than {MAX_DEPTH} levels deep", source=source, field=field)
    return value
