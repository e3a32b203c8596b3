"""Generate and test for project tasks: N candidates per attempt, the passing one that agrees.

With ``candidates: N`` (the project's, or a task's own) an attempt at a checked task asks N
candidates for its files: one each from the nodes eligible for the task (the assigned node
first, then the others in team order, by :func:`lmteams.routing.roles.eligible`), and when N
is more than they are, further samples of them with distinct seeds (N samples of the assigned
node when only it is eligible). Each candidate's files go into its own scratch copy of the
run's working directory, and the task's check runs there in the sandbox; the shared workspace
receives only the chosen one. The passing candidates are grouped by their check's output (its
lines, durations such as pytest's ``in 0.03s`` left out), and the first candidate of the
largest group wins (:func:`lmteams.consensus.gentest.clusters`, the rule of the gentest
strategy). A check that prints results (``python -c "import m; print(m.f(3))"``) is what makes
the groups say something; when every passing candidate prints the same, the first lands.

Every candidate is a ``candidate_checked`` event, the winner a ``candidate_chosen`` event; the
winner's files are then written and checked in the workspace as a one-candidate attempt is (its
``file_written`` and ``check_run`` events), so resume and the run's results read as before.
When no candidate passes, nothing is written and the attempt fails with the first failing
candidate's check output as feedback, like a failed check.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmteams.consensus import gentest as rules
from lmteams.coordinator.suite import check_feedback
from lmteams.routing.roles import Requirement, eligible
from lmteams.scheduling.project import TaskSpec
from lmteams.scheduling.prompts import extract_files
from lmteams.state.events import CandidateChecked, CandidateChosen, CheckRun

if TYPE_CHECKING:
    from lmteams.coordinator.tasks import TaskRunner

RESEED = 104729  # a repeat sample of one node: seed + RESEED * round (attempts use 7919)
_DURATION = re.compile(r"\s+in \d+(?:\.\d+)?s\b")


@dataclass(frozen=True, slots=True)
class Candidate:
    index: int
    node: str
    files: dict[str, str] | None  # None: the reply held no file of the task


def candidate_nodes(runner: TaskRunner, task: TaskSpec, node: str, count: int) -> list[str]:
    """The node asked for each of ``count`` candidates: ``node`` first, then the others the
    one eligibility rule allows, in turn."""
    requirement = Requirement(task.id, task.role, task.skills)
    allowed = eligible([requirement], runner.team.spec.nodes)[task.id]
    ordered = [node, *(name for name in allowed if name != node)]
    return [ordered[i % len(ordered)] for i in range(count)]


def check_outputs(stdout: str) -> tuple[str, ...]:
    """A check's output as the lines candidates agree on (timings differ between runs)."""
    lines = (_DURATION.sub("", line).rstrip() for line in stdout.splitlines())
    return tuple(line for line in lines if line)


def _sampling(runner: TaskRunner, node: str, attempt: int, round_: int) -> dict[str, Any] | None:
    base = runner._sampling(node, attempt)
    if round_ == 0:
        return base
    settings = runner.team.spec.sampling(runner.team.spec.node(node))
    seed = (base or {}).get("seed", settings.seed or 0) + RESEED * round_
    temperature = max(settings.temperature, (base or {}).get("temperature", 0.0), 0.7)
    return {"seed": seed, "temperature": temperature}


async def _ask(
    runner: TaskRunner,
    task: TaskSpec,
    index: int,
    node: str,
    round_: int,
    attempt: int,
    prompt: str,
) -> Candidate:
    key = f"task/{task.id}/{attempt}" if index == 0 else f"task/{task.id}/{attempt}/c{index}"
    reply = await runner.team.call(
        node,
        prompt,
        key=key,
        meta={"task": task.id, "attempt": attempt, "candidate": index},
        sampling=_sampling(runner, node, attempt, round_),
        balance=False,  # each candidate from the node it was asked of
    )
    files = extract_files(reply.text, task.files)
    if task.files and not any(path in files for path in task.files):
        return Candidate(index, node, None)
    return Candidate(index, node, files)


