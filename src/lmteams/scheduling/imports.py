"""Dependencies a project file does not declare: imports of other tasks' modules.

The study's svgutils descriptions tell a task to ``from make_group import make_group`` while
``make_group``'s task is not among its ``dependencies``; such a task cannot pass a check before
that module exists. This module finds those edges, in descriptions (before a run) and in code
(after one), builds the graph with them (its effective C and p), and reads a failed check's
output for the task module it could not import. Pure text work.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from dataclasses import dataclass

from lmteams.scheduling.graph import TaskGraph
from lmteams.scheduling.project import ProjectSpec

_IMPORT = re.compile(
    r"\bfrom\s+([A-Za-z_][\w.]*)\s+import\b|(?<![\w.])import\s+([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)"
)
_MISSING = re.compile(r"No module named '([\w.]+)'|cannot import name '\w+' from '([\w.]+)'")


@dataclass(frozen=True, slots=True)
class ImportEdge:
    """``task`` imports ``module``, which is written by ``provider``; not a declared
    dependency (not even transitively)."""

    task: str
    module: str
    provider: str
    source: str  # "description" or a file path


def module_owners(project: ProjectSpec) -> dict[str, str]:
    """Python module name -> the task whose files create it (``pkg/mod.py`` -> ``pkg.mod``)."""
    owners: dict[str, str] = {}
    for task in project.tasks:
        for path in task.files:
            if path.endswith(".py"):
                module = path[:-3].replace("/", ".").removesuffix(".__init__")
                owners.setdefault(module, task.id)
    return owners


def imported_modules(text: str) -> list[str]:
    """Module names in ``import x`` / ``from x import y`` statements written in prose."""
    found: list[str] = []
    for match in _IMPORT.finditer(text):
        if match.group(1):
            found.append(match.group(1))
        else:
            found.extend(name.strip() for name in match.group(2).split(","))
    return list(dict.fromkeys(found))


def code_imports(source: str) -> list[str]:
    """Absolute imports in Python source (nothing for code that does not parse)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append(node.module)
    return list(dict.fromkeys(found))


def _owner(module: str, owners: Mapping[str, str]) -> str | None:
    parts = module.split(".")
    for size in range(len(parts), 0, -1):
        owner = owners.get(".".join(parts[:size]))
        if owner is not None:
            return owner
    return None


def undeclared_imports(
    project: ProjectSpec, code: Mapping[str, str] | None = None
) -> list[ImportEdge]:
    """Imports of another task's module that the declared graph does not already order
    (the provider is not a dependency, direct or transitive). With ``code`` (path ->
    source, e.g. a run's workspace) the written files are read too."""
    graph = project.graph()
    owners = module_owners(project)
    ancestors = _ancestors(graph)
    edges: list[ImportEdge] = []
    seen: set[tuple[str, str]] = set()

    def add(task: str, modules: list[str], source: str) -> None:
        for module in modules:
            provider = _owner(module, owners)
            if provider is None or provider == task or provider in ancestors[task]:
                continue
            if (task, provider) not in seen:
                seen.add((task, provider))
                edges.append(ImportEdge(task, module, provider, source))

    for task in project.tasks:
        add(task.id, imported_modules(task.description), "description")
    for path, source in sorted((code or {}).items()):
        writer = next((t.id for t in project.tasks if path in t.files), None)
        if writer is not None and path.endswith(".py"):
            add(writer, code_imports(source), path)
    return edges


def effective_graph(project: ProjectSpec, edges: list[ImportEdge]) -> TaskGraph | None:
    """The graph with the import edges added; None if they make a cycle."""
    extra: dict[str, list[str]] = {}
    for edge in edges:
        extra.setdefault(edge.task, []).append(edge.provider)
    durations = {t.id: t.estimate_s for t in project.tasks if t.estimate_s is not None}
    try:
        return TaskGraph.build(
            [(t.id, [*t.dependencies, *extra.get(t.id, [])]) for t in project.tasks], durations
        )
    except ValueError:
        return None


def missing_module(output: str, owners: Mapping[str, str]) -> tuple[str, str] | None:
    """(module, providing task) when a check failed importing a task's module
    (ModuleNotFoundError, or ImportError ``cannot import name ... from``); else None."""
    for match in _MISSING.finditer(output):
        module = match.group(1) or match.group(2)
        owner = _owner(module, owners)
        if owner is not None:
            return module, owner
    return None


def _ancestors(graph: TaskGraph) -> dict[str, set[str]]:
    result: dict[str, set[str]] = {}
    for task in graph.topological_order:
        found: set[str] = set()
        for dep in graph.deps[task]:
            found.add(dep)
            found |= result[dep]
        result[task] = found
    return result
