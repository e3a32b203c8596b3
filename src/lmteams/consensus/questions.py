"""A mixed question set for teamwork benchmarks: knowledge, arithmetic, dates, string
manipulation and logic, each with one exact answer.

Knowledge questions come from a fixed table of well-known facts with one-word answers (so a
person and :mod:`lmteams.consensus.scoring` agree on what counts as right); the other kinds are
computed by the generator. Each item's ``kind`` is one of :data:`KINDS` (the names routing by
kind uses). Generation is seeded and deterministic. Pure: no I/O.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Callable, Mapping, Sequence

from lmteams.consensus.datasets import GENERATORS as BASIC
from lmteams.consensus.datasets import Item, generate

KINDS: tuple[str, ...] = ("knowledge", "arithmetic", "dates", "strings", "logic")

FACTS: tuple[tuple[str, str], ...] = (
    *(
        (f"What is the capital of {country}?", capital)
        for country, capital in (
            ("France", "Paris"),
            ("Japan", "Tokyo"),
            ("Italy", "Rome"),
            ("Germany", "Berlin"),
            ("Spain", "Madrid"),
            ("Canada", "Ottawa"),
            ("Australia", "Canberra"),
            ("Egypt", "Cairo"),
            ("Russia", "Moscow"),
            ("China", "Beijing"),
            ("the United Kingdom", "London"),
            ("Greece", "Athens"),
            ("Portugal", "Lisbon"),
            ("Kenya", "Nairobi"),
            ("Norway", "Oslo"),
            ("Ireland", "Dublin"),
            ("Poland", "Warsaw"),
            ("Austria", "Vienna"),
            ("Sweden", "Stockholm"),
            ("Peru", "Lima"),
            ("Thailand", "Bangkok"),
            ("Cuba", "Havana"),
        )
    ),
    *(
        (f"What is the chemical symbol for {element}?", symbol)
        for element, symbol in (
            ("gold", "Au"),
            ("silver", "Ag"),
            ("iron", "Fe"),
            ("sodium", "Na"),
            ("helium", "He"),
            ("copper", "Cu"),
            ("lead", "Pb"),
        )
    ),
    ("Which planet is the largest in our solar system?", "Jupiter"),
    ("Which planet is closest to the Sun?", "Mercury"),
    ("Which planet is known as the Red Planet?", "Mars"),
    ("Which planet is famous for its large rings?", "Saturn"),
    ("What is the largest ocean on Earth?", "Pacific"),
    ("What is the fastest land animal?", "cheetah"),
    ("What is the tallest animal in the world?", "giraffe"),
    ("What colour do you get by mixing blue and yellow?", "green"),
    ("What colour do you get by mixing red and white?", "pink"),
    ("What colour is a ripe banana?", "yellow"),
    ("On which continent is Egypt?", "Africa"),
    ("On which continent is Japan?", "Asia"),
    ("In which country is the Eiffel Tower?", "France"),
    ("What language is mainly spoken in Brazil?", "Portuguese"),
    ("What is the largest organ of the human body?", "skin"),
    ("Which metal is liquid at room temperature?", "mercury"),
    ("What is the hardest natural substance?", "diamond"),
    ("What is frozen water called?", "ice"),
    ("What is the opposite of hot?", "cold"),
    ("How many days are there in a week?", "7"),
    ("How many months are there in a year?", "12"),
    ("How many minutes are there in an hour?", "60"),
    ("How many sides does a triangle have?", "3"),
    ("How many sides does a hexagon have?", "6"),
    ("How many legs does a spider have?", "8"),
    ("How many continents are there on Earth?", "7"),
    ("How many planets are in our solar system?", "8"),
    ("At what temperature in degrees Celsius does water freeze?", "0"),
    ("At what temperature in degrees Celsius does water boil at sea level?", "100"),
)

_WORDS = (
    *("apple", "banana", "cherry", "grape", "lemon", "mango", "melon", "orange", "peach"),
    *("pear", "plum", "tiger", "zebra", "horse", "mouse", "river", "garden", "window"),
    *("pencil", "rocket", "planet", "silver", "candle", "butter", "forest", "yellow"),
)
_PEOPLE = ("Anna", "Ben", "Carla", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jack")
_WEEKDAYS = tuple(calendar.day_name)  # Monday .. Sunday
_MONTHS = tuple(calendar.month_name)[1:]  # January .. December

Generator = Callable[[random.Random], Item]


def knowledge(rng: random.Random) -> Item:
    question, answer = rng.choice(FACTS)
    return Item(question=question, answer=answer, kind="knowledge")


def arithmetic(rng: random.Random) -> Item:
    form = rng.randrange(5)
    if form == 0:
        a, b = rng.randint(12, 99), rng.randint(12, 99)
        question, value = f"What is {a} + {b}?", a + b
    elif form == 1:
        a, b = sorted((rng.randint(12, 99), rng.randint(12, 99)), reverse=True)
        question, value = f"What is {a} - {b}?", a - b
    elif form == 2:
        a, b = rng.randint(3, 12), rng.randint(3, 12)
        question, value = f"What is {a} × {b}?", a * b
    elif form == 3:
        a, b = rng.randint(11, 25), rng.randint(3, 9)
        question, value = f"What is {a} × {b}?", a * b
    else:
        b, value = rng.randint(2, 9), rng.randint(2, 12)
        question = f"What is {b * value} divided by {b}?"
    return Item(question=question, answer=str(value), kind="arithmetic")


def dates(rng: random.Random) -> Item:
    form = rng.randrange(5)
    if form == 0:
        start, days = rng.randrange(7), rng.randint(1, 6)
        return Item(
            question=f"What day of the week is {days} days after {_WEEKDAYS[start]}?",
            answer=_WEEKDAYS[(start + days) % 7],
            kind="dates",
        )
    if form == 1:
        month, year = rng.randint(1, 12), rng.randint(1990, 2030)
        return Item(
            question=f"How many days are there in {_MONTHS[month - 1]} {year}?",
            answer=str(calendar.monthrange(year, month)[1]),
            kind="dates",
        )
    if form == 2:
        year = rng.choice([rng.randint(1900, 2099), 4 * rng.randint(475, 524)])
        return Item(
            question=f"Is {year} a leap year?",
            answer="yes" if calendar.isleap(year) else "no",
            kind="dates",
        )
    if form == 3:
        year, later = rng.randint(1950, 2020), rng.randint(3, 40)
        return Item(
            question=f"What year is {later} years after {year}?",
            answer=str(year + later),
            kind="dates",
        )
    month, later = rng.randrange(12), rng.randint(1, 5)
    return Item(
        question=f"Which month comes {later} months after {_MONTHS[month]}?",
        answer=_MONTHS[(month + later) % 12],
        kind="dates",
    )


def strings(rng: random.Random) -> Item:
    word = rng.choice(_WORDS)
    form = rng.randrange(5)
    if form == 0:
        return Item(
            question=f"Spell the word '{word}' backwards.", answer=word[::-1], kind="strings"
        )
    if form == 1:
        return Item(
            question=f"How many letters are in the word '{word}'?",
            answer=str(len(word)),
            kind="strings",
        )
    if form == 2:
        return Item(
            question=f"What is the last letter of the word '{word}'?",
            answer=word[-1],
            kind="strings",
        )
    if form == 3:
        letter = rng.choice(sorted(set(word)))
        return Item(
            question=f"How many times does the letter '{letter}' appear in '{word}'?",
            answer=str(word.count(letter)),
            kind="strings",
        )
    other = rng.choice([w for w in _WORDS if w[0] != word[0]])
    return Item(
        question=f"Which word comes first in alphabetical order, {word} or {other}?",
        answer=min(word, other),
        kind="strings",
    )


def logic(rng: random.Random) -> Item:
    form = rng.randrange(5)
    if form == 0:
        a, b, c = rng.sample(_PEOPLE, 3)
        tallest = rng.random() < 0.5
        return Item(
            question=f"{a} is taller than {b}. {b} is taller than {c}. "
            f"Who is the {'tallest' if tallest else 'shortest'}?",
            answer=a if tallest else c,
            kind="logic",
        )
    if form == 1:
        n = rng.randint(2, 60)
        prime = n > 1 and all(n % d for d in range(2, int(n**0.5) + 1))
        return Item(
            question=f"Is {n} a prime number?", answer="yes" if prime else "no", kind="logic"
        )
    if form == 2:
        x, y = rng.sample(range(10, 100), 2)
        return Item(
            question=f"Which number is larger, {x} or {y}?", answer=str(max(x, y)), kind="logic"
        )
    if form == 3:
        start, step = rng.randint(1, 20), rng.randint(2, 9)
        shown = ", ".join(str(start + step * i) for i in range(4))
        return Item(
            question=f"What number comes next in the sequence {shown}?",
            answer=str(start + step * 4),
            kind="logic",
        )
    group = rng.choice(("cats", "dogs", "birds", "robots", "poets", "pilots"))
    trait = rng.choice(("happy", "clever", "fast", "tall"))
    name = rng.choice(_PEOPLE)
    follows = rng.random() < 0.5
    premise = f"All {group} are {trait}." if follows else f"Some {group} are {trait}."
    return Item(
        question=f"{premise} {name} is one of the {group}. Must {name} be {trait}?",
        answer="yes" if follows else "no",
        kind="logic",
    )


GENERATORS: dict[str, Generator] = {
    "knowledge": knowledge,
    "arithmetic": arithmetic,
    "dates": dates,
    "strings": strings,
    "logic": logic,
}


def mixed(n: int, *, seed: int = 0, kinds: Sequence[str] = KINDS) -> list[Item]:
    """``n`` questions cycling through ``kinds`` (no question repeated while that is possible)."""
    return generate(kinds, n, seed=seed, generators=GENERATORS)


#: The generated question sets, by name (``lmteams dataset --set``): ``basic``, the
#: self-checking arithmetic, unit and ordering questions; ``mixed``, the teamwork set above.
QUESTION_SETS: dict[str, Mapping[str, Generator]] = {"basic": BASIC, "mixed": GENERATORS}
