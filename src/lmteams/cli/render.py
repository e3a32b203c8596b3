"""Rich rendering of results and live progress. No logic lives here, only presentation."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from rich.console import Console, Group
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from lmteams.strategies.result import AskResult, NodeAnswer, NodeStatus

if TYPE_CHECKING:
    from lmteams.strategies.evaluation import EvalReport, StrategyScore


def clip(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    one_line = " ".join(text.split())
    if len(one_line) <= width:
        return one_line
    cut = one_line[: width - 1]
    # at a word boundary, unless that loses more than a third of the room
    words = cut.rsplit(" ", 1)[0]
    return (words if len(words) > width * 2 // 3 else cut) + "…"


class AskProgress:
    """Live per-node status for an ask, updated from the ask's progress callback."""

    def __init__(self, nodes: list[tuple[str, str]]) -> None:
        self.rows: dict[str, dict[str, Any]] = {
            name: {"role": role, "status": "waiting", "answer": None, "started": None}
            for name, role in nodes
        }
        self.started = time.perf_counter()

    def update(self, node: str, status: NodeStatus, answer: NodeAnswer | None) -> None:
        row = self.rows[node]
        row["status"] = status
        if status == "running":
            row["started"] = time.perf_counter()
        row["answer"] = answer

    def __rich__(self) -> Group:
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
        for column in ("node", "role", "status", "answer", "tokens", "time"):
            table.add_column(column)
        done = 0
        for name, row in self.rows.items():
            answer: NodeAnswer | None = row["answer"]
            status = row["status"]
            if status in ("done", "failed"):
                done += 1
            status_cell: Any = (
                Spinner("dots", text=" thinking")
                if status == "running"
                else Text(
                    status,
                    style="green" if status == "done" else "red" if status == "failed" else "dim",
                )
            )
            elapsed = (
                f"{answer.latency_s:.1f}s"
                if answer and status == "done"
                else f"{time.perf_counter() - row['started']:.1f}s"
                if row["started"]
                else ""
            )
            table.add_row(
                name,
                row["role"],
                status_cell,
                clip(answer.answer if answer else None, 40),
                str(answer.prompt_tokens + answer.completion_tokens) if answer else "",
                elapsed,
            )
        head = Text(
            f"asking {len(self.rows)} nodes · {done}/{len(self.rows)} answered · "
            f"{time.perf_counter() - self.started:.1f}s",
            style="bold",
        )
        return Group(head, table)


def ask_result(console: Console, result: AskResult) -> None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("node", "role", "answer", "tokens", "time", "reply"):
        table.add_column(column, overflow="fold" if column == "reply" else "ellipsis")
    for node in result.nodes:
        if node.status == "failed":
            table.add_row(
                node.node, node.role, Text("failed", style="red"), "", "", clip(node.error, 60)
            )
            continue
        table.add_row(
            node.node,
            node.role,
            clip(node.answer, 30) or Text("(none)", style="dim"),
            str(node.prompt_tokens + node.completion_tokens),
            f"{node.latency_s:.2f}s",
            clip(node.reply, 60),
        )
    console.print(table)
    for line in strategy_lines(result):
        console.print(line, highlight=False)
    console.print()
    if result.answer is None:
        reason = result.decided_by or "no node gave a usable answer"
        title = "No consensus" if reason.startswith("no consensus") else "No answer"
        console.print(Text(f"{title}: {reason.removeprefix('no consensus: ')}", style="bold red"))
    else:
        console.print(Text.assemble(("Answer: ", "bold"), (result.answer, "bold green")))
        console.print(support_line(result))
    console.print(
        f"[dim]{result.consensus} · {result.calls} calls · {result.prompt_tokens} prompt + "
        f"{result.completion_tokens} completion tokens · {result.wall_s:.2f}s · "
        f"run {result.run_id}[/]"
    )


def support_line(result: AskResult) -> str:
    if result.consensus in ("majority", "plurality", "quorum", "adaptive", "cascade", "debate"):
        line = (
            f"{result.support:g} of {result.valid_votes:g} answering nodes agree "
            f"({result.agreement:.0%})"
        )
    elif result.consensus == "learned":
        line = f"posterior {result.support:.2f} ({result.detail.get('method', 'learned')})"
    else:
        line = f"support {result.support:.3g} of {result.valid_votes:.3g} ({result.agreement:.0%})"
    tie = f"; tie between {', '.join(result.tied)}" if result.tie else ""
    return f"{line}{tie} · {result.decided_by}"


