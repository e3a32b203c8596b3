from __future__ import annotations

import pytest

from lmteams.scheduling.imports import (
    code_imports,
    effective_graph,
    imported_modules,
    missing_module,
    module_owners,
    undeclared_imports,
)
from lmteams.scheduling.project import load_project, parse_project

from .test_graph import STUDY


def study(name: str):  # type: ignore[no-untyped-def]
    return load_project(next(p for p in STUDY if p.stem == name))


def test_svgutils_p09_effective_p_is_075() -> None:
    project = study("svgutils_p09")
    edges = undeclared_imports(project)
    assert len(edges) == 19
    graph = effective_graph(project, edges)
    assert graph is not None
    assert project.graph().p == pytest.approx(0.9)
    assert (graph.c, graph.p) == (5, pytest.approx(0.75))


def test_svgutils_p05_has_12_undeclared_edges_not_implied_by_the_chain() -> None:
    project = study("svgutils_p05")
    edges = undeclared_imports(project)
    assert len(edges) == 12
    # task-5 imports fmt_points (task-3), already ordered through task-4: not an edge
    assert not any(e.task == "task-5" for e in edges)
    assert {(e.task, e.provider) for e in edges if e.task == "task-11"} == {
        ("task-11", "task-10"),
        ("task-11", "task-9"),
    }


@pytest.mark.parametrize("name", ["mathutilities20_p05", "dataanalysis_p09"])
def test_declared_projects_have_no_undeclared_imports(name: str) -> None:
    assert undeclared_imports(study(name)) == []


def tiny(a_desc: str = "", b_desc: str = ""):  # type: ignore[no-untyped-def]
    return parse_project(
        {
            "tasks": [
                {"id": "a", "files": ["alpha.py"], "description": a_desc},
                {"id": "b", "files": ["pkg/beta.py"], "description": b_desc},
            ]
        },
        source="t",
    )


def test_imports_in_written_code_count_after_a_run() -> None:
    project = tiny()
    assert undeclared_imports(project) == []
    code = {"alpha.py": "import os\nfrom pkg.beta import f\n", "pkg/beta.py": "x = 1\n"}
    edges = undeclared_imports(project, code)
    assert [(e.task, e.provider, e.module, e.source) for e in edges] == [
        ("a", "b", "pkg.beta", "alpha.py")
    ]


def test_mutual_imports_make_no_effective_graph() -> None:
    project = tiny("Use: from pkg.beta import f", "import alpha")
    edges = undeclared_imports(project)
    assert len(edges) == 2
    assert effective_graph(project, edges) is None


def test_prose_and_code_import_forms() -> None:
    assert imported_modules("Imports: from a import x, from b import y. import c, d") == [
        "a",
        "b",
        "c",
        "d",
    ]
    assert code_imports("import a.b\nfrom . import c\nfrom d import e\n") == ["a.b", "d"]
    assert code_imports("def broken(:\n") == []


def test_missing_module_names_the_providing_task() -> None:
    owners = module_owners(tiny())
    assert owners == {"alpha": "a", "pkg.beta": "b"}
    error = "E   ModuleNotFoundError: No module named 'alpha'"
    assert missing_module(error, owners) == ("alpha", "a")
    error = "ImportError: cannot import name 'f' from 'pkg.beta' (/w/pkg/beta.py)"
    assert missing_module(error, owners) == ("pkg.beta", "b")
    assert missing_module("ModuleNotFoundError: No module named 'numpy'", owners) is None
    assert missing_module("AssertionError", owners) is None
