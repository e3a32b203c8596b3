"""Question kinds and how well each node answers each kind: the rules of routing by kind.

:func:`classify` sorts a question into one of :data:`KINDS` by rules on its words (dates first,
since a date question holds numbers; then strings, arithmetic, logic; anything else is
knowledge). A node's accuracy on a kind is learned from labeled questions:
``(right + 2 p) / (answered + 2)``, a Beta prior worth two answers centred on the node's
accuracy over all kinds ``p`` (itself smoothed towards 1/2), so a kind seen a few times leans on
what the node does elsewhere.

Routing ranks the nodes for a kind: the most accurate first, except that nodes within
``margin`` of the best count as equally good, and among those the cheapest (price, then model
size) goes first. Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

KINDS: tuple[str, ...] = ("arithmetic", "dates", "strings", "logic", "knowledge")

_MONTHS = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
]
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DATES = re.compile(
    r"\b(?:date|dates|calendar|leap year|day of the week|what day|weekday|days? (?:after|"
    r"before|from|between|until|since|later|ago)|weeks? (?:after|before|from|later|ago)|"
    r"century|decade|(?:19|20)\d\d-\d\d-\d\d|\d{1,2}/\d{1,2}/\d{2,4})\b"
)
_STRINGS = re.compile(
    r"\b(?:letters?|characters?|spell(?:ed|ing)?|spelt|revers(?:e|ed|ing)|backwards?|"
    r"upper ?case|lower ?case|capitali[sz]e|vowels?|consonants?|palindromes?|anagrams?|"
    r"alphabetical(?:ly)?|strings?|substrings?|acronym|initials?|concatenat\w*|"
    r"first letter|last letter|rhymes?)\b"
)
_ARITHMETIC = re.compile(
    r"\d\s*(?:[-+*/×÷^%]|\*\*)\s*\(?\s*-?\d|\b(?:plus|minus|times|divided by|multiplied by|"
    r"sum of|product of|difference between|quotient|remainder|square root|squared|cubed|"
    r"percent|per cent|average of|mean of|how many \w+ (?:are )?in|how much|total cost|"
    r"factorial|modulo|power of|prime|divisible|multiple of|even or odd)\b|\d\s*% of"
)
_CONNECTIVES = re.compile(
    r"\b(?:if|then|all|some|none|every|no one|implies|therefore|either|neither|"
    r"true or false|must|cannot|only if)\b"
)
_COMPARISONS = re.compile(r"\b\w+er than\b|\b(?:left|right) of\b")
_ORDERING = re.compile(
    r"\b(?:largest|smallest|biggest|greatest|least|most|highest|lowest|larger|smaller|"
    r"bigger|greater|higher|lower|more|fewer|less|sort|order)\b"
)


def classify(question: str) -> str:
    """The kind of ``question``: one of :data:`KINDS`, by rules on its words."""
    text = " ".join(question.lower().split())
    words = set(re.findall(r"[a-z]+", text))
    has_digit = any(ch.isdigit() for ch in text)
    if _DATES.search(text) or words & set(_WEEKDAYS) or (has_digit and words & set(_MONTHS)):
        return "dates"
    if _STRINGS.search(text):
        return "strings"
    if has_digit and _ARITHMETIC.search(text):
        return "arithmetic"
    if _ARITHMETIC.search(text) and re.search(r"\b(?:one|two|three|four|five|ten)\b", text):
        return "arithmetic"
    if (
        len(_CONNECTIVES.findall(text)) >= 2
        or len(_COMPARISONS.findall(text)) >= 2
        or (has_digit and _ORDERING.search(text))
    ):
        return "logic"
    return "knowledge"


@dataclass(frozen=True, slots=True)
class KindTable:
    """Labeled answers per (node, kind): how many were right of how many given."""

    counts: Mapping[tuple[str, str], tuple[int, int]] = field(default_factory=dict)

    def answered(self, node: str, kind: str) -> int:
        return self.counts.get((node, kind), (0, 0))[1]

    def overall(self, node: str) -> float:
        """The node's accuracy over every kind, smoothed towards 1/2 by two answers."""
        right = sum(r for (n, _), (r, _) in self.counts.items() if n == node)
        seen = sum(a for (n, _), (_, a) in self.counts.items() if n == node)
        return (right + 1.0) / (seen + 2.0)

    def accuracy(self, node: str, kind: str) -> float:
        right, seen = self.counts.get((node, kind), (0, 0))
        return (right + 2.0 * self.overall(node)) / (seen + 2.0)

    def weight(self, node: str, kind: str) -> float:
        """A vote's weight: the log-odds of the node's accuracy on the kind, at least 0.05
        (a node worse than a coin still breaks no tie against a better one)."""
        p = min(max(self.accuracy(node, kind), 0.02), 0.98)
        return max(math.log(p / (1.0 - p)), 0.05)


def fit_table(rows: Sequence[tuple[str, str, bool]]) -> KindTable:
    """A table from ``(node, kind, right)`` rows, one per labeled answer."""
    counts: dict[tuple[str, str], tuple[int, int]] = {}
    for node, kind, right in rows:
        r, a = counts.get((node, kind), (0, 0))
        counts[(node, kind)] = (r + int(right), a + 1)
    return KindTable(counts)


def needs_exploration(
    table: KindTable, kind: str, nodes: Sequence[str], min_labels: int
) -> list[str]:
    """The nodes with fewer than ``min_labels`` labeled answers of ``kind`` (each must answer
    until the table knows it)."""
    return [n for n in nodes if table.answered(n, kind) < min_labels]


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([mb])(?![a-z])")


def model_size(*names: str) -> float | None:
    """Parameters of a model, read from its names ("qwen2.5-coder-0.5b" -> 5e8), if stated."""
    for name in names:
        match = _SIZE.search(name.lower())
        if match:
            return float(match.group(1)) * (1e6 if match.group(2) == "m" else 1e9)
    return None


def rank_nodes(
    nodes: Sequence[str],
    kind: str,
    table: KindTable,
    cost: Mapping[str, tuple[float, float]],
    margin: float,
) -> list[str]:
    """Nodes in the order to ask them about ``kind``: best first, cheapest among the nodes
    within ``margin`` of the best still unranked. ``cost`` is (price, size) per node; team
    order breaks the remaining ties."""
    position = {n: i for i, n in enumerate(nodes)}
    left = list(nodes)
    order: list[str] = []
    while left:
        best = max(table.accuracy(n, kind) for n in left)
        band = [n for n in left if table.accuracy(n, kind) >= best - margin - 1e-12]
        band.sort(key=lambda n: (*cost.get(n, (0.0, math.inf)), position[n]))
        order += band
        left = [n for n in left if n not in band]
    return order
