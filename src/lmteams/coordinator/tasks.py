"""Carrying out one task on one node: prompt, model call, files into the workspace, check.

Every effect of an attempt is logged with its task and attempt number (``task_attempt``,
``file_written``, ``check_run``...). On resume, an attempt's logged effects are reused instead
of being applied again, and its model call is replayed from the committed call results, so a
resumed run neither pays twice nor writes twice.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmteams.coordinator.candidates import attempt_candidates
from lmteams.coordinator.settings import SuiteResult
from lmteams.coordinator.suite import check_feedback, suite_result, suite_shell
from lmteams.errors import BudgetExceeded, ModelError
from lmteams.sandbox import SandboxResult, require_isolation, run_sandboxed
from lmteams.scheduling.imports import missing_module, module_owners
from lmteams.scheduling.project import ProjectSpec, TaskSpec, brought_files
from lmteams.scheduling.prompts import extract_files, task_prompt
from lmteams.state.events import (
    CheckRun,
    FileRewritten,
    FileWritten,
    LeaseAcquired,
    LeaseRefused,
    OutputInvalid,
    ProjectFiles,
    SandboxWeak,
    SuiteRun,
    TaskAttempt,
    UndeclaredWrite,
    WriteConflict,
    WriteRefused,
)
from lmteams.state.workspace import Workspace
from lmteams.team import Team

Outcome = Literal["done", "failed", "call_failed", "stopped", "parked", "retry"]


@dataclass
class AttemptLog:
    """Effects of attempts already in the log (filled on resume), keyed by (task, attempt)."""

    started: set[tuple[str, int]] = field(default_factory=set)
    feedback: dict[tuple[str, int], str | None] = field(default_factory=dict)
    writes: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    checks: dict[tuple[str, int, int], dict[str, Any]] = field(default_factory=dict)
    last_attempt: dict[str, int] = field(default_factory=dict)
    spent: dict[str, int] = field(default_factory=dict)  # task -> tries used (check retries)
    parked: dict[str, tuple[int, int]] = field(default_factory=dict)  # task -> (attempt, parks)


@dataclass
class TaskResult:
    outcome: Outcome
    attempts: int
    error: str | None = None
    waiting_on: str | None = None  # parked: the task whose module the check could not import


class TaskRunner:
    """Runs task attempts for one project run; shared by every task of the run."""

    def __init__(
        self,
        team: Team,
        project: ProjectSpec,
        workspace: Workspace,
        workdir: Path,
        *,
        lease_ttl_s: float,
        log: AttemptLog | None = None,
        success: str = "checks",
        is_done: Callable[[str], bool] | None = None,
    ) -> None:
        self.team = team
        self.project = project
        self.workspace = workspace
        self.workdir = workdir
        self.lease_ttl_s = lease_ttl_s
        self.log = log or AttemptLog()
        self.attempts: dict[str, int] = dict(self.log.last_attempt)
        self.success = success
        self.is_done = is_done or (lambda task: False)
        self.owners = module_owners(project)
        self._dirty: set[str] = set()
        self._writer: asyncio.Future[None] | None = None
        # one sync at a time: a check that finds nothing left to write must still wait for
        # the batch another check is writing, or it runs on a half-written folder
        self._syncing = asyncio.Lock()
        if any(project.check_for(t) for t in project.tasks) or project.suite_command():
            # Refuse (SandboxUnavailable) before any model-written code runs, or log the gaps.
            missing = require_isolation(project.sandbox).missing(
                network_allowed=project.sandbox.network
            )
            if missing:
                team.event(SandboxWeak(missing=list(missing)))

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def context_for(self, task: TaskSpec) -> dict[str, str]:
        files: dict[str, str] = {}
        for dep in task.dependencies:
            for path in self.project.task(dep).files:
                content = self.workspace.read(path)
                if content is not None:
                    files[path] = content
        return files

    def _next_attempt(self, task: str, resume_in_flight: bool) -> int:
        last = self.attempts.get(task, 0)
        if resume_in_flight and last and (task, last) in self.log.started:
            return last  # the attempt that was in progress when the coordinator stopped
        self.attempts[task] = last + 1
        return last + 1

    async def run(self, task_id: str, node: str, *, resumed: bool = False) -> TaskResult:
        """Attempt ``task_id`` on ``node`` until its check passes or its tries run out.

        Tries count across requeues and resumes (``AttemptLog.spent``), so a resumed task
        keeps its retry limit. A task parked because its check needed another task's module
        is re-checked first, without a new model call.
        """
        task = self.project.task(task_id)
        check = self.project.check_for(task) if self.success != "declared" else None
        tries = self.project.max_check_retries + 1
        feedback: str | None = None
        attempt = self.attempts.get(task_id, 0)
        parked = self.log.parked.pop(task_id, None)
        if parked is not None and check is not None:
            attempt, parks = parked
            result, parks = await self._check_landed(task, node, attempt, check, parks)
            outcome = self._after_check(task_id, attempt, parks, result)
            if outcome is not None:
                return outcome
            feedback = result["summary"]
        first = True
        while self.log.spent.get(task_id, 0) < tries:
            attempt = self._next_attempt(task_id, resumed and first)
            first = False
            if (task_id, attempt) in self.log.started:
                # resuming this attempt: ask exactly what was asked, so the call is replayed
                feedback = self.log.feedback.get((task_id, attempt), feedback)
            else:
                self.team.event(
                    TaskAttempt(
                        task=task_id,
                        attempt=attempt,
                        feedback=feedback,
                        spent=self.log.spent.get(task_id, 0),
                    ),
                    node=node,
                )
                self.log.started.add((task_id, attempt))
            candidates = self.project.candidates_for(task) if check is not None else 1
            chosen: dict[str, Any] | None = None  # candidates > 1: the attempt's check record
            try:
                if candidates > 1:
                    problem, chosen = await attempt_candidates(
                        self, task, node, attempt, feedback, check or "", candidates
                    )
                else:
                    problem = await self._produce(task, node, attempt, feedback)
            except BudgetExceeded as exc:
                return TaskResult("stopped", attempt, str(exc))
            except ModelError as exc:
                return TaskResult("call_failed", attempt, f"{type(exc).__name__}: {exc}")
            if problem is not None:
                feedback = problem
                self._spend(task_id)
                continue
            if check is None:
                return TaskResult("done", attempt)
            parks = 0
            if chosen is not None:
                result = chosen
            else:
                result, parks = await self._check_landed(task, node, attempt, check, 0)
            outcome = self._after_check(task_id, attempt, parks, result)
            if outcome is not None:
                return outcome
            feedback = result["summary"]
        return TaskResult("failed", attempt, feedback or "no tries left")

    def _spend(self, task_id: str) -> None:
        self.log.spent[task_id] = self.log.spent.get(task_id, 0) + 1

    def _needs_module_of(self, task_id: str, result: dict[str, Any]) -> tuple[str, str] | None:
        """The module a failed check could not import and the other task that owns it."""
        missing = missing_module(result.get("output") or result["summary"], self.owners)
        return missing if missing is not None and missing[1] != task_id else None

    async def _check_landed(
        self, task: TaskSpec, node: str, attempt: int, command: str, parks: int
    ) -> tuple[dict[str, Any], int]:
        """The check, and once more at once when it failed on a module of a task that finished
        while it ran: it ran on the files as they were when it started. The second run counts
        as a park (its record's ``recheck``), so that a resumed run replays the same checks.
        Returns the result and the parks so far."""
        result = await self._check(task, node, attempt, command, recheck=parks)
        needed = None if result["ok"] else self._needs_module_of(task.id, result)
        if needed is not None and self.is_done(needed[1]):
            parks += 1
            result = await self._check(task, node, attempt, command, recheck=parks)
        return result, parks

    def _after_check(
        self, task_id: str, attempt: int, parks: int, result: dict[str, Any]
    ) -> TaskResult | None:
        """Done, parked (the check needs a module of a task not done yet), or None: a
        failed try (counted) to feed back."""
        if result["ok"]:
            return TaskResult("done", attempt)
        missing = self._needs_module_of(task_id, result)
        if missing is not None and not self.is_done(missing[1]):
            self.log.parked[task_id] = (attempt, parks + 1)
            return TaskResult("parked", attempt, f"needs {missing[0]}", waiting_on=missing[1])
        self._spend(task_id)
        return None

    async def _produce(
        self, task: TaskSpec, node: str, attempt: int, feedback: str | None
    ) -> str | None:
        """Call the node and write its files; returns a problem to feed back, if any."""
        key = (task.id, attempt)
        if key in self.log.writes:
            return None  # this attempt's writes are already in the log (resume)
        read_versions, prompt = await self.prepare(task, node, feedback)
        try:
            reply = await self.team.call(
                node,
                prompt,
                key=f"task/{task.id}/{attempt}",
                meta={"task": task.id, "attempt": attempt},
                # a retry samples afresh: the same prompt and seed would give the same reply
                sampling=self._sampling(node, attempt),
            )
        finally:
            for path in task.files:
                self.workspace.release(path, node)
        files = extract_files(reply.text, task.files)
        if task.files and not any(path in files for path in task.files):
            self.team.event(
                OutputInvalid(task=task.id, attempt=attempt, problem="no file in the reply"),
                node=node,
            )
            return f"Your reply contained no code for {', '.join(task.files)}."
        return self.write_files(task, node, attempt, files, read_versions)

    async def prepare(
        self, task: TaskSpec, node: str, feedback: str | None
    ) -> tuple[dict[str, int], str]:
        """Before an attempt's call: ``node`` holds the leases on the task's files; returns
        the versions it reads (what its writes are compared against) and its prompt."""
        for path in task.files:
            await self._wait_for_lease(path, node, task.id)
        read_versions = {path: self.workspace.version(path) for path in task.files}
        return read_versions, task_prompt(self.project, task, self.context_for(task), feedback)

    def write_files(
        self,
        task: TaskSpec,
        node: str,
        attempt: int,
        files: dict[str, str],
        read_versions: dict[str, int] | None = None,
    ) -> str | None:
        """Write ``files`` for ``task``'s attempt through the workspace (each write logged,
        compare-and-set against ``read_versions``, the versions the node read); returns a
        problem to feed back (a conflict on one of its own files), if any."""
        read_versions = read_versions or {}
        problem = None
        now = self.now()
        for path, content in files.items():
            expected = read_versions.get(path, self.workspace.version(path))
            result = self.workspace.write(
                path, content, node=node, expected_version=expected, now=now, task=task.id
            )
            data: dict[str, Any] = {
                "task": task.id,
                "attempt": attempt,
                "path": path,
                "status": result.status,
                "version": result.version,
                "expected": expected,
            }
            if path not in task.files and result.status != "read_only":
                # the reply wrote a file its task does not declare: allowed, but on the record
                self.team.event(
                    UndeclaredWrite(task=task.id, attempt=attempt, path=path, status=result.status),
                    node=node,
                )
            if result.ok:
                data["content"] = content
                self.team.event(FileWritten(**data), node=node)
                if result.rewrite_of:
                    self.team.event(
                        FileRewritten(task=task.id, path=path, finished_task=result.rewrite_of),
                        node=node,
                    )
                self._mirror(path, content)
            elif result.status == "conflict":
                self.team.event(WriteConflict(**data), node=node)
                if path in task.files:
                    problem = (
                        f"{path} changed while you worked (version {result.version}); redo it."
                    )
            elif result.status == "read_only":
                # a file the project brings (a test, a fixture): the reply may not rewrite it
                self.team.event(WriteRefused(**data), node=node)
            else:
                data["holder"] = result.holder
                self.team.event(WriteRefused(**data), node=node)
        return problem

    async def submit(self, task_id: str, node: str, files: dict[str, str]) -> TaskResult:
        """One attempt whose files the node already wrote (the rounds harness: an agent hands
        in a task in its round reply): write them, then run the task's check as :meth:`run`
        does. ``retry`` means the check failed with tries left (the error is the feedback)."""
        task = self.project.task(task_id)
        attempt = self._next_attempt(task_id, False)
        self.team.event(
            TaskAttempt(task=task_id, attempt=attempt, spent=self.log.spent.get(task_id, 0)),
            node=node,
        )
        self.log.started.add((task_id, attempt))
        problem = self.write_files(task, node, attempt, files) if files else None
        missing = [f for f in task.files if self.workspace.read(f) is None]
        if problem is None and missing:
            problem = f"no code yet for {', '.join(task.files)}"
        check = self.project.check_for(task) if self.success != "declared" else None
        if problem is None and check is None:
            return TaskResult("done", attempt)
        if problem is None:
            assert check is not None
            result = await self._check(task, node, attempt, check)
            outcome = self._after_check(task_id, attempt, 0, result)
            if outcome is not None:
                return outcome
            problem = str(result["summary"])
        else:
            self._spend(task_id)
        if self.log.spent.get(task_id, 0) >= self.project.max_check_retries + 1:
            return TaskResult("failed", attempt, problem)
        return TaskResult("retry", attempt, problem)

    def _sampling(self, node: str, attempt: int) -> dict[str, Any] | None:
        if attempt <= 1:
            return None
        spec = self.team.spec.node(node)
        base = self.team.spec.sampling(spec)
        return {
            "seed": (base.seed or 0) + 7919 * attempt,
            "temperature": max(base.temperature, min(1.0, 0.3 + 0.2 * attempt)),
        }

    async def _wait_for_lease(self, path: str, node: str, task: str) -> None:
        while True:
            now = self.now()
            result = self.workspace.acquire(path, node, now, self.lease_ttl_s)
            if result.granted:
                self.team.event(LeaseAcquired(task=task, path=path), node=node)
                return
            self.team.event(
                LeaseRefused(task=task, path=path, holder=result.lease.holder), node=node
            )
            # the holder may have crashed: its lease lapses at expires_at at the latest
            await asyncio.sleep(max(0.01, min(result.lease.expires_at - now, 1.0)))

    def bring_files(self) -> dict[str, str]:
        """Put the files the project brings into the workspace, and return them by path.

        They are read-only to nodes, except starter code a task declares as its own.
        """
        brought = brought_files(self.project)
        declared = {path for task in self.project.tasks for path in task.files}
        for path, content in brought.items():
            self.workspace.provide(path, content, read_only=path not in declared)
            self._mirror(path, content)
        return brought

    def log_brought(self, brought: dict[str, str]) -> None:
        """The ``project_files`` event: which files the project brought, which are read-only."""
        if brought:
            self.team.event(
                ProjectFiles(
                    folder=self.project.files_dir,
                    paths=sorted(brought),
                    read_only=sorted(self.workspace.read_only),
                ),
            )

    def _mirror(self, path: str, content: str) -> None:
        # Files reach the disk in batches, on a thread: creating a file costs a fraction of a
        # millisecond here, more than the rest of a task's orchestration, so it overlaps.
        self._dirty.add(path)
        if len(self._dirty) >= MIRROR_BATCH and (self._writer is None or self._writer.done()):
            self._writer = asyncio.ensure_future(self._write_batch(self._take_dirty()))

    def _take_dirty(self) -> dict[str, str]:
        batch = {p: c for p in self._dirty if (c := self.workspace.read(p)) is not None}
        self._dirty.clear()
        return batch

    async def _write_batch(self, batch: dict[str, str]) -> None:
        await asyncio.to_thread(_write_files, self.workdir, batch)

    async def sync_workdir(self) -> None:
        """Write every file changed so far into the run's working directory (in order)."""
        async with self._syncing:
            if self._writer is not None:
                await self._writer
                self._writer = None
            if self._dirty:
                await self._write_batch(self._take_dirty())

    async def run_in_workdir(self, command: str) -> SandboxResult:
        """``command`` in the sandbox over the run's working folder, once every file changed
        so far is in it (the event log's folder hidden)."""
        await self.sync_workdir()
        return await run_check(command, self.workdir, self.project, hide=self._hidden())

    def _hidden(self) -> list[Path]:
        return [self.team.store.path.parent] if str(self.team.store.path) != ":memory:" else []

    async def _check(
        self, task: TaskSpec, node: str, attempt: int, command: str, *, recheck: int = 0
    ) -> dict[str, Any]:
        key = (task.id, attempt, recheck)
        if key in self.log.checks:
            return self.log.checks[key]
        result = await self.run_in_workdir(task.fill_in(command))
        record = {
            "task": task.id,
            "attempt": attempt,
            "ok": result.ok,
            "returncode": result.returncode,
            "timed_out": result.timed_out,
            "duration_s": round(result.duration_s, 4),
            "summary": check_feedback(result, 1500),
            "sandbox": result.isolation_note,
        }
        if recheck:
            record["recheck"] = recheck
        self.team.event(CheckRun(**record), node=node)
        self.log.checks[key] = record
        return record

    async def run_suite(self) -> SuiteResult | None:
        """The whole project suite, once, over the final workspace; logged as ``suite_run``."""
        command = self.project.suite_command()
        if command is None:
            return None
        result = await self.run_in_workdir(suite_shell(command))
        suite = suite_result(command, result)
        self.team.event(SuiteRun(**suite.model_dump(mode="json")))
        return suite