def strategy_lines(result: AskResult) -> list[str]:
    """What the strategy did, one short line each (rounds, verdicts, waves, reliability)."""
    detail = result.detail
    lines: list[str] = []
    for record in detail.get("rounds", []):
        answers = ", ".join(f"{n}={a or '—'}" for n, a in record["answers"].items())
        lines.append(f"[dim]round {record['round']}:[/] {clip(answers, 100)}")
    for record in detail.get("layers", []):
        answers = ", ".join(f"{n}={a or '—'}" for n, a in record["answers"].items())
        lines.append(f"[dim]layer {record['round']}:[/] {clip(answers, 100)}")
    if "shown" in detail:
        shown = ", ".join(f"{i}. {a}" for i, a in enumerate(detail["shown"], 1))
        lines.append(f"[dim]judge {detail.get('judge')} saw (shuffled):[/] {clip(shown, 90)}")
    if "fallback" in detail:
        lines.append(f"[yellow]fallback: {detail['fallback']}[/] ({detail.get('problem', '')})")
    for record in detail.get("waves", []):
        lines.append(f"[dim]wave:[/] asked {', '.join(record['asked'])}")
    if "skipped" in detail:
        lines.append(f"[dim]stopped after {detail['asked']} nodes:[/] {detail['stopped']}")
    for record in detail.get("tiers", []):
        answers = ", ".join(f"{n}={a or '—'}" for n, a in record["answers"].items())
        escalated = " → escalated" if record.get("escalate") else ""
        lines.append(f"[dim]tier {record['tier']}:[/] {clip(answers, 90)}{escalated}")
    if "reliability" in detail:
        shown = ", ".join(f"{n} {p:.2f}" for n, p in detail["reliability"].items())
        lines.append(
            f"[dim]reliability ({detail.get('history', 0)} questions, "
            f"{detail.get('labeled', 0)} labeled):[/] {shown}"
        )
    if "confidence" in detail:
        shown = ", ".join(f"{n} {p:.2f}" for n, p in detail["confidence"].items())
        lines.append(f"[dim]confidence:[/] {shown}")
    return lines


def eval_table(console: Console, report: EvalReport) -> None:
    """Strategies side by side with the best member and the largest model alone: accuracy (95%
    CI), each strategy's difference from both with McNemar's p, tokens, calls and wall time."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("strategy", "accuracy", "95% CI", "no answer", "tokens/q", "calls/q", "s/q"):
        table.add_column(column, justify="left" if column == "strategy" else "right")
    table.add_column("vs best member", justify="right")
    table.add_column("vs largest alone", justify="right")
    table.add_column("tokens vs greedy", justify="right")
    baseline = next((s for s in report.scores if s.strategy == "greedy"), None)
    versus = {(c.strategy, c.against): c for c in report.comparisons}

    def delta(strategy: str, against: str) -> str:
        c = versus.get((strategy, against))
        if c is None:
            return ""
        return f"{c.difference * 100:+.1f} p={c.p_value:.2g}" + ("*" if c.p_value < 0.05 else "")

    def row(score: StrategyScore, label: str, *, compare: bool) -> None:
        ratio = (
            f"{score.tokens_per_question / baseline.tokens_per_question:.1f}x"
            if baseline and baseline.tokens_per_question
            else ""
        )
        table.add_row(
            label,
            f"{score.accuracy:.1%}",
            f"{score.ci_low:.1%}-{score.ci_high:.1%}",
            str(score.no_answer),
            f"{score.tokens_per_question:.0f}",
            f"{score.calls / max(1, score.questions):.1f}",
            f"{score.wall_s / max(1, score.questions):.2f}",
            delta(score.strategy, "best member") if compare else "",
            delta(score.strategy, "largest alone") if compare else "",
            ratio,
        )

    for score in report.scores:
        label = score.strategy
        if score.strategy == "greedy" and report.largest_node:
            label = f"greedy: {report.largest_node} alone"
        row(score, label, compare=score.strategy != "greedy")
    for member in report.members:
        best = " (best)" if member.strategy == report.best_member else ""
        row(member, f"member {member.strategy}{best}", compare=False)
    console.print(
        f"[bold]{report.team}[/] on {report.dataset}: {report.questions} questions in "
        f"{report.wall_s:.1f}s",
        highlight=False,
    )
    console.print(table)
    notes = []
    if report.largest_model:
        notes.append(f"largest model alone: {report.largest_node} ({report.largest_model}), greedy")
    if report.best_member:
        notes.append(f"best member: {report.best_member}, sampled as it votes")
    if report.comparisons:
        notes.append("differences in points, McNemar's exact test (* p < 0.05)")
    if notes:
        console.print(f"[dim]{'; '.join(notes)}[/]", highlight=False)
    training = report.training
    if training is not None:
        if training.get("trained"):
            cv = training.get("cv_accuracy")
            console.print(
                f"meta-model trained on {training['questions']} questions "
                f"({training['candidates']} candidates): training accuracy "
                f"{training['train_accuracy']:.1%}"
                + (f", 5-fold cross-validated {cv:.1%}" if cv is not None else "")
                + "; `--consensus learned` now uses it",
                highlight=False,
            )
        else:
            console.print(f"[yellow]meta-model not trained:[/] {training.get('reason')}")
    console.print(
        f"[dim]run {report.run_id} · `lmteams eval-plot {report.run_id} -o eval.png`[/]",
        highlight=False,
    )


def write_json(value: BaseModel | dict[str, Any] | list[Any]) -> None:
    """`--json` output: one indented JSON document on stdout (a model in its JSON mode)."""
    if isinstance(value, BaseModel):
        text = value.model_dump_json(indent=2)
    else:
        text = json.dumps(value, indent=2)
    sys.stdout.write(text + "\n")


def line_due(done: int, total: int) -> bool:
    """Whether a plain progress line is due: about every 5% of ``total``, and at the end."""
    return done == total or done % max(1, total // 20) == 0
