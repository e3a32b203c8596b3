"""The shape of a project: what `lmteams analyze` reports, from Python."""

from __future__ import annotations

import pytest

from lmteams.analysis.shape import project_shape, written_code
from lmteams.scheduling.project import parse_project
from lmteams.state.store import EventStore

CHAIN = {
    "project": "chain",
    "tasks": [
        {"id": "a", "files": ["alpha.py"], "estimate_s": 10},
        {"id": "b", "files": ["beta.py"], "estimate_s": 20, "dependencies": ["a"]},
        {"id": "c", "files": ["gamma.py"], "estimate_s": 30},
        {"id": "d", "files": ["delta.py"], "estimate_s": 40, "description": "from beta import f"},
    ],
}


def test_the_shape_of_a_timed_project() -> None:
    shape = project_shape(parse_project(CHAIN, source="t"), max_workers=4)
    assert (shape.project, shape.n_tasks, shape.critical_path) == ("chain", 4, 2)
    assert shape.p == 0.5 and shape.has_estimates
    assert shape.total_time == 100 and shape.critical_path_time == 40
    assert [r.n for r in shape.by_workers] == [1, 2, 3, 4]
    one, two = shape.by_workers[:2]
    assert (one.lower_bound, one.amdahl, one.dag_speedup) == (4, 1.0, 1.0)
    assert (two.lower_bound, two.amdahl) == (2, pytest.approx(1.3333, abs=1e-4))
    assert one.lower_bound_time == 100
    # d imports b's module without depending on it: a -> b -> d is the effective chain
    assert [(e.task, e.imports, e.from_task) for e in shape.undeclared_imports] == [
        ("d", "beta", "b")
    ]
    assert shape.effective_critical_path == 3 and shape.effective_p == 0.25


def test_untimed_and_cyclic_imports() -> None:
    tasks = [
        {"id": "a", "files": ["alpha.py"], "description": "import beta"},
        {"id": "b", "files": ["beta.py"], "description": "import alpha"},
    ]
    shape = project_shape(parse_project({"tasks": tasks}, source="t"), max_workers=2)
    assert not shape.has_estimates and shape.by_workers[0].lower_bound_time is None
    assert len(shape.undeclared_imports) == 2
    assert shape.effective_critical_path is None and shape.effective_p is None


def test_written_code_adds_its_imports(store: EventStore) -> None:
    tasks = [{"id": "a", "files": ["alpha.py"]}, {"id": "b", "files": ["beta.py"]}]
    project = parse_project({"tasks": tasks}, source="t")
    assert project_shape(project).undeclared_imports == []
    shape = project_shape(project, code={"alpha.py": "from beta import f\n"})
    assert [(e.task, e.from_task) for e in shape.undeclared_imports] == [("a", "b")]
    assert shape.effective_critical_path == 2
    run_id = store.new_run("run")
    for content in ("x = 1\n", "from beta import f\n"):  # the last version counts
        store.append(run_id, "file_written", {"task": "a", "path": "alpha.py", "content": content})
    store.flush()
    assert written_code(store, run_id) == {"alpha.py": "from beta import f\n"}