MIRROR_BATCH = 64


def _write_files(root: Path, files: dict[str, str]) -> None:
    """Mirror ``files`` into ``root`` as UTF-8, in path order.

    Plain ``os`` calls: a tenth of a task's orchestration went to ``Path.write_text`` (a text
    wrapper per file; 36 µs a file on /dev/shm against 12 here), and a batch's files mostly
    share a folder, made once.
    """
    made: set[str] = set()
    base = os.fspath(root)
    for path, content in sorted(files.items()):
        target = os.path.join(base, path)
        folder = os.path.dirname(target)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        data = memoryview(content.encode())
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            while data:
                data = data[os.write(fd, data) :]
        finally:
            os.close(fd)


async def run_check(
    command: str, workdir: Path, project: ProjectSpec, *, hide: Sequence[Path] = ()
) -> SandboxResult:
    """Run a check command in the sandbox, on a copy of the workspace.

    ``python`` in the command is this interpreter (so checks see the same Python as lmteams).
    ``hide`` adds folders the check must not see (the event log's).
    """
    interpreter_dir = str(Path(sys.executable).parent)
    env = {"PATH": interpreter_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")}
    argv = ["/bin/sh", "-c", command.replace("{python}", shlex.quote(sys.executable))]
    return await run_sandboxed(argv, workdir=workdir, limits=project.sandbox, env=env, hide=hide)
