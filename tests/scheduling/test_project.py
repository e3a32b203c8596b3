from __future__ import annotations

import json
from pathlib import Path

import pytest

from lmteams.errors import ConfigError
from lmteams.scheduling.project import TaskSpec, builtin_project, load_project


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_project_with_roles_estimates_and_checks(tmp_path: Path) -> None:
    project = load_project(
        write(
            tmp_path,
            "p.yaml",
            """
project: demo
check: python -c "pass"
tasks:
  - {id: a, files: [a.py], estimate_s: 2, role: coder, skills: [python]}
  - {id: b, dependencies: [a], check: "true"}
""",
        )
    )
    assert project.task("a").role == "coder" and project.task("a").estimate_s == 2
    assert project.check_for(project.task("a")) == 'python -c "pass"'
    assert project.check_for(project.task("b")) == "true"
    assert project.has_estimates


def test_shipped_project_loads() -> None:
    project = load_project(builtin_project("tiny-math"))
    assert project.graph().n == 5 and all(project.check_for(t) for t in project.tasks)


def test_json_errors_name_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 1, column 2: invalid JSON"):
        load_project(write(tmp_path, "p.json", "{nope"))


def test_duplicate_ids(tmp_path: Path) -> None:
    data = {"tasks": [{"id": "a"}, {"id": "a"}]}
    with pytest.raises(ConfigError, match="p.json: tasks: duplicate task id 'a'"):
        load_project(write(tmp_path, "p.json", json.dumps(data)))


def test_unknown_dependency(tmp_path: Path) -> None:
    data = {"tasks": [{"id": "a", "dependencies": ["b"]}]}
    with pytest.raises(ConfigError, match="unknown task 'b'"):
        load_project(write(tmp_path, "p.json", json.dumps(data)))


def test_cycle(tmp_path: Path) -> None:
    data = {"tasks": [{"id": "a", "dependencies": ["b"]}, {"id": "b", "dependencies": ["a"]}]}
    with pytest.raises(ConfigError, match="dependency cycle: .* -> .* -> "):
        load_project(write(tmp_path, "p.json", json.dumps(data)))


def test_empty_project(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tasks: the project has no tasks"):
        load_project(write(tmp_path, "p.yaml", "project: x\ntasks: []\n"))


def test_missing_tasks(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tasks: required field is missing"):
        load_project(write(tmp_path, "p.yaml", "project: x\n"))


def test_unsafe_file_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="relative path inside the workspace"):
        load_project(write(tmp_path, "p.yaml", "tasks: [{id: a, files: ['../x.py']}]\n"))


def test_unknown_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"tasks\[0\].colour: unknown field"):
        load_project(write(tmp_path, "p.yaml", "tasks: [{id: a, colour: red}]\n"))


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="nope.json: file not found"):
        load_project("nope.json")


def test_task_lookup_follows_copies_of_the_project() -> None:
    project = load_project(builtin_project("tiny-math"))
    assert project.task("add").check is not None  # builds the lookup before copying
    unchecked = project.model_copy(
        update={"tasks": tuple(t.model_copy(update={"check": None}) for t in project.tasks)}
    )
    assert unchecked.task("add").check is None


def test_equal_projects_stay_equal_after_a_task_lookup() -> None:
    warm = load_project(builtin_project("tiny-math"))
    cold = load_project(builtin_project("tiny-math"))
    warm.task(warm.tasks[0].id)
    assert warm == cold


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (("notes.md", "pkg/add.py", "sub.py"), "check pkg/add t7 t7"),  # the first .py file
        (("notes.md",), "check t7 t7 t7"),  # no Python file: the task's id
        ((), "check t7 t7 t7"),
    ],
)
def test_a_check_command_names_the_tasks_module_and_id(
    files: tuple[str, ...], expected: str
) -> None:
    task = TaskSpec(id="t7", files=files)
    assert task.fill_in("check {module} {task} {task}") == expected
