"""Output validation as failure detection: a reply can arrive and still be a failure.

Checks, in order: empty reply, runaway repetition (a word, line or phrase looping until the
token limit), noise (hardly a letter or digit), a required pattern, JSON, a JSON schema. A failed check names the problem; the
caller retries the call with that problem fed back to the model (:func:`feedback_message`).
Pure (``jsonschema`` is imported only when a schema is checked).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmteams.faults.config import ValidationConfig

#: A custom check: returns the problem with a reply, or None when it is fine.
Check = Callable[[str], "str | None"]


@dataclass(frozen=True, slots=True)
class OutputRules:
    """What a reply must satisfy. Built from the team's ``validation:`` section or per call."""

    non_empty: bool = True
    repetition: bool = True
    noise: bool = True
    regex: str | None = None
    json_output: bool = False
    json_schema: dict[str, Any] | None = None
    check: Check | None = None
    max_retries: int = 2

    @classmethod
    def from_config(cls, config: ValidationConfig) -> OutputRules:
        return cls(
            non_empty=config.non_empty,
            repetition=config.repetition,
            noise=config.noise,
            regex=config.regex,
            json_output=config.json_output,
            json_schema=config.json_schema,
            max_retries=config.max_retries,
        )

    @property
    def active(self) -> bool:
        return bool(
            self.non_empty
            or self.repetition
            or self.noise
            or self.regex
            or self.json_output
            or self.json_schema is not None
            or self.check is not None
        )


_WORD = re.compile(r"\S+")


def runaway_repetition(text: str, *, min_words: int = 24) -> str | None:
    """Name the loop if ``text`` ends in (or mostly is) a repeated unit; None otherwise."""
    stripped = text.strip()
    if re.search(r"(.)\1{79,}", stripped, re.S):
        return "runaway repetition of one character"
    lines = [line.strip() for line in stripped.splitlines() if line.strip()]
    if len(lines) >= 6:
        tail = lines[-6:]
        if len(set(tail)) == 1 and len(tail[0]) >= 4:
            return f"runaway repetition of the line {tail[0][:40]!r}"
    words = _WORD.findall(stripped.lower())
    if len(words) < min_words:
        return None
    # A unit of 1..8 words repeated back to back at the end, covering at least 12 words.
    for size in range(1, 9):
        unit = words[-size:]
        repeats = 1
        index = len(words) - 2 * size
        while index >= 0 and words[index : index + size] == unit:
            repeats += 1
            index -= size
        if repeats * size >= 12 and repeats >= 4:
            return f"runaway repetition of {' '.join(unit)[:40]!r}"
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if len(set(trigrams)) / len(trigrams) < 0.25:
        return "runaway repetition (few distinct phrases)"
    return None


def mostly_symbols(text: str, *, min_chars: int = 24, min_alnum: float = 0.2) -> bool:
    """True for noise: a reply of some length with hardly a letter or digit in it."""
    chars = [c for c in text if not c.isspace()]
    if len(chars) < min_chars:
        return False
    return sum(c.isalnum() for c in chars) / len(chars) < min_alnum


def _json_problem(text: str, schema: dict[str, Any] | None) -> str | None:
    body = text.strip()
    fenced = re.match(r"^```(?:json)?\s*(.*?)\s*```$", body, re.S)
    if fenced:
        body = fenced.group(1)
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        return f"the reply is not valid JSON ({exc.msg} at line {exc.lineno})"
    if schema is None:
        return None
    import jsonschema

    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "the top level"
        return f"the JSON does not match the schema at {where}: {exc.message}"
    except jsonschema.SchemaError as exc:
        return f"the schema itself is invalid: {exc.message}"
    return None


def problem(text: str, rules: OutputRules) -> str | None:
    """The first problem with ``text`` under ``rules``, or None when it passes."""
    if rules.non_empty and not text.strip():
        return "the reply is empty"
    if rules.repetition:
        loop = runaway_repetition(text)
        if loop:
            return loop
    if rules.noise and mostly_symbols(text):
        return "the reply is mostly symbols, not text"
    if rules.regex and not re.search(rules.regex, text):
        return f"the reply does not contain the required pattern {rules.regex!r}"
    if rules.json_output or rules.json_schema is not None:
        found = _json_problem(text, rules.json_schema)
        if found:
            return found
    if rules.check is not None:
        return rules.check(text)
    return None


def feedback_message(found: str, rules: OutputRules) -> str:
    """The user turn that tells the model what was wrong with its last reply."""
    hint = ""
    if rules.json_schema is not None:
        hint = " Reply with JSON only, matching this schema: " + json.dumps(rules.json_schema)
    elif rules.json_output:
        hint = " Reply with valid JSON only."
    elif rules.regex:
        hint = f" Your reply must contain text matching {rules.regex!r}."
    return f"Your previous reply was rejected: {found}.{hint} Please answer again."
