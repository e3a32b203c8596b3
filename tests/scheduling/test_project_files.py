"""Projects that bring files: the files_dir field, --files, and what may be copied."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lmteams.errors import ConfigError
from lmteams.scheduling.project import brought_files, load_project


def write_project(folder: Path, **fields: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "project.json"
    path.write_text(json.dumps({"tasks": [{"id": "a", "files": ["a.py"]}], **fields}))
    return path


def test_files_dir_is_relative_to_the_project_file(tmp_path: Path) -> None:
    path = write_project(tmp_path / "p", files_dir="tests")
    (tmp_path / "p" / "tests" / "sub").mkdir(parents=True)
    (tmp_path / "p" / "tests" / "test_a.py").write_text("from a import *\n")
    (tmp_path / "p" / "tests" / "sub" / "data.txt").write_text("1\n")
    (tmp_path / "p" / "tests" / "__pycache__").mkdir()
    (tmp_path / "p" / "tests" / "__pycache__" / "x.pyc").write_bytes(b"\0")
    project = load_project(path)
    assert project.files_dir == str((tmp_path / "p" / "tests").resolve())
    assert brought_files(project) == {"test_a.py": "from a import *\n", "sub/data.txt": "1\n"}
    assert project.suite_command() == "{python} -m pytest -q"


def test_suite_command_defaults() -> None:
    from lmteams.scheduling.project import parse_project

    plain = parse_project({"tasks": [{"id": "a"}]}, source="t")
    assert plain.suite_command() is None
    checked = parse_project({"check": "make test", "tasks": [{"id": "a"}]}, source="t")
    assert checked.suite_command() == "make test"
    per_task = parse_project(
        {"check": "pytest test_{module}.py", "tasks": [{"id": "a"}]}, source="t"
    )
    assert per_task.suite_command() is None
    chosen = parse_project({"suite": "tox", "check": "x", "tasks": [{"id": "a"}]}, source="t")
    assert chosen.suite_command() == "tox"


def test_a_missing_files_folder_is_one_line(tmp_path: Path) -> None:
    path = write_project(tmp_path / "p", files_dir="tests")
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert (
        str(info.value)
        == f"{path}: files_dir: files folder {tmp_path / 'p' / 'tests'} does not exist"
    )


def test_a_files_dir_that_is_a_file(tmp_path: Path) -> None:
    path = write_project(tmp_path / "p", files_dir="project.json")
    with pytest.raises(ConfigError, match="files_dir: .* is not a folder"):
        load_project(path)


@pytest.mark.parametrize("escape", ["../outside", "/etc", "tests/../../outside"])
def test_a_files_dir_outside_the_project_folder_is_refused(tmp_path: Path, escape: str) -> None:
    (tmp_path / "outside").mkdir()
    (tmp_path / "p" / "tests").mkdir(parents=True)
    path = write_project(tmp_path / "p", files_dir=escape)
    with pytest.raises(ConfigError) as info:
        load_project(path)
    assert "files_dir: must be a folder inside the project file's folder" in str(info.value)


def test_with_files_takes_any_folder_the_user_names(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p"))
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "test_a.py").write_text("x = 1\n")
    assert brought_files(project.with_files(tmp_path / "elsewhere")) == {"test_a.py": "x = 1\n"}
    with pytest.raises(ConfigError, match="--files: files folder .* does not exist"):
        project.with_files(tmp_path / "nowhere")


def test_links_and_binary_files_are_refused(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path / "p"))
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "blob.bin").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="blob.bin: not a UTF-8 text file"):
        brought_files(project.with_files(folder))
    (folder / "blob.bin").unlink()
    os.symlink("/etc/hostname", folder / "link.txt")
    with pytest.raises(ConfigError, match="link.txt: links are not copied"):
        brought_files(project.with_files(folder))
