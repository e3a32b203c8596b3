"""Rich rendering of results and live progress. No logic lives here, only presentation."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console, Group
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from lmteams.ask import AskResult, NodeAnswer, NodeStatus


def clip(text: str | None, width: int = 60) -> str:
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= width else one_line[: width - 1] + "…"


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
    console.print()
    if result.answer is None:
        console.print(Text("No answer: no node gave a usable answer.", style="bold red"))
    else:
        console.print(Text.assemble(("Answer: ", "bold"), (result.answer, "bold green")))
        agreement = (
            f"{result.support:g} of {result.valid_votes:g} answering nodes agree "
            f"({result.agreement:.0%})"
        )
        console.print(
            agreement
            + (f"; tie between {', '.join(result.tied)}, {result.decided_by}" if result.tie else "")
        )
    console.print(
        f"[dim]{result.calls} calls · {result.prompt_tokens} prompt + {result.completion_tokens} "
        f"completion tokens · {result.wall_s:.2f}s · run {result.run_id}[/]"
    )
