"""Self-checking evaluation questions (arithmetic, unit conversions, ordering) and the dataset
format: JSON Lines of ``{"question": ..., "answer": ...}``.

Generated questions have one exact answer computed by the generator, so a team can be scored
with no download. Each names how its answer is read (``answer_type``: ``number`` for numbers,
``choice`` for the lettered word-order questions), so a reply that states its number inside a
sentence still counts. Generation is seeded and deterministic. Pure: parsing takes text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmteams.errors import ConfigError
from lmteams.limits import MAX_TEXT_CHARS, load_json


class Item(BaseModel):
    """One dataset line. ``answer_type`` names the extractor used to compare answers."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    question: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    answer: str = Field(max_length=MAX_TEXT_CHARS)
    kind: str = ""
    answer_type: str | None = None


Generator = Callable[[random.Random], Item]
MAX_GENERATED = 1_000_000


def arithmetic(rng: random.Random) -> Item:
    op = rng.choice(["+", "-", "*"])
    if op == "*":
        a, b = rng.randint(2, 12), rng.randint(2, 12)
        value = a * b
    else:
        a, b = rng.randint(2, 60), rng.randint(2, 40)
        if op == "-" and b > a:
            a, b = b, a
        value = a + b if op == "+" else a - b
    shown = "×" if op == "*" else op
    return Item(
        question=f"What is {a} {shown} {b}?",
        answer=str(value),
        kind="arithmetic",
        answer_type="number",
    )


_UNITS: tuple[tuple[str, str, int], ...] = (
    ("meters", "centimeters", 100),
    ("kilometers", "meters", 1000),
    ("kilograms", "grams", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("feet", "inches", 12),
    ("liters", "milliliters", 1000),
    ("dozens", "items", 12),
)


def units(rng: random.Random) -> Item:
    big, small, factor = rng.choice(_UNITS)
    amount = rng.randint(2, 9)
    return Item(
        question=f"How many {small} are in {amount} {big}?",
        answer=str(amount * factor),
        kind="units",
        answer_type="number",
    )


_WORDS = (
    *("apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "orange", "peach"),
    *("pear", "plum", "cat", "dog", "fox", "horse", "lion", "mouse", "owl", "tiger", "whale"),
    "zebra",
)


def ordering(rng: random.Random) -> Item:
    form = rng.randrange(3)
    if form == 2:
        a, b = rng.sample(_WORDS, 2)
        return Item(
            question=f"Which word comes first in alphabetical order? A) {a} B) {b}",
            answer="A" if a < b else "B",
            kind="ordering",
            answer_type="choice",
        )
    numbers = rng.sample(range(1, 100), rng.choice([2, 3]))
    listed = ", ".join(map(str, numbers))
    if form == 0:
        return Item(
            question=f"Which is the largest number: {listed}?",
            answer=str(max(numbers)),
            kind="ordering",
            answer_type="number",
        )
    return Item(
        question=f"Which is the smallest number: {listed}?",
        answer=str(min(numbers)),
        kind="ordering",
        answer_type="number",
    )


GENERATORS: dict[str, Generator] = {
    "arithmetic": arithmetic,
    "units": units,
    "ordering": ordering,
}


def parse_kinds(text: str, generators: Mapping[str, Generator] = GENERATORS) -> list[str]:
    """Comma-separated kinds, each one of ``generators``' names."""
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    check_kinds(kinds, generators)
    return kinds


def check_kinds(kinds: Sequence[str], generators: Mapping[str, Generator]) -> None:
    for kind in kinds:
        if kind not in generators:
            raise ConfigError(
                f"unknown question kind {kind!r}; one of: {', '.join(generators)}",
                field="--kinds",
            )
    if not kinds:
        raise ConfigError("name at least one question kind", field="--kinds")


def generate(
    kinds: Sequence[str],
    n: int,
    *,
    seed: int = 0,
    generators: Mapping[str, Generator] = GENERATORS,
) -> list[Item]:
    """``n`` questions cycling through ``kinds``, no question repeated (when possible)."""
    if n < 1:
        raise ConfigError("generate at least one question", field="-n")
    if n > MAX_GENERATED:
        raise ConfigError(f"generate at most {MAX_GENERATED:,} questions", field="-n")
    check_kinds(kinds, generators)
    return draw_distinct(generators, kinds, n, seed)


def draw_distinct(
    generators: Mapping[str, Generator], kinds: Sequence[str], n: int, seed: int
) -> list[Item]:
    """``n`` items cycling through ``kinds``, none repeated while that is possible (a kind
    with few distinct questions repeats after 50 draws per item)."""
    rng = random.Random(seed)
    items: list[Item] = []
    seen: set[str] = set()
    attempts = 0
    while len(items) < n:
        item = generators[kinds[len(items) % len(kinds)]](rng)
        attempts += 1
        if item.question in seen and attempts < 50 * n:
            continue
        seen.add(item.question)
        items.append(item)
    return items


def to_jsonl(items: Sequence[Item]) -> str:
    return "".join(json.dumps(item.model_dump(exclude_none=True)) + "\n" for item in items)


def parse_dataset(text: str, *, source: str) -> list[Item]:
    """Validate JSON Lines; every problem names the file and the line."""
    items: list[Item] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        where = f"line {number}"
        data = load_json(line, source=source, field=where)
        if not isinstance(data, dict):
            raise ConfigError(
                'each line must be an object {"question": ..., "answer": ...}',
                source=source,
                field=where,
            )
        if "answer" in data and not isinstance(data["answer"], str):
            data = {**data, "answer": json.dumps(data["answer"])}
        try:
            items.append(Item.model_validate(data))
        except ValidationError as exc:
            error = exc.errors()[0]
            name = ".".join(str(p) for p in error["loc"])
            problem = "required field is missing" if error["type"] == "missing" else error["msg"]
            raise ConfigError(f"{name}: {problem}", source=source, field=where) from None
    if not items:
        raise ConfigError("the dataset has no questions", source=source)
    return items
