"""Random task graphs for what-if studies, at any size.

A generator spec names a shape and its parameters::

    random:layered:tasks=100000,layers=20,deps=2     L layers; each task needs DEPS tasks of
                                                     the layer before (C = L)
    random:chains:tasks=1000,p=0.9[,length=1]         one critical chain of C = N(1 - p) tasks,
                                                     the rest in chains of LENGTH (independent
                                                     tasks by default): p is exactly the study's
    random:forkjoin:tasks=1000,width=8               fork, WIDTH parallel tasks, join, repeated

Every shape also takes ``seed=S`` and ``dur=DIST`` (relative task sizes, e.g.
``dur=lognormal:1,0.5``; the default is equal tasks). Graphs are built edge by edge from
earlier tasks to later ones, so they are acyclic by construction and cost O(N + edges).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from lmteams.errors import ConfigError
from lmteams.scheduling.graph import TaskGraph
from lmteams.sim.latency import Dist, parse_dist

FLAG = "PROJECT"
MAX_TASKS = 2_000_000
SHAPES = ("layered", "chains", "forkjoin")


def is_generator(spec: str) -> bool:
    return spec.startswith("random:")


def _options(text: str) -> dict[str, str]:
    options: dict[str, str] = {}
    last: str | None = None
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, eq, value = part.partition("=")
        if not eq and last is not None and ":" in options[last]:
            options[last] += "," + part  # dur=lognormal:1,0.5: the comma was the value's
            continue
        if not eq or not key.strip():
            raise ConfigError(f"{part!r}: expected KEY=VALUE, e.g. tasks=1000", field=FLAG)
        last = key.strip().lower()
        options[last] = value.strip()
    return options


def _int(options: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = options.pop(key, None)
    if raw is None:
        return default
    try:
        value = int(float(raw.replace("_", "")))
    except ValueError:
        raise ConfigError(f"{key}={raw}: not a whole number", field=FLAG) from None
    if not low <= value <= high:
        raise ConfigError(f"{key}={raw}: must be between {low} and {high}", field=FLAG)
    return value


def generate(spec: str) -> TaskGraph:
    """Build the graph a ``random:SHAPE:OPTIONS`` spec describes (a clear error otherwise)."""
    _, _, rest = spec.partition(":")
    shape, _, text = rest.partition(":")
    shape = shape.strip().lower()
    if shape not in SHAPES:
        raise ConfigError(
            f"unknown graph shape {shape!r}; one of: {', '.join(SHAPES)} "
            "(e.g. random:layered:tasks=1000,layers=10)",
            field=FLAG,
        )
    options = _options(text)
    tasks = _int(options, "tasks", 100, 1, MAX_TASKS)
    seed = _int(options, "seed", 0, 0, 2**31)
    dur_text = options.pop("dur", None)
    durations: Dist | None = parse_dist(dur_text, FLAG, seconds=False) if dur_text else None
    rng = random.Random(seed)
    builders: dict[str, Callable[[int, dict[str, str], random.Random], list[list[int]]]] = {
        "layered": _layered,
        "chains": _chains,
        "forkjoin": _forkjoin,
    }
    deps = builders[shape](tasks, options, rng)
    if options:
        raise ConfigError(
            f"unknown option(s) for {shape}: {', '.join(sorted(options))}", field=FLAG
        )
    ids = tuple(f"t{i}" for i in range(tasks))
    graph_deps = {ids[i]: tuple(ids[d] for d in deps[i]) for i in range(tasks)}
    sizes: dict[str, float] = {}
    if durations is not None:
        for task in ids:
            value = durations.sample(rng.gauss(0.0, 1.0), rng.random())
            sizes[task] = max(value, 1e-6)
    return TaskGraph(ids, graph_deps, sizes)


def _layered(n: int, options: dict[str, str], rng: random.Random) -> list[list[int]]:
    layers = _int(options, "layers", min(10, n), 1, n)
    fan_in = _int(options, "deps", 2, 1, 1000)
    # Layer sizes as even as possible; every layer has at least one task, so C = layers.
    bounds = [round(i * n / layers) for i in range(layers + 1)]
    deps: list[list[int]] = []
    for layer in range(layers):
        start, end = bounds[layer], bounds[layer + 1]
        previous = range(bounds[layer - 1], start) if layer else range(0)
        for _ in range(start, end):
            if not previous:
                deps.append([])
                continue
            k = min(fan_in, len(previous))
            picks = {previous[rng.randrange(len(previous))] for _ in range(k)}
            deps.append(sorted(picks))
    return deps


def _chains(n: int, options: dict[str, str], rng: random.Random) -> list[list[int]]:
    raw_p = options.pop("p", "0.5")
    try:
        p = float(raw_p)
    except ValueError:
        raise ConfigError(f"p={raw_p}: not a number", field=FLAG) from None
    if not 0 <= p < 1:
        raise ConfigError(f"p={raw_p}: must be in [0, 1)", field=FLAG)
    critical = max(1, round(n * (1 - p)))
    length = _int(options, "length", 1, 1, critical)
    deps: list[list[int]] = [[]]
    deps.extend([i - 1] for i in range(1, critical))
    index = critical
    while index < n:
        run = min(length, n - index)
        deps.append([])
        deps.extend([j - 1] for j in range(index + 1, index + run))
        index += run
    return deps


def _forkjoin(n: int, options: dict[str, str], rng: random.Random) -> list[list[int]]:
    width = _int(options, "width", 8, 1, 1_000_000)
    deps: list[list[int]] = [[]]
    join = 0
    while len(deps) < n:
        branch = range(len(deps), min(n, len(deps) + width))
        deps.extend([join] for _ in branch)
        if len(deps) < n:
            deps.append(list(branch))
            join = len(deps) - 1
    return deps


def describe(graph: TaskGraph) -> str:
    return f"N = {graph.n} tasks, C = {graph.c}, p = {graph.p:.3f}"
