"""Projects: a goal and a graph of tasks, read from the study's JSON format or from YAML.

The study's files (``../shared/paper/tasks/*.json``) load unchanged. A task may carry an
expected duration (``estimate_s``), the role and skills it needs, and a check command; a
project may carry a check command for every task and sandbox limits for checks.

A project may also bring files (``files_dir``: tests, fixtures, starter code), a folder
relative to the project file and inside its folder; they are copied into the workspace before
the run and are read-only to nodes, except a path a task declares in its own ``files``
(starter code that task fills in). ``suite`` is the command that runs the whole project's
tests once at the end of every run (default: pytest when the project brings files).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from lmteams.config import format_location
from lmteams.errors import ConfigError
from lmteams.indexed import IndexedModel
from lmteams.limits import MAX_TEXT_CHARS, load_json, load_yaml, read_text
from lmteams.sandbox_settings import SandboxLimits
from lmteams.scheduling.graph import GraphError, TaskGraph

MAX_CANDIDATES = 16


class TaskSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1, max_length=128)
    title: str = Field("", max_length=1000)
    description: str = Field("", max_length=MAX_TEXT_CHARS)
    dependencies: tuple[str, ...] = ()
    files: tuple[str, ...] = ()
    role: str | None = None
    skills: tuple[str, ...] = ()
    estimate_s: float | None = Field(None, gt=0)
    check: str | None = Field(None, description="Shell command; exit 0 means the task is done.")
    candidates: int | None = Field(
        None, ge=1, le=MAX_CANDIDATES, description="Candidates per attempt (the project's)."
    )
    # Fields of the study's format, kept so its files load unchanged.
    status: str | None = None
    owner: str | None = None
    assigned_by: str | None = None
    priority: int | None = None

    @model_validator(mode="after")
    def _safe_files(self) -> Self:
        for name in self.files:
            path = Path(name)
            if path.is_absolute() or ".." in path.parts or not name.strip():
                raise ValueError(f"file {name!r} must be a relative path inside the workspace")
        return self

    def fill_in(self, command: str) -> str:
        """``command`` with this task's ``{module}`` (its first Python file, less ``.py``; else
        its id) and ``{task}`` (its id) filled in."""
        module = next((f[:-3] for f in self.files if f.endswith(".py")), self.id)
        return command.replace("{module}", module).replace("{task}", self.id)


def _task_id(task: TaskSpec) -> str:
    return task.id


class ProjectSpec(IndexedModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    project: str = Field("project", min_length=1, max_length=1000)
    description: str = Field("", max_length=MAX_TEXT_CHARS)
    repository: str | None = None
    success_criteria: str | None = None
    check: str | None = Field(None, description="Check run after every task (e.g. pytest -q).")
    files_dir: str | None = Field(
        None, description="Folder of files copied into the workspace (relative to the file)."
    )
    suite: str | None = Field(None, description="The whole suite, run once after the run.")
    max_check_retries: int = Field(2, ge=0, le=20)
    candidates: int = Field(
        1,
        ge=1,
        le=MAX_CANDIDATES,
        description="Candidates per attempt of a checked task; the passing one that agrees "
        "with most others lands (1: one reply, as without it).",
    )
    sandbox: SandboxLimits = Field(default_factory=SandboxLimits)
    tasks: tuple[TaskSpec, ...]

    def task(self, task_id: str) -> TaskSpec:
        return self._indexed(self.tasks, _task_id)[task_id]

    def graph(self) -> TaskGraph:
        durations = {t.id: t.estimate_s for t in self.tasks if t.estimate_s is not None}
        return TaskGraph.build([(t.id, t.dependencies) for t in self.tasks], durations)

    def check_for(self, task: TaskSpec) -> str | None:
        return task.check or self.check

    def candidates_for(self, task: TaskSpec) -> int:
        """How many candidates an attempt at ``task`` asks for (its own, else the project's)."""
        return task.candidates if task.candidates is not None else self.candidates

    @property
    def has_estimates(self) -> bool:
        return any(t.estimate_s is not None for t in self.tasks)

    def suite_command(self) -> str | None:
        """The command run once at the end: ``suite``, else pytest when the project brings
        files, else the project-wide ``check`` (unless it names one task's ``{module}`` or
        ``{task}``); None when there is nothing to run."""
        if self.suite:
            return self.suite
        if self.files_dir:
            return "{python} -m pytest -q"
        if self.check and "{module}" not in self.check and "{task}" not in self.check:
            return self.check
        return None

    def with_files(self, folder: str | Path, *, source: str = "--files") -> ProjectSpec:
        """This project bringing ``folder`` (an explicit choice: any folder may be named)."""
        path = Path(folder).expanduser().resolve()
        _require_folder(path, source=source, field=None)
        return self.model_copy(update={"files_dir": str(path)})


MAX_BROUGHT_FILES = 2000
MAX_BROUGHT_BYTES = 16 * 1024 * 1024
_SKIPPED = {"__pycache__", ".git", ".lmteams", ".pytest_cache"}


def _require_folder(path: Path, *, source: str, field: str | None) -> None:
    if not path.exists():
        raise ConfigError(f"files folder {path} does not exist", source=source, field=field)
    if not path.is_dir():
        raise ConfigError(f"{path} is not a folder", source=source, field=field)


def brought_files(project: ProjectSpec) -> dict[str, str]:
    """The files a project brings, by workspace path (text files only, no links)."""
    if not project.files_dir:
        return {}
    root = Path(project.files_dir)
    source = str(root)
    _require_folder(root, source=source, field=None)
    files: dict[str, str] = {}
    total = 0
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        if _SKIPPED & set(relative.parts) or path.suffix == ".pyc":
            continue
        if path.is_symlink():
            raise ConfigError("links are not copied; put the file itself there", source=str(path))
        if not path.is_file():
            continue
        total += path.stat().st_size
        if len(files) >= MAX_BROUGHT_FILES or total > MAX_BROUGHT_BYTES:
            raise ConfigError(
                f"more than {MAX_BROUGHT_FILES} files or {MAX_BROUGHT_BYTES // 2**20} MiB",
                source=source,
            )
        try:
            files[relative.as_posix()] = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ConfigError("not a UTF-8 text file", source=str(path)) from None
    return files


def parse_project(data: Any, *, source: str) -> ProjectSpec:
    """Validate parsed JSON/YAML as a project, including its graph (ids, deps, cycles)."""
    if not isinstance(data, dict):
        raise ConfigError("a project must be a mapping with a 'tasks' list", source=source)
    if "tasks" in data and isinstance(data["tasks"], list) and not data["tasks"]:
        raise ConfigError("the project has no tasks", source=source, field="tasks")
    try:
        project = ProjectSpec.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "required field is missing"
        elif error["type"] == "extra_forbidden":
            message = "unknown field"
        raise ConfigError(
            message, source=source, field=format_location(error["loc"]) or None
        ) from None
    try:
        project.graph()
    except GraphError as exc:
        raise ConfigError(str(exc), source=source, field="tasks") from None
    return project


def load_project(path: str | Path) -> ProjectSpec:
    """Load a project from a .json (the study's format) or .yaml/.yml file.

    Files past the limits of :mod:`lmteams.limits` (size, nesting) are refused before parsing.
    """
    source = str(path)
    text = read_text(path)
    if source.endswith(".json"):
        data = load_json(text, source=source)
    else:
        data = load_yaml(text, source=source)
    project = parse_project(data, source=source)
    if project.files_dir:
        project = project.model_copy(
            update={"files_dir": str(_files_folder(Path(path), project.files_dir))}
        )
    return project


def _files_folder(project_file: Path, name: str) -> Path:
    """``files_dir`` resolved against the project file's folder; it must stay inside it
    (a project file from elsewhere must not copy ``../../.ssh`` into a workspace)."""
    base = project_file.expanduser().resolve().parent
    folder = (base / name).resolve()
    if folder != base and base not in folder.parents:
        raise ConfigError(
            "must be a folder inside the project file's folder (no absolute path, no ../)",
            source=str(project_file),
            field="files_dir",
        )
    _require_folder(folder, source=str(project_file), field="files_dir")
    return folder


def study_folder(name: str) -> Path:
    """Files shipped for one of the study's projects (``svgutils_p05``...): ``files/`` (its
    tests, to bring with ``--files``) and ``solutions/`` (reference code, for the oracle)."""
    from importlib import resources

    return Path(str(resources.files("lmteams.data").joinpath(f"study/{name}")))


def builtin_project(name: str) -> Path:
    """Path of a project shipped with lmteams (``lmteams run tiny-math``)."""
    from importlib import resources

    path = resources.files("lmteams.data").joinpath(f"projects/{name}.yaml")
    return Path(str(path))


def resolve_project(name: str) -> ProjectSpec:
    """A project file, or the name of a shipped project (``tiny-math``) when no such file is."""
    path = Path(name)
    if not path.exists():
        shipped = builtin_project(name)
        if shipped.exists():
            return load_project(shipped)
    return load_project(path)
