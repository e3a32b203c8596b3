"""The package's layers, as the README draws them, checked on the source's import statements.

    cli  ->  features (coordinator, sim, strategies, serve, ...)  ->  the team (team, runtime,
    state, models, tools, ...)  ->  pure policies (scheduling, consensus, faults, routing)
    ->  the base (messages, config, errors and the settings leaves)

Every module of ``lmteams`` has a layer (the longest prefix in :data:`LAYER_OF`). Rules:

* a module-level import goes to the module's own layer or a lower one;
* no two components (a subpackage, or a module at the top of the package) import each other,
  directly or through others, at module level;
* importing :mod:`lmteams.config` loads base modules only (config is a leaf: the settings
  sections it holds import pydantic, the standard library and the error types).

What counts: ``import``/``from`` statements at module level, including those under ``if``,
``try`` and ``with`` at module level. Imports under ``if TYPE_CHECKING:`` are for annotations
only and never run, so they are not counted. Imports inside a function run late, when the call
is made; they are the usual way to hide a cycle, so they must point downward too, unless named
in :data:`LATE_UPWARD` with the reason (the list is short on purpose). ``from lmteams import
__version__`` reads a constant, not the API, and counts as an import of the base.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "lmteams"

BASE, POLICY, TEAM, FEATURE, INTERFACE = range(5)
NAMES = {BASE: "base", POLICY: "policy", TEAM: "team", FEATURE: "feature", INTERFACE: "interface"}

#: Module (or package) -> layer; a module takes the layer of its longest listed prefix.
LAYER_OF: dict[str, int] = {
    "lmteams": INTERFACE,  # the package root re-exports the public API of every layer
    "lmteams.cli": INTERFACE,
    # features: each drives a team (or reads the log) to do one job
    "lmteams.coordinator": FEATURE,
    "lmteams.sim": FEATURE,
    "lmteams.strategies": FEATURE,
    "lmteams.serve": FEATURE,
    "lmteams.export": FEATURE,
    "lmteams.analysis": FEATURE,
    "lmteams.resume": FEATURE,
    "lmteams.showcase": FEATURE,
    "lmteams.sync": FEATURE,
    # the team: the one door to the nodes, and what hosts, logs and runs them
    "lmteams.team": TEAM,
    "lmteams.node": TEAM,
    "lmteams.runtime": TEAM,
    "lmteams.state": TEAM,
    "lmteams.models": TEAM,
    "lmteams.tools": TEAM,
    "lmteams.sandbox": TEAM,
    "lmteams.sandbox_launch": TEAM,
    "lmteams.testing": TEAM,  # scripted teams and backends, a virtual clock, event helpers
    # the resilience layer: the shell the team's calls go through, around the pure fault
    # policies listed below
    "lmteams.faults": TEAM,
    # the shell that carries out routing's choices (called by the team)
    "lmteams.routing.dispatch": TEAM,
    # pure policies: state, an event and `now` in, a decision out
    "lmteams.scheduling": POLICY,
    "lmteams.consensus": POLICY,
    "lmteams.routing": POLICY,
    "lmteams.analysis.metrics": POLICY,
    "lmteams.faults.breaker": POLICY,
    "lmteams.faults.budget": POLICY,
    "lmteams.faults.detector": POLICY,
    "lmteams.faults.hedge": POLICY,
    "lmteams.faults.ratelimit": POLICY,
    "lmteams.faults.reroute": POLICY,
    "lmteams.faults.retry": POLICY,
    "lmteams.faults.validation": POLICY,
    "lmteams.faults.injection.rules": POLICY,
    # the base: messages, errors, config and the leaves config is made of
    "lmteams.errors": BASE,
    "lmteams.messages": BASE,
    "lmteams.config": BASE,
    "lmteams.limits": BASE,
    "lmteams.indexed": BASE,
    "lmteams.frozen": BASE,  # quick_init, for the frozen records of the hot path
    "lmteams.request": BASE,
    "lmteams.sandbox_settings": BASE,
    "lmteams.state.events": BASE,
    "lmteams.consensus.catalog": BASE,
    "lmteams.consensus.settings": BASE,
    "lmteams.faults.config": BASE,
    "lmteams.routing.settings": BASE,
    "lmteams.runtime.ray.settings": BASE,
    "lmteams.models.sampling": BASE,
}

#: (importer, imported) pairs whose function-level import may point upward, with the reason.
LATE_UPWARD: dict[tuple[str, str], str] = {
    ("lmteams.config", "lmteams.models.registry"): (
        "a team file's model settings are checked by their backend's own options model when "
        "the file loads; the registry finds backends, so config asks it only then"
    ),
}


@dataclass(frozen=True, slots=True)
class Import:
    importer: str
    imported: str
    line: int
    late: bool  # inside a function


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


#: The package's modules; ``lmteams/data`` holds data (the study's shipped tests and
#: solutions), not code of the package.
MODULES: dict[str, Path] = {
    module_name(p): p
    for p in sorted(PACKAGE.rglob("*.py"))
    if not p.is_relative_to(PACKAGE / "data")
}


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        layer = LAYER_OF.get(".".join(parts[:end]))
        if layer is not None and (end > 1 or module == "lmteams"):
            return layer
    return None


def component(module: str) -> str:
    """The unit a module belongs to: its longest prefix in :data:`LAYER_OF`, so a subpackage
    (``lmteams.coordinator.run`` -> ``lmteams.coordinator``), a top-level module, or a module
    with a layer of its own (``lmteams.faults.config``, a leaf inside its package)."""
    parts = module.split(".")
    for end in range(len(parts), 1, -1):
        if ".".join(parts[:end]) in LAYER_OF:
            return ".".join(parts[:end])
    return module


def _is_type_checking(test: ast.expr) -> bool:
    return ast.unparse(test).split(".")[-1] == "TYPE_CHECKING"


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
        return
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    if source == "lmteams" and [a.name for a in node.names] == ["__version__"]:
        yield "lmteams.errors"  # the version constant is not the API: count it as the base
        return
    yield source
    for alias in node.names:  # `from lmteams.state import store` imports the module store
        if f"{source}.{alias.name}" in MODULES:
            yield f"{source}.{alias.name}"


def imports_of(module: str) -> list[Import]:
    path = MODULES[module]
    found: list[Import] = []

    def visit(nodes: list[ast.stmt], late: bool) -> None:
        for node in nodes:
            if isinstance(node, ast.Import | ast.ImportFrom):
                for target in _targets(node, module, path.name == "__init__.py"):
                    if target.split(".")[0] == "lmteams" and target != module:
                        found.append(Import(module, _known(target), node.lineno, late))
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse, late)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(node.body, True)
            else:
                for field in ("body", "orelse", "finalbody", "handlers", "cases"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        visit([c for c in children if isinstance(c, ast.AST)], late)  # type: ignore[misc]

    visit(ast.parse(path.read_text(encoding="utf-8")).body, False)
    return found


def _known(target: str) -> str:
    """The module an import loads (``lmteams.x.Name`` is module ``lmteams.x``)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


