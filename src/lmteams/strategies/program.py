"""The program strategy: coders write Python programs, the sandbox runs them, what each prints is
its vote (rules in :mod:`lmteams.consensus.program`).

Each coder gets the question with a request for a program that prints the answer. Its program
runs in :func:`lmteams.sandbox.run_sandboxed` (no network, no secrets, ``run_time_limit_s``,
512 MB); the last line it prints, read by the answer extractor, is the node's vote. A program
that fails (no code block, an exception, the time limit, nothing printed) is sent back with the
output's tail up to ``program_retries`` times, then counts as a failed vote. Every run is a
``program_run`` event with the program, its output and the vote beside it. The votes decide by
majority (ties by team order).
"""

from __future__ import annotations

import ast
import asyncio
from dataclasses import replace
from typing import Any

from lmteams.config import TeamSpec
from lmteams.consensus import program as rules
from lmteams.consensus.settings import ConsensusSpec
from lmteams.consensus.voting import majority
from lmteams.errors import ModelUnavailable
from lmteams.sandbox import SandboxResult, python_argv, run_sandboxed
from lmteams.sandbox_settings import SandboxLimits
from lmteams.state.events import ProgramRun
from lmteams.strategies.base import Context, votes
from lmteams.strategies.result import AskResult, NodeAnswer
from lmteams.tools.python_tool import print_last_expression

CODE_ROLES = ("coder", "developer", "programmer", "engineer")
CODE_SKILLS = ("code", "coding", "python", "programming")
TOOL_BACKENDS = ("python", "retrieval")


def coders_of(spec: TeamSpec, settings: ConsensusSpec) -> list[str]:
    """``consensus.coders``, else the nodes on a model (not a tool) backend whose role or
    skills name code, else every node on a model backend, else every node."""
    if settings.coders:
        return list(settings.coders)
    models = [n for n in spec.nodes if spec.models[spec.model_of(n)].backend not in TOOL_BACKENDS]
    named = [
        n.name
        for n in models
        if n.role.lower() in CODE_ROLES or any(s.lower() in CODE_SKILLS for s in n.skills)
    ]
    return named or [n.name for n in models] or list(spec.node_names)


def limits_of(settings: ConsensusSpec) -> SandboxLimits:
    return SandboxLimits(
        time_limit_s=settings.run_time_limit_s, memory_mb=512, output_limit_bytes=16_000
    )


async def run_python(files: dict[str, str], limits: SandboxLimits) -> SandboxResult:
    """Run ``main.py`` of ``files`` in the sandbox; cancelling the caller kills the program."""
    try:
        return await run_sandboxed(python_argv("main.py"), files=files, limits=limits)
    except OSError as exc:
        raise ModelUnavailable(f"cannot start the sandbox: {exc}", model="sandbox") from exc


def runnable(code: str) -> str:
    """The program as run: its last bare expression printed, as in a notebook."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code  # the sandbox reports the error, and the coder is told
    return print_last_expression(tree) or code


def _problem(result: SandboxResult, limits: SandboxLimits) -> str:
    if result.timed_out:
        return f"it timed out after {limits.time_limit_s:g} s"
    if not result.ok:
        return f"exit code {result.returncode}: {rules.tail(result.stderr or result.stdout)}"
    return "it printed nothing"


async def _solve(ctx: Context, node: str, limits: SandboxLimits) -> tuple[NodeAnswer, int]:
    """The node's vote from its program (failed if no program of it ran), and runs made."""
    chat: list[dict[str, str]] = [{"role": "user", "content": rules.program_prompt(ctx.question)}]
    answer = NodeAnswer(node=node, role="", model="", status="failed", error="not asked")
    problem = "no program"
    attempts = ctx.settings.program_retries + 1
    for attempt in range(1, attempts + 1):
        answer, text = await ctx.call(node, chat)
        await ctx.team.wait_durable()  # the reply is durable before its program runs
        if answer.status == "failed":
            return answer, attempt  # a failed call is not worth asking again here
        record: dict[str, Any] = {"attempt": attempt, "of": attempts}
        code = rules.code_block(text)
        if code is None:
            problem = "the reply holds no Python code block"
            record.update(ok=False, problem=problem, reply=rules.tail(text))
        else:
            source = runnable(code)
            result = await run_python({"main.py": source}, limits)
            printed = rules.printed_answer(result.stdout) if result.ok else None
            vote = ctx.extract(printed) if printed is not None else None
            record.update(
                program=source,
                returncode=result.returncode,
                timed_out=result.timed_out,
                stdout=rules.tail(result.stdout),
                stderr=rules.tail(result.stderr),
                duration_s=round(result.duration_s, 4),
            )
            if vote is not None and not vote.empty:
                record.update(ok=True, vote=vote.text)
                ctx.team.event(ProgramRun(**record), node=node)
                return replace(answer, answer=vote.text, answer_key=vote.key), attempt
            problem = (
                _problem(result, limits)
                if printed is None
                else f"its last printed line {printed!r} states no answer"
            )
            record.update(ok=False, problem=problem)
        ctx.team.event(ProgramRun(**record), node=node)
        chat = [
            *chat,
            {"role": "assistant", "content": text},
            {"role": "user", "content": rules.fix_prompt(problem)},
        ]
    failed = replace(
        answer, status="failed", answer=None, answer_key=None, error=f"program: {problem}"
    )
    return failed, attempts


async def program(ctx: Context) -> AskResult:
    coders = coders_of(ctx.spec, ctx.settings)
    limits = limits_of(ctx.settings)
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(_solve(ctx, node, limits)) for node in coders]
    results = [t.result() for t in tasks]
    answers = await ctx.grouped([a for a, _ in results])
    decision = majority(votes(answers))
    if decision.answer is None:
        decision = decision.with_reason("no program printed an answer")
    else:
        decision = decision.with_reason(f"program: {decision.reason}")
    detail = {
        "coders": coders,
        "attempts": {a.node: n for a, n in results},
        "failed": {a.node: a.error for a in answers if a.status == "failed"},
    }
    return ctx.result("program", decision, answers, detail)
