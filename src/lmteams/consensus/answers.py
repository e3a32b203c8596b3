"""Final-answer extraction and normalization, so equal answers compare equal.

An extractor maps a node's raw reply to an :class:`Answer`: the text shown to users and a
normalized key used for voting. Extractors are plain functions registered by name; pass your
own callable wherever an extractor name is accepted. Pure: no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from lmteams.errors import ConfigError


@dataclass(frozen=True, slots=True)
class Answer:
    """One extracted answer: ``key`` decides equality, ``text`` is what a user sees."""

    key: str
    text: str

    @property
    def empty(self) -> bool:
        return not self.key


NO_ANSWER = Answer("", "")

Extractor = Callable[[str], Answer]

# "Answer: X", "Final answer - X", "**Answer**: X", "the answer is X"
_MARKER = re.compile(
    r"(?:final\s+answer|answer)\s*(?:\*\*)?\s*(?:is\s*)?[:=\-–]\s*(?:\*\*)?\s*(.+)|"
    r"the\s+answer\s+is\s+(.+)",
    re.IGNORECASE,
)
_NUMBER = re.compile(
    r"[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:e[-+]?\d+)?", re.I
)
_CHOICE = re.compile(r"\b([A-J])\b(?:\)|\.|:|$|\s)")
_LEADING_CHOICE = re.compile(r"^\(?([A-Ja-j])(?:\)|\.|:|\s|$)")
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        [
            "zero",
            "one",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "nine",
            "ten",
            "eleven",
            "twelve",
            "thirteen",
            "fourteen",
            "fifteen",
            "sixteen",
            "seventeen",
            "eighteen",
            "nineteen",
            "twenty",
        ]
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
}
_YES = {"yes", "y", "true", "correct", "right"}
_NO = {"no", "n", "false", "incorrect", "wrong"}


def final_segment(reply: str) -> str:
    """The part of a reply that states the answer: after the last "Answer:" marker, else the
    last non-empty line."""
    matches = list(_MARKER.finditer(reply))
    if matches:
        last = matches[-1]
        segment = last.group(1) or last.group(2) or ""
        return segment.strip().splitlines()[0].strip() if segment.strip() else ""
    lines = [line.strip() for line in reply.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def normalize_text(text: str) -> str:
    """Case, accents, surrounding punctuation, articles and spacing removed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = text.lower().replace("**", "").strip()
    text = re.sub(r"^[\s\"'`(\[]+|[\s\"'`)\].,;:!?]+$", "", text)
    text = re.sub(r"^(?:the|a|an)\s+", "", text)
    text = re.sub(r"[\s_]+", " ", text)
    return text.strip()


def normalize_number(text: str) -> str | None:
    """Canonical form of the last number in ``text`` ("1,000.50" -> "1000.5", "3/4" -> "0.75")."""
    found = _NUMBER.findall(text)
    if not found:
        return None
    raw = found[-1].replace(",", "").replace("−", "-").replace(" ", "")
    if raw.lstrip("+-").isdigit():
        return str(int(raw))
    try:
        value = Fraction(raw) if "/" in raw else Fraction(str(float(raw)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    as_float = float(value)
    return f"{as_float:.10g}"


def extract_number(reply: str) -> Answer:
    segment = final_segment(reply)
    key = normalize_number(segment) or normalize_number(reply)
    return Answer(key, key) if key else NO_ANSWER


def extract_choice(reply: str) -> Answer:
    segment = final_segment(reply)
    leading = _LEADING_CHOICE.match(segment.strip().strip("*"))
    if leading:
        return Answer(leading.group(1).upper(), leading.group(1).upper())
    for text in (segment, reply):
        match = _CHOICE.search(text.strip() + " ")
        if match:
            letter = match.group(1).upper()
            return Answer(letter, letter)
    return NO_ANSWER


def extract_yes_no(reply: str) -> Answer:
    for text in (final_segment(reply), reply):
        words = re.findall(r"[a-z]+", text.lower())
        for word in words:
            if word in _YES:
                return Answer("yes", "yes")
            if word in _NO:
                return Answer("no", "no")
    return NO_ANSWER


def extract_text(reply: str) -> Answer:
    segment = final_segment(reply)
    key = normalize_text(segment)
    return Answer(key, segment.strip().strip("*").strip()) if key else NO_ANSWER


def single_number(text: str) -> str | None:
    """The one number a short sentence states ("A spider has eight legs." -> "8"), if exactly one."""
    digits = {n for n in map(normalize_number, _NUMBER.findall(text)) if n is not None}
    words = {
        str(_NUMBER_WORDS[w]) for w in re.findall(r"[a-z]+", text.lower()) if w in _NUMBER_WORDS
    }
    found = digits | words
    return found.pop() if len(found) == 1 else None


def extract_auto(reply: str) -> Answer:
    """A number if the answer is one (alone, or the one number of a short sentence), yes/no if it
    is one, else normalized text."""
    segment = final_segment(reply)
    if not segment:
        return NO_ANSWER
    number = normalize_number(segment)
    words = re.findall(r"[A-Za-z]+", segment)
    if number is not None and len(words) <= 3:
        return Answer(number, number)
    if len(words) <= 12:
        stated = single_number(segment)
        if stated is not None:
            return Answer(stated, stated)
    normalized = normalize_text(segment)
    if normalized in _YES or normalized in _NO:
        return extract_yes_no(segment)
    return extract_text(reply)


def first_json_object(reply: str) -> object | None:
    """The first JSON object embedded in ``reply`` (a reply may wrap it in prose or a code
    fence), or None."""
    decoder = json.JSONDecoder()
    start = reply.find("{")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(reply, start)
        except json.JSONDecodeError:
            start = reply.find("{", start + 1)
            continue
        return value  # type: ignore[no-any-return]
    return None


def json_field(field: str) -> Extractor:
    """An extractor reading ``field`` (dotted path, e.g. ``result.value``) from the first JSON
    object in a reply; the value is then normalized like ``auto`` (numbers, yes/no, text)."""
    path = [part for part in field.split(".") if part]
    if not path:
        raise ConfigError("a JSON field name is required, e.g. json:answer", field="--answer")

    def extract_json(reply: str) -> Answer:
        value: object = first_json_object(reply)
        for part in path:
            if not isinstance(value, dict) or part not in value:
                return NO_ANSWER
            value = value[part]
        if value is None or isinstance(value, dict | list):
            return NO_ANSWER
        if isinstance(value, bool):
            value = "yes" if value else "no"
        return extract_auto(f"Answer: {value}")

    return extract_json


EXTRACTORS: dict[str, Extractor] = {
    "auto": extract_auto,
    "number": extract_number,
    "choice": extract_choice,
    "yesno": extract_yes_no,
    "text": extract_text,
}


def get_extractor(kind: str | Extractor) -> Extractor:
    """An extractor by name; ``json:FIELD`` reads a field of a JSON reply."""
    if callable(kind):
        return kind
    if kind.startswith("json:") or kind == "json":
        return json_field(kind.partition(":")[2] or "answer")
    if kind not in EXTRACTORS:
        raise ConfigError(
            f"unknown answer type {kind!r}; one of: {', '.join(EXTRACTORS)}, json:FIELD",
            field="--answer",
        )
    return EXTRACTORS[kind]


def register_extractor(name: str, extractor: Extractor) -> None:
    """Make ``extractor`` available by name (``lmteams ask --answer NAME`` and the Python API)."""
    EXTRACTORS[name] = extractor