ALL_IMPORTS: list[Import] = [i for m in MODULES for i in imports_of(m)]


def where(item: Import) -> str:
    return f"{MODULES[item.importer].relative_to(SRC.parent)}:{item.line}"


def test_every_module_has_a_layer() -> None:
    missing = [m for m in MODULES if layer_of(m) is None]
    assert not missing, f"give these modules a layer in LAYER_OF: {missing}"


def test_imports_point_down_the_layers() -> None:
    upward = []
    for item in ALL_IMPORTS:
        source, target = layer_of(item.importer), layer_of(item.imported)
        assert source is not None and target is not None
        if target > source and (item.importer, item.imported) not in LATE_UPWARD:
            late = " (inside a function)" if item.late else ""
            upward.append(
                f"{where(item)}: {item.importer} ({NAMES[source]}) imports "
                f"{item.imported} ({NAMES[target]}){late}"
            )
    assert not upward, "imports against the layers:\n" + "\n".join(upward)


def test_the_late_allow_list_is_still_needed() -> None:
    late = {(i.importer, i.imported) for i in ALL_IMPORTS if i.late}
    stale = [pair for pair in LATE_UPWARD if pair not in late]
    assert not stale, f"no longer imported: remove from LATE_UPWARD: {stale}"


def component_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for item in ALL_IMPORTS:
        a, b = component(item.importer), component(item.imported)
        if not item.late and a != b and "lmteams" not in (a, b):
            graph.setdefault(a, set()).add(b)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path that ends where it starts, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_no_import_cycles_between_components() -> None:
    cycle = find_cycle(component_graph())
    if cycle is None:
        return
    edges = []
    for a, b in itertools.pairwise(cycle):
        first = next(
            i
            for i in ALL_IMPORTS
            if not i.late and component(i.importer) == a and component(i.imported) == b
        )
        edges.append(f"{where(first)}: {first.importer} imports {first.imported}")
    pytest.fail("import cycle " + " -> ".join(cycle) + ":\n" + "\n".join(edges))


def test_find_cycle_finds_a_cycle_and_only_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_layer_of_takes_the_longest_prefix() -> None:
    assert layer_of("lmteams.faults.breaker") == POLICY
    assert layer_of("lmteams.faults.config") == BASE
    assert layer_of("lmteams.faults.injection.injector") == TEAM
    assert layer_of("lmteams.routing.roles") == POLICY
    assert layer_of("lmteams") == INTERFACE
    assert layer_of("lmteamsx.cli") is None


def loaded_by(module: str) -> set[str]:
    """Every module that importing ``module`` runs, by the module-level imports (the package
    root aside: it re-exports the API, so the test starts below it)."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        current = todo.pop()
        if current in seen or current not in MODULES or current == "lmteams":
            continue
        seen.add(current)
        parts = current.split(".")
        todo += [".".join(parts[:end]) for end in range(2, len(parts))]  # its packages run first
        todo += [i.imported for i in imports_of(current) if not i.late]
    return seen


def imports_anything(module: str) -> bool:
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    return any(
        isinstance(node, ast.Import | ast.ImportFrom) and node.module != "__future__"
        for node in tree.body
    )


def test_config_is_a_leaf() -> None:
    loaded = loaded_by("lmteams.config")
    assert {"lmteams.errors", "lmteams.routing.settings"} <= loaded
    above = sorted(
        m
        for m in loaded
        if layer_of(m) != BASE
        and not (MODULES[m].name == "__init__.py" and not imports_anything(m))
    )
    assert not above, f"importing lmteams.config runs modules above the base: {above}"


#: What pure code never imports (STYLE.md: no await, no I/O, no clock but the ``now`` passed in).
SHELL_ONLY = ("asyncio", "sqlite3", "ray", "rich", "matplotlib", "threading", "subprocess")


def test_policies_and_the_base_import_no_shell_machinery() -> None:
    found = []
    for module, path in MODULES.items():
        if layer_of(module) not in (BASE, POLICY):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [
                f"{path.relative_to(SRC.parent)}:{node.lineno}: {module} imports {name}"
                for name in names
                if name.split(".")[0] in SHELL_ONLY
            ]
    assert not found, "pure modules import shell machinery:\n" + "\n".join(found)
