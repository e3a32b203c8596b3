"""The specialists team end to end on the embedded model: docs, coders, a Python tool, a reviewer.

    python examples/specialists.py [--task TEXT] [--json] [--db PATH]

1. The task goes to the retrieval node: cited passages from this project's README and docs.
2. Both coder replicas write a program at the same time (the router sends one request to
   each), with the best passage as a reference note ahead of the task.
3. The Python node runs each program in the sandbox.
4. The reviewer checks each output against the task (a JSON verdict, grammar-constrained); the
   first program that ran and passed review is the answer, else the first that ran.

The team's planner is not used here: SmolLM2-135M's plans mislead its own coders. It serves
planning coordinators and ``lmteams ask --role planner``.

Every request goes through ``call_role`` (role -> replica by the role's balancing policy) and
every message is in the event log: ``lmteams show RUN``. See docs/specialists.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict
from rich.console import Console
from rich.table import Table

from lmteams.config import TeamSpec, parse_team
from lmteams.models.base import ModelBackend
from lmteams.models.embedded import close_all_engines
from lmteams.models.registry import validate_options
from lmteams.routing.dispatch import RoleStats, call_role, router_for
from lmteams.state.store import EventStore
from lmteams.team import Reply, Team
from lmteams.tools.python_tool import extract_code
from lmteams.tools.retrieval import (
    Citation,
    RetrievalBackend,
    RetrievalOptions,
    parse_citations,
    strip_citations,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TASK = "Write a Python program that prints the sum of the squares of the numbers 1 to 10."
CODE_STOP = ["```\n"]  # the closing fence: the program is complete, skip the explanation
REVIEW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "verdict": {"enum": ["pass", "fail"]},
        "reason": {"type": "string", "maxLength": 120},
    },
    "required": ["verdict", "reason"],
}
_VERDICT = re.compile(r"verdict[\"'\s]*:?[\s*\"']*(pass|fail)", re.I)


class Step(BaseModel):
    model_config = ConfigDict(frozen=True)

    step: str
    node: str
    role: str
    seconds: float
    tokens: int
    text: str


class Candidate(BaseModel):
    model_config = ConfigDict(frozen=True)

    coder: str
    program: str
    output: str
    ran: bool
    verdict: str  # pass, fail, or none (the review gave no verdict)
    review: str


class ExampleResult(BaseModel):
    """Everything the example reports; also its ``--json`` output."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    task: str
    citations: list[Citation]
    candidates: list[Candidate]
    chosen: int | None
    agree: bool  # every program ran and printed the same output
    steps: list[Step]
    routing: dict[str, RoleStats]
    wall_s: float


def specialists_team() -> TeamSpec:
    text = resources.files("lmteams.data").joinpath("specialists_team.yaml").read_text()
    return parse_team(yaml.safe_load(text), source="specialists team")


def docs_backend(spec: TeamSpec, root: Path = ROOT) -> RetrievalBackend:
    """The team's retrieval model, with its sources found under ``root`` (this repository)."""
    settings = {**spec.models["docs"].options, "root": str(root)}
    options = validate_options("retrieval", settings)
    assert isinstance(options, RetrievalOptions)
    return RetrievalBackend(options, name="docs")


def verdict_of(review: str) -> str:
    """pass, fail or none, from the reviewer's JSON verdict (or its prose, if it broke off)."""
    try:
        verdict = json.loads(review).get("verdict")
    except (ValueError, AttributeError):
        verdict = None
    if verdict in ("pass", "fail"):
        return str(verdict)
    found = _VERDICT.findall(review)
    return found[-1].lower() if found else "none"


def reference_note(found: Reply, limit: int = 320) -> str:
    """The best passage of a retrieval reply, short enough for a small model's prompt."""
    passages = strip_citations(found.text).split("\n\n[2] ")[0]
    return passages if len(passages) <= limit else passages[: limit - 1].rstrip() + "…"


