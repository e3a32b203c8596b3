"""Numbers as people write them: digits with separators and currency, fractions, and words.

:func:`numbers_in` lists every number a text states, in order, each as a canonical key
(``"1,000.00"`` -> ``"1000"``, ``"3/4"`` -> ``"0.75"``, ``"forty-two"`` -> ``"42"``,
``"one hundred and five"`` -> ``"105"``). Currency signs, percent signs and units around a number
are ignored: a person reads "$1,000.00" and "1000 dollars" as the number 1000. Pure; the
patterns are compiled once.
"""

from __future__ import annotations

import re
from fractions import Fraction

# "1,000", "-3.50", "3/4", "2e3", "1 000" is not a number (two numbers), "−5" (unicode minus)
NUMBER = re.compile(
    r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?(?:e[-+]?\d+)?",
    re.IGNORECASE,
)
_SIMPLE = re.compile(r"[-+]?\d+")

UNITS = {
    w: i
    for i, w in enumerate(
        (
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
            *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"),
            *("seventeen", "eighteen", "nineteen"),
        )
    )
}
TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fourty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
NUMBER_WORDS = frozenset(UNITS) | frozenset(TENS) | frozenset(SCALES)
_WORDS = "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_WORD_RUN = re.compile(rf"\b(?:{_WORDS})(?:(?:\s+and\s+|[\s-]+)(?:{_WORDS}))*\b", re.IGNORECASE)
# Words so common as something else that alone they are not a stated number ("one of them").
_WEAK = frozenset({"one"})


def canonical(raw: str) -> str | None:
    """The canonical key of one number written with digits, or None if it is not one."""
    raw = raw.replace(",", "").replace("−", "-").replace(" ", "")
    if _SIMPLE.fullmatch(raw):
        return str(int(raw))
    try:
        value = Fraction(raw) if "/" in raw else Fraction(str(float(raw)))
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.10g}"


def words_value(text: str) -> int | None:
    """The value of a run of number words ("forty-two", "one hundred and five"), or None."""
    total = current = 0
    seen = False
    last_small = -1  # the last unit or tens value, to refuse "two three" or "twenty thirty"
    for word in re.split(r"[\s-]+", text.lower()):
        if word == "and" or not word:
            continue
        if word in UNITS or word in TENS:
            value = UNITS.get(word, TENS.get(word, 0))
            if last_small != -1 and not (last_small >= 20 and last_small % 10 == 0 and value < 10):
                return None
            current += value
            last_small = value
        elif word in SCALES:
            scale = SCALES[word]
            if scale == 100:
                current = max(current, 1) * 100
            else:
                total += max(current, 1) * scale
                current = 0
            last_small = -1
        else:
            return None
        seen = True
    return total + current if seen else None


def numbers_in(text: str) -> list[tuple[int, str]]:
    """Every number ``text`` states, as (position, canonical key), in order of position."""
    found: list[tuple[int, str]] = []
    for match in NUMBER.finditer(text):
        key = canonical(match.group(0))
        if key is not None:
            found.append((match.start(), key))
    if any(ch.isalpha() for ch in text):
        for match in _WORD_RUN.finditer(text):
            run = match.group(0)
            if run.lower() in _WEAK and found:  # "one of the 3 cases" states 3, not 1
                continue
            value = words_value(run)
            if value is not None:
                found.append((match.start(), str(value)))
        found.sort()
    return found


def last_number(text: str) -> str | None:
    """The canonical key of the last number written with digits in ``text``."""
    found = [key for key in map(canonical, NUMBER.findall(text)) if key is not None]
    return found[-1] if found else None
