"""Fault plans: what each call of each node suffers under a ``faults:`` section or ``--inject``.

Pure: a :class:`NodeFaults` decides, call by call and from its own seeded random stream, whether
the node is crashed, fails the call, or corrupts the reply (garbage, or a plausible wrong answer
for Byzantine nodes). :mod:`lmteams.faults.injection.injector` carries those decisions out around a
runtime; the simulator draws from the same streams (:func:`consume_corruption`).

``--inject`` syntax, one or more items separated by ``;`` (or repeated flags)::

    NODE:EFFECT[,EFFECT...]      NODE is a node name, role:NAME or *
    seed=N                       seed of every node's random stream

    effects: crash=K  hang=K  slow=F  error=P[/KIND]  retry_after=S
             garbage=P  byzantine=P  wrong=TEXT
    e.g.     n1:crash=3;n2:slow=10;role:critic:error=0.2/rate_limited;n4:byzantine=1
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import TYPE_CHECKING, Any, get_args

from pydantic import ValidationError

from lmteams.errors import ConfigError
from lmteams.faults.config import ErrorKind, FaultRule, FaultsSpec, check_references

if TYPE_CHECKING:
    from lmteams.config import TeamSpec

FLAG = "--inject"


class Action(StrEnum):
    PROCEED = "proceed"
    CRASHED = "crashed"
    ERROR = "error"
    GARBAGE = "garbage"
    BYZANTINE = "byzantine"
    REPLY = "reply"  # the reply passes unchanged


def rule_for(faults: FaultsSpec, node: str, role: str) -> FaultRule | None:
    """The most specific rule for a node: its name, then ``role:ROLE``, then ``*``."""
    for key in (node, f"role:{role}", "*"):
        rule = faults.nodes.get(key)
        if rule is not None:
            return rule
    return None


class NodeFaults:
    """Fault state of one node: its rule, its call counts and its random stream."""

    __slots__ = ("crashed", "finished", "name", "rng", "rule")

    def __init__(self, name: str, rule: FaultRule, seed: int) -> None:
        self.name = name
        self.rule = rule
        # One stream per node, independent of the order in which nodes are called.
        self.rng = random.Random(seed * 1_000_003 + zlib.crc32(name.encode()))
        self.finished = 0
        self.crashed = rule.crash_after == 0

    def on_start(self) -> Action:
        """A call arrives: is the node down, does this call fail, or does it proceed?"""
        if self.crashed:
            return Action.CRASHED
        if self.rule.error_rate and self.rng.random() < self.rule.error_rate:
            return Action.ERROR
        return Action.PROCEED

    def on_finish(self) -> bool:
        """A call finished (replied or failed); True when the node crashes right now."""
        self.finished += 1
        if (
            not self.crashed
            and self.rule.crash_after is not None
            and self.finished >= self.rule.crash_after
        ):
            self.crashed = True
            return True
        return False

    def corrupt(self) -> Action:
        """What happens to a reply that the model produced."""
        rule = self.rule
        if rule.garbage_rate and self.rng.random() < rule.garbage_rate:
            return Action.GARBAGE
        if rule.byzantine_rate and self.rng.random() < rule.byzantine_rate:
            return Action.BYZANTINE
        return Action.REPLY


# -- corrupted replies ---------------------------------------------------------------------


def garbage(rng: random.Random) -> str:
    """A reply that is clearly broken: empty, looping, or noise."""
    kind = rng.randrange(4)
    if kind == 0:
        return ""
    if kind == 1:
        word = rng.choice(["the", "answer", "and", "so", "42"])
        return " ".join([word] * rng.randint(40, 120))
    if kind == 2:
        return "".join(rng.choice("#@!%&*{}[]<>~^") for _ in range(rng.randint(30, 120)))
    return '{"answer": ' + "[" * rng.randint(5, 20)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_YES_NO = re.compile(r"\b(yes|no|true|false)\b", re.I)
_CHOICE = re.compile(r"\b([A-E])\b(?=\)|\.|\s*$)")
_ANSWER_LINE = re.compile(r"(answer\s*[:=]\s*)(.+)$", re.I | re.M)
_FLIP = {"yes": "no", "no": "yes", "true": "false", "false": "true"}


def consume_corruption(faults: NodeFaults) -> Action:
    """What happens to a reply, drawing from the node's stream exactly as the injector does
    (it also draws the garbage text), so a simulated run makes the same fault decisions."""
    action = faults.corrupt()
    if action is Action.GARBAGE:
        garbage(faults.rng)
    elif action is Action.BYZANTINE:
        wrong_answer("", faults.rng, faults.rule.wrong_answer)
    return action


def _same_case(template: str, word: str) -> str:
    if template.isupper():
        return word.upper()
    if template[:1].isupper():
        return word.capitalize()
    return word


def wrong_answer(text: str, rng: random.Random, fixed: str | None = None) -> str:
    """``text`` with its final answer replaced by a plausible wrong one (a Byzantine reply).

    With ``fixed``, the answer becomes ``fixed`` (colluding Byzantine nodes agree on it). Else
    the last number moves by a small non-zero amount, yes/no flips, or a choice letter changes.
    """
    answer_lines = list(_ANSWER_LINE.finditer(text))
    if fixed is not None:
        if answer_lines:
            last = answer_lines[-1]
            return text[: last.start(2)] + fixed + text[last.end(2) :]
        return fixed
    # Corrupt inside the final answer when there is one, else anywhere in the text.
    start = answer_lines[-1].start(2) if answer_lines else 0
    head, tail = text[:start], text[start:]
    numbers = list(_NUMBER.finditer(tail))
    if numbers:
        match = numbers[-1]
        raw = match.group(0).replace(",", "")
        delta = rng.choice([-3, -2, -1, 1, 2, 3, 10])
        value: Any = float(raw) + delta if "." in raw else int(raw) + delta
        return head + tail[: match.start()] + str(value) + tail[match.end() :]
    flips = list(_YES_NO.finditer(tail))
    if flips:
        match = flips[-1]
        word = match.group(1)
        return (
            head
            + tail[: match.start()]
            + _same_case(word, _FLIP[word.lower()])
            + tail[match.end() :]
        )
    choices = list(_CHOICE.finditer(tail))
    if choices:
        match = choices[-1]
        letter = match.group(1)
        other = rng.choice([c for c in "ABCD" if c != letter])
        return head + tail[: match.start()] + other + tail[match.end() :]
    if answer_lines:
        return head + "not " + tail
    return "Answer: not " + text.strip()[:80]


# -- the --inject syntax ---------------------------------------------------------------------

_ERROR_KINDS: tuple[str, ...] = get_args(ErrorKind)


def _number(value: str, effect: str) -> float:
    text = value.strip().lower().removesuffix("x")
    percent = text.endswith("%")
    try:
        number = float(text.removesuffix("%"))
    except ValueError:
        raise ConfigError(f"{effect}={value}: not a number", field=FLAG) from None
    return number / 100 if percent else number


def _effects(target: str, text: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip().lower()
        if not eq:
            raise ConfigError(f"{target}: {part!r} needs a value, e.g. crash=3", field=FLAG)
        if name in ("crash", "hang"):
            fields["crash_after"] = int(_number(value, name))
            fields["crash_mode"] = "refuse" if name == "crash" else "hang"
        elif name == "slow":
            fields["slow"] = _number(value, name)
        elif name == "error":
            rate, _, kind = value.partition("/")
            fields["error_rate"] = _number(rate, name)
            if kind:
                if kind not in _ERROR_KINDS:
                    raise ConfigError(
                        f"{target}: unknown error kind {kind!r}; one of {', '.join(_ERROR_KINDS)}",
                        field=FLAG,
                    )
                fields["error"] = kind
        elif name == "retry_after":
            fields["retry_after_s"] = _number(value, name)
        elif name == "garbage":
            fields["garbage_rate"] = _number(value, name)
        elif name == "byzantine":
            fields["byzantine_rate"] = _number(value, name)
        elif name == "wrong":
            fields["wrong_answer"] = value
        else:
            raise ConfigError(
                f"{target}: unknown effect {name!r}; known: crash, hang, slow, error, "
                "retry_after, garbage, byzantine, wrong",
                field=FLAG,
            )
    if not fields:
        raise ConfigError(f"{target}: no effect given, e.g. {target}:crash=3", field=FLAG)
    return fields


def parse_inject(specs: Iterable[str]) -> FaultsSpec:
    """Parse ``--inject`` values into a :class:`FaultsSpec` (one clear error per problem)."""
    seed = 0
    rules: dict[str, FaultRule] = {}
    for spec in specs:
        for item in (i.strip() for i in spec.split(";")):
            if not item:
                continue
            if item.lower().startswith("seed="):
                seed = int(_number(item[5:], "seed"))
                continue
            head, colon, rest = item.partition(":")
            if head == "role" and colon:
                role, colon, rest = rest.partition(":")
                head = f"role:{role}"
            if not colon or not head or head == "role:":
                raise ConfigError(
                    f"{item!r}: expected NODE:EFFECT=VALUE, e.g. n1:crash=3", field=FLAG
                )
            fields = _effects(head, rest)
            try:
                rule = FaultRule(
                    **{**(rules[head].model_dump() if head in rules else {}), **fields}
                )
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(p) for p in error["loc"])
                raise ConfigError(f"{head}: {where}: {error['msg']}", field=FLAG) from None
            rules[head] = rule
    return FaultsSpec(seed=seed, nodes=rules)


def merge(base: FaultsSpec | None, extra: FaultsSpec) -> FaultsSpec:
    """``extra``'s rules over ``base``'s (a flag over the team file)."""
    if base is None:
        return extra
    seed = extra.seed if extra.seed else base.seed
    return FaultsSpec(seed=seed, nodes={**base.nodes, **extra.nodes})


def apply_inject(team: TeamSpec, specs: Sequence[str]) -> TeamSpec:
    """The team with ``--inject`` values added to its ``faults:`` section, references checked."""
    if not specs:
        return team
    faults = merge(team.faults, parse_inject(specs))
    try:
        check_references(
            node_names=team.node_names,
            roles={node.role for node in team.nodes},
            models=set(team.models),
            faults=faults,
            resilience=None,
        )
    except ValueError as exc:
        raise ConfigError(str(exc).removeprefix("faults.nodes."), field=FLAG) from None
    return team.model_copy(update={"faults": faults})
