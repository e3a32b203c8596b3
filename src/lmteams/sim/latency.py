"""How long simulated calls take and how many tokens they use: distributions and who gets which.

A distribution maps a standard-normal draw ``z`` and a uniform draw ``u`` to a value, so the
simulator can hand the same draws to every team size (common random numbers: task 17's first
call is equally slow at n = 1 and n = 8, and speedups compare like with like).

``--latency`` syntax: items separated by ``;``, each ``DIST`` (everyone) or ``WHO=DIST``::

    DIST  2  constant:2  constant:500ms  lognormal:MEDIAN,SIGMA (or lognormal(MEDIAN,SIGMA))
          empirical:1.2,3.4,2.2
          empirical:@latencies.txt (one number per line, or a JSON list)
          calibrated:FILE[:MODEL] (from `lmteams calibrate`; without MODEL every node uses its
          own model's fit, or all models pooled)
    WHO   NODE  model:NAME  role:NAME  *    optionally .task, .claim or .lead for one kind
          of call; a bare task/claim/lead means that kind for everyone
    e.g.  lognormal:8,0.5;claim=constant:1;n3=constant:40;model:gpt=calibrated:cal.json:gpt

``--tokens`` syntax: the same, with ``[WHO.][KIND.]FIELD=DIST`` where FIELD is prompt or
completion, e.g. ``prompt=1200;completion=lognormal:300,0.5;claim.completion=6``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from lmteams.errors import ConfigError
from lmteams.sim.calibration import (
    Calibration,
    LatencyFit,
    ModelCalibration,
    load_calibration,
)

KINDS = ("task", "claim", "lead")
FIELDS = ("prompt", "completion")


# -- distributions ---------------------------------------------------------------------------


class Dist:
    """A distribution of non-negative values, sampled from given draws."""

    __slots__ = ()

    def sample(self, z: float, u: float) -> float:
        raise NotImplementedError

    @property
    def median(self) -> float:
        raise NotImplementedError

    @property
    def mean(self) -> float:
        raise NotImplementedError

    @property
    def varies(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Constant(Dist):
    value: float

    def sample(self, z: float, u: float) -> float:
        return self.value

    @property
    def median(self) -> float:
        return self.value

    @property
    def mean(self) -> float:
        return self.value

    @property
    def varies(self) -> bool:
        return False

    def __str__(self) -> str:
        return f"constant:{self.value:g}"


@dataclass(frozen=True, slots=True)
class LogNormal(Dist):
    median_value: float
    sigma: float

    def sample(self, z: float, u: float) -> float:
        return self.median_value * math.exp(self.sigma * z)

    @property
    def median(self) -> float:
        return self.median_value

    @property
    def mean(self) -> float:
        return self.median_value * math.exp(self.sigma**2 / 2)

    def __str__(self) -> str:
        return f"lognormal:{self.median_value:g},{self.sigma:g}"


@dataclass(frozen=True, slots=True)
class Empirical(Dist):
    values: tuple[float, ...]  # sorted

    def sample(self, z: float, u: float) -> float:
        return self.values[min(int(u * len(self.values)), len(self.values) - 1)]

    @property
    def median(self) -> float:
        return self.values[len(self.values) // 2]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    def __str__(self) -> str:
        return f"empirical:{len(self.values)} values, median {self.median:g}"


@dataclass(frozen=True, slots=True)
class Scaled(Dist):
    """Another distribution times a factor (a straggler, a task's relative size)."""

    inner: Dist
    factor: float

    def sample(self, z: float, u: float) -> float:
        return self.inner.sample(z, u) * self.factor

    @property
    def median(self) -> float:
        return self.inner.median * self.factor

    @property
    def mean(self) -> float:
        return self.inner.mean * self.factor


# -- what one node gets ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NodeLatency:
    """The latency of each kind of call on one node, and (calibrated) of multi-task calls."""

    task: Dist
    claim: Dist
    lead: Dist
    batch: LatencyFit | None = None  # calls that write k tasks (the rounds harness)

    def call(self, tasks: int, z: float, u: float) -> float:
        """A call that writes ``tasks`` tasks (0: a call that only reads or claims)."""
        if self.batch is not None:
            fit = self.batch
            return fit.median(tasks) * math.exp(fit.sigma * z)
        if tasks == 0:
            return self.claim.sample(z, u)
        return self.task.sample(z, u) * tasks


@dataclass(frozen=True, slots=True)
class NodeTokens:
    """(prompt, completion) distributions per kind of call on one node."""

    dists: Mapping[tuple[str, str], Dist]
    per_task_completion: float = 0.0  # the rounds harness: extra completion per task written
    # kind -> (prompt, completion): one lookup per simulated call instead of two
    pairs: dict[str, tuple[Dist, Dist]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        dists = self.dists
        pairs = {
            kind: (dists[(kind, "prompt")], dists[(kind, "completion")])
            for kind, part in dists
            if part == "prompt" and (kind, "completion") in dists
        }
        object.__setattr__(self, "pairs", pairs)

    def sample(self, kind: str, z: float, u: float) -> tuple[int, int]:
        prompt, completion = self.pairs[kind]
        return int(prompt.sample(z, u)), int(completion.sample(z, u))


@dataclass
class LatencyModel:
    """Latency per kind of call, for everyone and overridden per role, model or node."""

    default: dict[str, Dist]
    overrides: dict[str, dict[str, Dist]] = field(default_factory=dict)  # WHO -> kind -> dist
    # WHO -> calibrated fit; None: a plain distribution replaced that scope's fit
    batch: dict[str, LatencyFit | None] = field(default_factory=dict)
    calibrations: dict[str, ModelCalibration] = field(default_factory=dict)  # WHO -> model

    def for_node(self, node: str, model: str | None = None, role: str | None = None) -> NodeLatency:
        chosen = dict(self.default)
        batch = self.batch.get("*")
        for who in self._scopes(node, model, role):
            chosen.update(self.overrides.get(who, {}))
            if who in self.batch:
                batch = self.batch[who]
        return NodeLatency(chosen["task"], chosen["claim"], chosen["lead"], batch)

    def calibration_for(
        self, node: str, model: str | None = None, role: str | None = None
    ) -> ModelCalibration | None:
        found = self.calibrations.get("*")
        for who in self._scopes(node, model, role):
            found = self.calibrations.get(who, found)
        return found

    @staticmethod
    def _scopes(node: str, model: str | None, role: str | None) -> list[str]:
        scopes = []
        if role:
            scopes.append(f"role:{role}")
        if model:
            scopes.append(f"model:{model}")
        scopes.append(node)
        return scopes

    def describe(self) -> str:
        text = ", ".join(f"{k} {self.default[k]}" for k in KINDS)
        if self.overrides:
            text += "; overrides for " + ", ".join(sorted(self.overrides))
        return text


@dataclass
class TokenModel:
    default: dict[tuple[str, str], Dist]
    overrides: dict[str, dict[tuple[str, str], Dist]] = field(default_factory=dict)
    per_task_completion: dict[str, float] = field(default_factory=dict)  # WHO -> tokens

    def for_node(self, node: str, model: str | None = None, role: str | None = None) -> NodeTokens:
        chosen = dict(self.default)
        per_task = self.per_task_completion.get("*", 0.0)
        for who in LatencyModel._scopes(node, model, role):
            chosen.update(self.overrides.get(who, {}))
            per_task = self.per_task_completion.get(who, per_task)
        return NodeTokens(chosen, per_task)


DEFAULT_TOKENS: dict[tuple[str, str], Dist] = {
    ("task", "prompt"): Constant(1000.0),
    ("task", "completion"): Constant(300.0),
    ("claim", "prompt"): Constant(500.0),
    ("claim", "completion"): Constant(6.0),
    ("lead", "prompt"): Constant(700.0),
    ("lead", "completion"): Constant(60.0),
}


# -- parsing ---------------------------------------------------------------------------------


def _number(text: str, flag: str, *, seconds: bool) -> float:
    raw = text.strip().lower()
    scale = 1.0
    if seconds and raw.endswith("ms"):
        raw, scale = raw[:-2], 0.001
    elif seconds and raw.endswith("s"):
        raw = raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        raise ConfigError(f"{text.strip()!r} is not a number", field=flag) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"{text.strip()!r} must be a finite number >= 0", field=flag)
    return value


def _read_values(path: str, flag: str) -> list[float]:
    from lmteams.limits import MAX_DATASET_BYTES, load_json, read_text

    try:
        text = read_text(path, max_bytes=MAX_DATASET_BYTES)
        stripped = text.strip()
        data = load_json(stripped, source=path) if stripped.startswith("[") else None
    except ConfigError as exc:
        raise ConfigError(str(exc), field=flag) from None
    if isinstance(data, list):
        return [_number(str(v), flag, seconds=False) for v in data]
    values = []
    for line in stripped.splitlines():
        cell = line.split(",")[0].strip()
        if cell and not cell.startswith("#"):
            values.append(_number(cell, flag, seconds=False))
    return values


_CALL = re.compile(r"\s*([A-Za-z]+)\s*\((.*)\)\s*")


def parse_dist(text: str, flag: str = "--latency", *, seconds: bool = True) -> Dist:
    """One distribution: ``2``, ``constant:2``, ``lognormal:M,S``, ``empirical:...``; the
    call form ``lognormal(M,S)`` reads the same."""
    called = _CALL.fullmatch(text)
    if called:
        text = f"{called.group(1)}:{called.group(2)}"
    head, colon, rest = text.strip().partition(":")
    name = head.strip().lower()
    if not colon:
        if name.isalpha():  # a word, not a number: most likely a distribution's name
            raise ConfigError(
                f"{text.strip()!r} is neither a number nor a distribution such as "
                "constant:2, lognormal:8,0.5 or empirical:1,2,3",
                field=flag,
            )
        return Constant(_number(head, flag, seconds=seconds))
    if name == "constant":
        return Constant(_number(rest, flag, seconds=seconds))
    if name == "lognormal":
        parts = rest.split(",")
        if len(parts) != 2:
            raise ConfigError(
                f"lognormal needs MEDIAN,SIGMA, e.g. lognormal:8,0.5; got {text.strip()!r}",
                field=flag,
            )
        median = _number(parts[0], flag, seconds=seconds)
        sigma = _number(parts[1], flag, seconds=False)
        if median <= 0:
            raise ConfigError("lognormal median must be > 0", field=flag)
        if sigma > 5:
            raise ConfigError(f"lognormal sigma {sigma:g} is implausibly large (max 5)", field=flag)
        return LogNormal(median, sigma)
    if name == "empirical":
        if rest.startswith("@"):
            values = _read_values(rest[1:], flag)
        else:
            values = [_number(v, flag, seconds=seconds) for v in rest.split(",") if v.strip()]
        if not values:
            raise ConfigError(
                f"empirical distribution with no values: {text.strip()!r}", field=flag
            )
        return Empirical(tuple(sorted(values)))
    raise ConfigError(
        f"unknown distribution {head!r}; one of: constant, lognormal, empirical, calibrated "
        "(or a plain number)",
        field=flag,
    )


def _calibrated(rest: str, flag: str) -> tuple[str, str | None]:
    path, _, model = rest.partition(":")
    # Windows-style drive letters aside, "FILE:MODEL"; a model name never contains '/'.
    if not path:
        raise ConfigError("calibrated needs a file: calibrated:FILE[:MODEL]", field=flag)
    return path, (model or None)


def _split_who(key: str, flag: str, allowed_kinds: Sequence[str]) -> tuple[str, str | None]:
    """'claim' -> ('*', 'claim'); 'n3.lead' -> ('n3', 'lead'); 'model:x' -> ('model:x', None)."""
    key = key.strip()
    if key in allowed_kinds:
        return "*", key
    who, dot, kind = key.rpartition(".")
    if dot and kind in allowed_kinds:
        return (who or "*"), kind
    if not key:
        raise ConfigError("empty name before '='", field=flag)
    return key, None


def _calibrated_latency(model: ModelCalibration) -> dict[str, Dist]:
    fit = model.latency
    return {
        "task": LogNormal(max(fit.median(1), 1e-6), fit.sigma),
        "claim": LogNormal(max(fit.median(0), 1e-6), fit.sigma),
        "lead": LogNormal(max(fit.median(0), 1e-6), fit.sigma),
    }


def parse_latency(text: str, flag: str = "--latency") -> LatencyModel:
    """Parse a ``--latency`` value (see the module docstring)."""
    if not text.strip():
        raise ConfigError("empty latency spec, e.g. --latency lognormal:8,0.5", field=flag)
    model = LatencyModel(default={k: Constant(1.0) for k in KINDS})
    for item in (i.strip() for i in text.split(";")):
        if not item:
            continue
        key, eq, value = item.partition("=")
        if not eq:
            key, value = "*", item
        who, kind = _split_who(key, flag, KINDS)
        head, colon, rest = value.strip().partition(":")
        if head.strip().lower() == "calibrated" and colon:
            path, name = _calibrated(rest, flag)
            calibration = load_calibration(path)
            if who == "*" and name is None and kind is None:
                _apply_calibration(model, who, kind, calibration)
                continue
            chosen = calibration.model(name)
            _set(model, who, kind, _calibrated_latency(chosen))
            if kind is None:
                model.batch[who] = chosen.latency
                model.calibrations[who] = chosen
            continue
        dist = parse_dist(value, flag)
        _set(model, who, kind, {k: dist for k in KINDS})
    return model


def calibrated_latency(calibration: Calibration, model: str | None = None) -> LatencyModel:
    """Everyone on one model's fit (or each node on its own model's, with ``model=None``)."""
    out = LatencyModel(default={k: Constant(1.0) for k in KINDS})
    if model is None:
        _apply_calibration(out, "*", None, calibration)
    else:
        fit = calibration.model(model)
        _set(out, "*", None, _calibrated_latency(fit))
        out.batch["*"] = fit.latency
        out.calibrations["*"] = fit
    return out


def calibrated_tokens(calibration: Calibration, model: str | None = None) -> TokenModel:
    out = TokenModel(default=dict(DEFAULT_TOKENS))
    if model is None:
        _token_calibration(out, "*", calibration.pooled)
        for name, fit in calibration.models.items():
            _token_calibration(out, f"model:{name}", fit)
    else:
        _token_calibration(out, "*", calibration.model(model))
    return out


def _apply_calibration(
    model: LatencyModel, who: str, kind: str | None, calibration: Calibration
) -> None:
    # every node gets its own model's fit when it has one, the pooled fit otherwise
    _set(model, "*", None, _calibrated_latency(calibration.pooled))
    model.batch["*"] = calibration.pooled.latency
    model.calibrations["*"] = calibration.pooled
    for model_name, fit in calibration.models.items():
        scope = f"model:{model_name}"
        model.overrides[scope] = _calibrated_latency(fit)
        model.batch[scope] = fit.latency
        model.calibrations[scope] = fit


def _set(model: LatencyModel, who: str, kind: str | None, dists: Mapping[str, Dist]) -> None:
    chosen = {kind: dists[kind]} if kind else dict(dists)
    if who == "*":
        model.default.update(chosen)
        if kind is None:
            model.batch.pop("*", None)
    else:
        model.overrides.setdefault(who, {}).update(chosen)
        if kind is None:
            model.batch[who] = None


def parse_tokens(text: str | None, flag: str = "--tokens") -> TokenModel:
    """Parse a ``--tokens`` value; None or empty gives the defaults."""
    model = TokenModel(default=dict(DEFAULT_TOKENS))
    if not text:
        return model
    for item in (i.strip() for i in text.split(";")):
        if not item:
            continue
        key, eq, value = item.partition("=")
        head, colon, rest = (value if eq else item).strip().partition(":")
        if head.strip().lower() == "calibrated" and colon:
            path, name = _calibrated(rest, flag)
            calibration = load_calibration(path)
            who = key.strip() if eq else "*"
            if who == "*" and name is None:
                _token_calibration(model, "*", calibration.pooled)
                for model_name, fit in calibration.models.items():
                    _token_calibration(model, f"model:{model_name}", fit)
            else:
                _token_calibration(model, who, calibration.model(name))
            continue
        if not eq:
            raise ConfigError(
                f"{item!r}: expected [WHO.][KIND.]FIELD=DIST, e.g. completion=300", field=flag
            )
        parts = key.strip().split(".")
        if parts[-1] not in FIELDS:
            raise ConfigError(
                f"{key.strip()!r}: must end with prompt or completion, e.g. claim.completion=6",
                field=flag,
            )
        token_field = parts.pop()
        kind = parts.pop() if parts and parts[-1] in KINDS else None
        who = ".".join(parts) or "*"
        dist = parse_dist(value, flag, seconds=False)
        kinds = [kind] if kind else list(KINDS)
        target = model.default if who == "*" else model.overrides.setdefault(who, {})
        for k in kinds:
            target[(k, token_field)] = dist
    return model


def _token_calibration(model: TokenModel, who: str, fit: ModelCalibration) -> None:
    tokens = fit.tokens
    dists: dict[tuple[str, str], Dist] = {}
    for kind in KINDS:
        dists[(kind, "prompt")] = Constant(tokens.prompt_per_call)
        per_task = tokens.completion_per_task if kind == "task" else 0.0
        dists[(kind, "completion")] = Constant(tokens.completion_per_call + per_task)
    if who == "*":
        model.default.update(dists)
    else:
        model.overrides.setdefault(who, {}).update(dists)
    model.per_task_completion[who] = tokens.completion_per_task