async def run_example(
    task: str,
    store: EventStore,
    *,
    spec: TeamSpec | None = None,
    backends: dict[str, ModelBackend] | None = None,
    on_step: Callable[[Step], None] | None = None,
) -> ExampleResult:
    """Run the four steps for ``task`` in one run of the specialists team."""
    spec = spec or specialists_team()
    backends = backends if backends is not None else {"docs": docs_backend(spec)}
    started = time.perf_counter()
    steps: list[Step] = []
    team = Team(
        spec,
        store,
        kind="example",
        params={"example": "specialists", "task": task},
        backends=backends,
    )

    async def routed(
        step: str,
        role: str,
        prompt: str | list[dict[str, str]],
        *,
        skills: tuple[str, ...] = (),
        sampling: dict[str, Any] | None = None,
    ) -> Reply:
        began = time.perf_counter()
        reply = await call_role(team, role, prompt, skills=skills, task=step, sampling=sampling)
        item = Step(
            step=step,
            node=reply.node,
            role=role,
            seconds=time.perf_counter() - began,
            tokens=reply.usage.total_tokens,
            text=reply.text,
        )
        steps.append(item)
        if on_step is not None:
            on_step(item)
        return reply

    async def attempt(n: int, note: str) -> Candidate:
        # The note goes in an earlier turn: a small model keeps to the task in the last one.
        chat = [
            {"role": "user", "content": f"Reference note from the project docs:\n{note}"},
            {"role": "assistant", "content": "Noted."},
            {"role": "user", "content": task},
        ]
        written = await routed(
            f"write program {n}",
            "coder",
            chat,
            skills=("python",),
            sampling={"stop": CODE_STOP, "max_tokens": 160},
        )
        program = extract_code(written.text)
        ran = await routed(f"run program {n}", "executor", f"```python\n{program}\n```")
        ok = ran.finish_reason == "stop" and bool(ran.text.strip())
        output = ran.text.strip() or "(no output)"
        review = await routed(
            f"review program {n}",
            "reviewer",
            f"Task: {task}\n\nProgram:\n{program}\n\nOutput:\n{output[:600]}\n\n"
            "Does the output answer the task correctly?",
            sampling={"json_schema": REVIEW_SCHEMA, "max_tokens": 80},
        )
        return Candidate(
            coder=written.node,
            program=program,
            output=ran.text,
            ran=ok,
            verdict=verdict_of(review.text),
            review=review.text,
        )

    async with team:
        found = await routed("find docs", "retrieval", task)
        note = reference_note(found)
        candidates = list(await asyncio.gather(attempt(1, note), attempt(2, note)))
        chosen = next(
            (i for i, c in enumerate(candidates) if c.ran and c.verdict == "pass"),
            next((i for i, c in enumerate(candidates) if c.ran), None),
        )
        result = ExampleResult(
            run_id=team.run_id,
            task=task,
            citations=parse_citations(found.text),
            candidates=candidates,
            chosen=chosen,
            agree=len({c.output for c in candidates if c.ran}) == 1
            and all(c.ran for c in candidates),
            steps=steps,
            routing=router_for(team).statistics(),
            wall_s=time.perf_counter() - started,
        )
        team.result = {
            "chosen": chosen,
            "output": candidates[chosen].output if chosen is not None else None,
        }
    return result


def render(console: Console, result: ExampleResult) -> None:
    console.print(f"[bold]Task:[/] {result.task}\n")
    console.print("[bold]Passages from the docs[/] (retrieval node):")
    for c in result.citations:
        console.print(f"  [{c.n}] {c.label()}  [dim]score {c.score:.2f}[/]", highlight=False)
    console.print()
    for i, candidate in enumerate(result.candidates):
        mark = "[green]chosen[/]" if i == result.chosen else ""
        console.print(
            f"[bold]Program {i + 1}[/] by {candidate.coder} · ran: "
            f"{'yes' if candidate.ran else 'no'} · review: {candidate.verdict} {mark}"
        )
        console.print(candidate.program, markup=False, highlight=False)
        console.print(
            "[dim]output:[/]", candidate.output.strip()[:400] or "(none)", highlight=False
        )
        console.print()
    table = Table(title="routing", box=None, header_style="bold")
    for column in ("role", "policy", "replicas", "completed", "mean s", "per replica"):
        table.add_column(column)
    for stats in result.routing.values():
        table.add_row(
            stats.role,
            stats.policy,
            str(len(stats.replicas)),
            str(stats.completed),
            f"{stats.mean_latency_s:.2f}" if stats.mean_latency_s is not None else "",
            ", ".join(f"{r.node}: {r.completed}" for r in stats.replicas),
        )
    console.print(table)
    answer = (
        result.candidates[result.chosen].output.strip()
        if result.chosen is not None
        else "no program ran"
    )
    agreement = "the programs agree" if result.agree else "the programs do not agree"
    console.print(f"\n[bold]Answer:[/] {answer}  [dim]({agreement})[/]")
    console.print(
        f"[dim]{len(result.steps)} routed calls · "
        f"{sum(s.tokens for s in result.steps)} tokens · {result.wall_s:.1f}s · "
        f"run {result.run_id} (lmteams show {result.run_id})[/]"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=DEFAULT_TASK, help="What the coders should program.")
    parser.add_argument("--json", action="store_true", help="Print the result as JSON.")
    parser.add_argument("--db", type=Path, default=None, help="Event log (default ./.lmteams).")
    args = parser.parse_args(argv)
    console = Console(stderr=args.json)
    store = EventStore(args.db)

    def progress(step: Step) -> None:
        console.print(
            f"[dim]{step.step:<16} {step.node:<9} {step.seconds:5.1f}s {step.tokens:>5} tok[/]",
            highlight=False,
        )

    try:
        result = asyncio.run(run_example(args.task, store, on_step=progress))
    finally:
        close_all_engines()
        store.close()
    if args.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
    else:
        console.print()
        render(console, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