async def _check_one(
    runner: TaskRunner, task: TaskSpec, attempt: int, candidate: Candidate, command: str
) -> tuple[rules.Run, str]:
    from lmteams.coordinator.tasks import run_check

    if candidate.files is None:
        problem = "no file in the reply"
        runner.team.event(
            CandidateChecked(task=task.id, attempt=attempt, index=candidate.index, problem=problem),
            node=candidate.node,
        )
        return rules.Run(candidate.index, candidate.node, False, problem=problem), (
            f"Your reply contained no code for {', '.join(task.files)}."
        )
    scratch = Path(tempfile.mkdtemp(prefix=f"lmteams-candidate-{candidate.index}-"))
    try:
        await asyncio.to_thread(_copy_with, runner.workdir, scratch, candidate.files)
        result = await run_check(command, scratch, runner.project, hide=runner._hidden())
    finally:
        await asyncio.to_thread(shutil.rmtree, scratch, True)
    outputs = check_outputs(result.stdout) if result.ok else ()
    summary = check_feedback(result, 1500)
    run = rules.Run(
        candidate.index, candidate.node, result.ok, outputs, None if result.ok else summary
    )
    runner.team.event(
        CandidateChecked(
            task=task.id,
            attempt=attempt,
            index=candidate.index,
            passed=result.ok,
            returncode=result.returncode,
            timed_out=result.timed_out,
            summary=summary,
            cluster=rules.signature(outputs) if result.ok else None,
        ),
        node=candidate.node,
    )
    return run, summary


def _copy_with(source: Path, target: Path, files: dict[str, str]) -> None:
    shutil.copytree(source, target, dirs_exist_ok=True)
    for path, content in files.items():
        destination = target / path
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(content)


async def attempt_candidates(
    runner: TaskRunner,
    task: TaskSpec,
    node: str,
    attempt: int,
    feedback: str | None,
    command: str,
    count: int,
) -> tuple[str | None, dict[str, Any] | None]:
    """One attempt by ``count`` candidates: (a problem to feed back, None) when no candidate
    could be checked or the chosen one's files conflicted, else (None, the attempt's check
    record: the chosen one's, checked in the workspace, or the first failing candidate's)."""
    key = (task.id, attempt)
    if key in runner.log.writes:  # resume: the chosen files are in the log already
        return None, await runner._check(task, node, attempt, command)
    read_versions, prompt = await runner.prepare(task, node, feedback)
    asked = candidate_nodes(runner, task, node, count)
    distinct = len(dict.fromkeys(asked))
    try:
        replies = await asyncio.gather(
            *(
                _ask(runner, task, i, n, i // distinct, attempt, prompt)
                for i, n in enumerate(asked)
            ),
            return_exceptions=True,
        )
    finally:
        for path in task.files:
            runner.workspace.release(path, node)
    for reply in replies:
        if isinstance(reply, BaseException):
            raise reply  # a failed call fails the attempt, as one node's call does (all ended)
    candidates = [reply for reply in replies if isinstance(reply, Candidate)]
    await runner.sync_workdir()
    expanded = task.fill_in(command)
    checked = await asyncio.gather(
        *(_check_one(runner, task, attempt, c, expanded) for c in candidates)
    )
    runs = [run for run, _ in checked]
    found = rules.clusters(runs)
    if not found:
        if all(c.files is None for c in candidates):
            return checked[0][1], None
        first = next(i for i, c in enumerate(candidates) if c.files is not None)
        return None, _failed(runner, task, node, attempt, checked[first][1], len(runs))
    best = found[0]
    chosen = candidates[best.members[0]]
    runner.team.event(
        CandidateChosen(
            task=task.id,
            attempt=attempt,
            index=chosen.index,
            candidates=count,
            passed=sum(c.size for c in found),
            agreeing=best.size,
        ),
        node=chosen.node,
    )
    assert chosen.files is not None  # a passing candidate had files
    problem = runner.write_files(task, node, attempt, chosen.files, read_versions)
    if problem is not None:
        return problem, None
    return None, await runner._check(task, node, attempt, command)


def _failed(
    runner: TaskRunner, task: TaskSpec, node: str, attempt: int, summary: str, count: int
) -> dict[str, Any]:
    """The attempt's check record when none of its candidates passed (logged as a failed
    ``check_run``, as one failing candidate's attempt is)."""
    record: dict[str, Any] = {
        "task": task.id,
        "attempt": attempt,
        "ok": False,
        "summary": f"none of {count} candidates passed the check; the first: {summary}",
    }
    runner.team.event(CheckRun(**record), node=node)
    runner.log.checks[(task.id, attempt, 0)] = record
    return record
