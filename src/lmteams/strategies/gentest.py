"""The gentest strategy: N candidate programs, the question's tests run on each in the sandbox,
passing candidates ranked by how many others agree with their results on inputs the team wrote
(rules in :mod:`lmteams.consensus.gentest`).

``candidates`` (default: one per coder) candidates are asked of the coders in turn; a coder
asked again samples with another seed. At the same time the first coder writes
``test_inputs`` calls of the asked-for function (``test_inputs: 0`` skips that call; then
every passing candidate is its own cluster unless their results on no input coincide, and
team order decides). Each candidate runs once in the sandbox (``run_time_limit_s``): load,
given tests, inputs. A candidate that fails is a failed vote. The answer is the code of the
first candidate of the largest cluster; ``detail.clusters`` lists every cluster, and each run
is a ``gentest_run`` event with the program and its results.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from lmteams.consensus import gentest as rules
from lmteams.consensus import program as program_rules
from lmteams.consensus.answers import Answer
from lmteams.consensus.voting import Decision
from lmteams.state.events import GentestInputs, GentestRun
from lmteams.strategies.base import Chat, Context
from lmteams.strategies.program import coders_of, limits_of, run_python
from lmteams.strategies.result import AskResult, NodeAnswer

RESEED = 7919  # a repeat candidate of one coder: seed + RESEED * round


def _sampling(ctx: Context, node: str, round_: int) -> dict[str, Any] | None:
    if round_ == 0:
        return None
    seed = ctx.spec.sampling(ctx.spec.node(node)).seed or 0
    return {"seed": seed + RESEED * round_}


async def _run(
    ctx: Context, index: int, answer: NodeAnswer, tests: str, inputs: list[str]
) -> rules.Run:
    if answer.status == "failed":
        return rules.Run(index, answer.node, False, problem=f"call failed: {answer.error}")
    code = program_rules.code_block(answer.reply or "")
    if code is None:
        run = rules.Run(index, answer.node, False, problem="no Python code block")
        ctx.team.event(GentestRun(index=index, passed=False, problem=run.problem), node=run.node)
        return run
    result = await run_python(rules.harness_files(code, tests, inputs), limits_of(ctx.settings))
    outputs = rules.probe_outputs(result.stdout) if result.ok else None
    if outputs is None:
        problem = rules.failure(result.returncode, result.timed_out)
        if result.ok:
            problem = "it printed no results"
        run = rules.Run(index, answer.node, False, problem=problem)
    else:
        run = rules.Run(index, answer.node, True, outputs)
    ctx.team.event(
        GentestRun(
            index=index,
            passed=run.passed,
            problem=run.problem,
            program=code,
            outputs=list(run.outputs),
            returncode=result.returncode,
            stderr=program_rules.tail(result.stderr),
        ),
        node=answer.node,
    )
    return run


async def gentest(ctx: Context) -> AskResult:
    coders = coders_of(ctx.spec, ctx.settings)
    count = ctx.settings.candidates or len(coders)
    asked = [coders[i % len(coders)] for i in range(count)]
    prompt = rules.candidate_prompt(ctx.question)
    calls: list[tuple[str, Chat, dict[str, Any] | None]] = [
        (node, prompt, _sampling(ctx, node, i // len(coders))) for i, node in enumerate(asked)
    ]
    wanted = ctx.settings.test_inputs
    if wanted:
        calls.append((coders[0], rules.inputs_prompt(ctx.question, wanted), None))
    replies = await ctx.fan_out(calls)
    candidates = replies[:count]
    inputs = rules.parse_inputs(replies[count].reply or "", wanted) if wanted else []
    tests = rules.given_tests(ctx.question)
    ctx.team.event(GentestInputs(inputs=inputs, tests=tests, candidates=count))
    async with asyncio.TaskGroup() as group:
        tasks = [
            group.create_task(_run(ctx, i, a, tests, inputs)) for i, a in enumerate(candidates)
        ]
    runs = [t.result() for t in tasks]
    found = rules.clusters(runs)
    cluster_of = {m: c for c in found for m in c.members}
    code_of = {
        r.index: program_rules.code_block(candidates[r.index].reply or "") or "" for r in runs
    }
    answers = []
    for run, answer in zip(runs, candidates, strict=True):
        if run.passed:
            key = cluster_of[run.index].signature
            code = code_of[run.index]
            answers.append(replace(answer, answer=code, answer_key=key, error=None))
        else:
            failed = replace(answer, status="failed", answer=None, answer_key=None)
            answers.append(replace(failed, error=run.problem))
    groups = tuple(
        (
            Answer(c.signature, code_of[c.members[0]]),
            float(c.size),
            tuple(asked[m] for m in c.members),
        )
        for c in found
    )
    passing = sum(c.size for c in found)
    unchecked = "" if tests else "; the question gives no tests, so passing means loading"
    if not found:
        decision = Decision(None, 0.0, 0.0, reason=f"no candidate passed the tests{unchecked}")
    else:
        best = found[0]
        tied = [c for c in found if c.size == best.size]
        decision = Decision(
            groups[0][0],
            float(best.size),
            float(passing),
            tie=len(tied) > 1,
            tied=tuple(g[0] for g in groups[: len(tied)]) if len(tied) > 1 else (),
            groups=groups,
            reason=f"gentest: {passing} of {count} candidates passed; the largest agreeing "
            f"cluster has {best.size}{unchecked}",
        )
    detail = {
        "candidates": count,
        "passed": passing,
        "tests": bool(tests),
        "inputs": inputs,
        "clusters": [
            {"size": c.size, "members": [asked[m] for m in c.members], "outputs": list(c.outputs)}
            for c in found
        ],
        "failed": {f"{r.index}:{r.node}": r.problem for r in runs if not r.passed},
    }
    return ctx.result("gentest", decision, answers, detail)
