"""Free-text answers grouped by meaning, so that two wordings of one answer share one vote.

Extraction (:mod:`lmteams.consensus.answers`) makes equal answers compare equal; grouping goes
further for short text: answers whose similarity reaches a threshold land in one group, whose
representative (the wording given most often, first on ties) is the answer shown. Similarity is
normalized edit distance, token overlap, or the cosine of embeddings computed elsewhere (the
shell asks a configured model for them). Numbers and yes/no are never merged by similarity:
"100" and "1000" look alike and mean different things.

Grouping is a partition: single linkage over every pair, so the result does not depend on the
order of the answers (only the representative's tie-break does). Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Literal

from lmteams.consensus.answers import Answer
from lmteams.errors import ConfigError

Similarity = Literal["exact", "edit", "tokens", "embedding"]
SIMILARITIES: tuple[str, ...] = ("exact", "edit", "tokens", "embedding")
DEFAULT_THRESHOLDS: dict[str, float] = {"edit": 0.8, "tokens": 0.6, "embedding": 0.92}

_NUMERIC = re.compile(r"^[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?$")
_TOKEN = re.compile(r"[a-z0-9]+")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions), two rows of memory."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str) -> float:
    """1 - edit distance / length of the longer string (1.0 for equal strings)."""
    if a == b:
        return 1.0
    return 1.0 - levenshtein(a, b) / max(len(a), len(b))


def token_similarity(a: str, b: str) -> float:
    """Jaccard overlap of the two strings' word sets."""
    ta, tb = set(_TOKEN.findall(a.lower())), set(_TOKEN.findall(b.lower()))
    if not ta and not tb:
        return 1.0 if a == b else 0.0
    return len(ta & tb) / len(ta | tb)


def cosine(u: Sequence[float], v: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(u, v, strict=True))
    nu = math.sqrt(sum(x * x for x in u))
    nv = math.sqrt(sum(y * y for y in v))
    return dot / (nu * nv) if nu and nv else 0.0


TEXT_METRICS: dict[str, Callable[[str, str], float]] = {
    "edit": edit_similarity,
    "tokens": token_similarity,
}


def mergeable(key: str) -> bool:
    """Only free text is merged by similarity; numbers and yes/no keep exact equality."""
    return bool(key) and key not in ("yes", "no") and not _NUMERIC.match(key)


def group_keys(keys: Sequence[str], similar: Callable[[str, str], bool]) -> dict[str, str]:
    """Map each distinct non-empty key to its group's representative key.

    ``keys`` holds one entry per vote (repeats count); the representative is the most frequent
    key of its group, the earliest on ties.
    """
    distinct: list[str] = []
    count: dict[str, int] = {}
    for key in keys:
        if not key:
            continue
        if key not in count:
            distinct.append(key)
            count[key] = 0
        count[key] += 1
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, a in enumerate(distinct):
        if not mergeable(a):
            continue
        for j in range(i + 1, len(distinct)):
            b = distinct[j]
            if mergeable(b) and root(i) != root(j) and similar(a, b):
                parent[max(root(i), root(j))] = min(root(i), root(j))
    best: dict[int, str] = {}
    for index, key in enumerate(distinct):  # first-seen order, so ties keep the earliest
        r = root(index)
        if r not in best or count[key] > count[best[r]]:
            best[r] = key
    return {key: best[root(i)] for i, key in enumerate(distinct)}


def regroup(answers: Sequence[Answer], mapping: Mapping[str, str]) -> list[Answer]:
    """Answers with keys replaced by their group's representative key and wording."""
    wording: dict[str, str] = {}
    for answer in answers:
        if answer.key and answer.key not in wording:
            wording[answer.key] = answer.text
    out = []
    for answer in answers:
        target = mapping.get(answer.key, answer.key)
        out.append(Answer(target, wording.get(target, answer.text)) if answer.key else answer)
    return out


def group_by_text(
    answers: Sequence[Answer], metric: str = "edit", threshold: float | None = None
) -> list[Answer]:
    """Merge free-text answers whose ``metric`` similarity is at least ``threshold``."""
    if metric == "exact":
        return list(answers)
    if metric not in TEXT_METRICS:
        raise ConfigError(
            f"unknown text similarity {metric!r}; one of: exact, {', '.join(TEXT_METRICS)}",
            field="similarity",
        )
    score = TEXT_METRICS[metric]
    limit = DEFAULT_THRESHOLDS[metric] if threshold is None else threshold
    mapping = group_keys([a.key for a in answers], lambda a, b: score(a, b) >= limit)
    return regroup(answers, mapping)


def group_by_vectors(
    answers: Sequence[Answer],
    vectors: Mapping[str, Sequence[float]],
    threshold: float | None = None,
) -> list[Answer]:
    """Merge free-text answers whose embeddings (by answer key) have cosine >= ``threshold``.

    A key without a vector is only ever equal to itself.
    """
    limit = DEFAULT_THRESHOLDS["embedding"] if threshold is None else threshold

    def similar(a: str, b: str) -> bool:
        va, vb = vectors.get(a), vectors.get(b)
        return va is not None and vb is not None and cosine(va, vb) >= limit

    return regroup(answers, group_keys([a.key for a in answers], similar))
