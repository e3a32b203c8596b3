"""`lmteams runs`, `lmteams show RUN`, `lmteams export RUN`: reading the event log."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.table import Table

from lmteams.cli.options import DbOption, JsonOption, out_option
from lmteams.cli.render import clip, write_json
from lmteams.cli.session import open_log_if_any, open_store
from lmteams.errors import ConfigError
from lmteams.export import TABLE_FORMATS, export_tables
from lmteams.state.events import RunStarted
from lmteams.state.liveness import STAMPED, effective_status
from lmteams.state.store import EventRecord, RunRecord, default_db_path


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _summary(run: RunRecord) -> str:
    params, result = run.params, run.result or {}
    if run.kind == "ask":
        answer = result.get("answer")
        return clip(f"{params.get('question', '')} → {answer if answer is not None else '—'}", 70)
    if "error" in result:
        return clip(f"error: {result['error']}", 70)
    if run.kind == "run":  # a project run: what ran, how; its goal only when it was planned
        settings = params.get("settings") or {}
        name = (params.get("project") or {}).get("project") or "planned"
        goal = f" · goal: {params['goal']}" if params.get("goal") else ""
        how = f"{settings.get('topology', '?')}, {settings.get('workers', '?')} workers"
        return clip(f"{name} · {how}{goal}", 70)
    if run.kind == "eval":  # its dataset and strategies (the path and digest are for resume)
        strategies = ", ".join(params.get("strategies") or [])
        questions = params.get("questions", "?")
        return clip(f"{params.get('dataset') or '?'} · {questions} questions · {strategies}", 70)
    # settings left unset (a project run's goal, lead, planner) are stored as None: not news
    shown = {k: v for k, v in params.items() if v is not None and not isinstance(v, dict | list)}
    return clip(" ".join(f"{k}={v}" for k, v in shown.items()), 70)


def runs_command(
    limit: Annotated[
        int, typer.Option("--limit", "-l", min=1, help="Show at most this many.")
    ] = 20,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only runs of this kind (ask, run...).")
    ] = None,
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """List recent runs in the event log, newest first."""
    store = open_log_if_any(db)
    runs: list[RunRecord] = store.runs(limit=limit, kind=kind) if store is not None else []
    if json_output:
        rows = [{**r.model_dump(mode="json"), "status": _status(store, r)} for r in runs]
        write_json(rows)
        return
    console = Console()
    if store is None or not runs:
        where = store.path if store is not None else default_db_path()
        console.print(f'No runs yet in {where}. Try: lmteams ask "What is 2 + 2?"')
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("run", "kind", "status", "started", "time", "team", "summary"):
        table.add_column(column, no_wrap=column != "summary")
    for run in runs:
        duration = f"{run.ended_at - run.created_at:.1f}s" if run.ended_at else ""
        status = _status(store, run)
        status_style = {
            "done": "green",
            "failed": "red",
            "running": "yellow",
            "interrupted": "red",
        }.get(status, "")
        table.add_row(
            run.run_id,
            run.kind,
            f"[{status_style}]{status}[/]" if status_style else status,
            _when(run.created_at),
            duration,
            run.team or "",
            _summary(run),
        )
    console.print(table)


def _status(store: Any, run: RunRecord) -> str:
    """The run's status, ``interrupted`` where it says running but its coordinator died."""
    if run.status != "running":
        return run.status
    # every run logs its process at the start and at each resume; project runs per segment too
    started = store.events(run.run_id, types=list(STAMPED))
    return effective_status(run.status, started)


REASON_KEYS = ("error", "reason", "summary", "detail")


def describe(event: EventRecord) -> str:
    data = event.data
    if event.type == "message":
        recipients = ",".join(data.get("recipients", []))
        payload = data.get("payload", {})
        body = payload.get("text")
        if body is None and payload.get("messages"):
            body = payload["messages"][-1].get("content", "")
        usage = data.get("usage") or {}
        tokens = (
            f" [{usage.get('prompt_tokens', 0)}+{usage.get('completion_tokens', 0)} tok]"
            if usage
            else ""
        )
        return f"{data.get('kind')} {data.get('sender')} → {recipients}{tokens}: {clip(body or '', 80)}"
    started = event.event
    if isinstance(started, RunStarted):
        nodes = ", ".join(n.get("name", "?") for n in started.team.get("nodes", []))
        return f"{started.kind} run on {started.runtime} runtime; nodes: {nodes}"
    shown = {k: v for k, v in data.items() if not isinstance(v, dict | list)}
    head = {k: v for k, v in shown.items() if k not in REASON_KEYS}
    text = clip(" ".join(f"{k}={v}" for k, v in head.items()), 110)
    # a reason is shown whole (up to a screenful), never cut inside a word
    reasons = [f"{k}={clip(str(v), 400)}" for k, v in shown.items() if k in REASON_KEYS and v]
    return " ".join([text, *reasons]).strip()


def show_command(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of one.")],
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Print a run's timeline: every message and state change, in order."""
    store = open_store(db, read_only=True)
    run = store.run(run_id)
    events = store.events(run.run_id)
    if json_output:
        out: dict[str, Any] = run.model_dump(mode="json")
        out["events"] = [e.model_dump(mode="json") for e in events]
        write_json(out)
        return
    console = Console()
    console.print(
        f"[bold]{run.run_id}[/] · {run.kind} · {_status(store, run)} · team {run.team} · started {_when(run.created_at)}"
    )
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("t", justify="right", no_wrap=True)
    table.add_column("event", no_wrap=True)
    table.add_column("node", no_wrap=True)
    table.add_column("detail")
    for event in events:
        table.add_row(f"{event.t:.3f}s", event.type, event.node or "", describe(event))
    console.print(table)
    if run.result and "answer" in run.result:
        console.print(f"answer: [bold]{run.result['answer']}[/]")


ExportFormat = Literal["log", "jsonl", "csv", "parquet", "otlp"]


def export_command(
    run_id: Annotated[str, typer.Argument(help="Run id, or a unique prefix of one.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="log (the run and its events as JSON Lines), jsonl, csv or parquet (one "
            "table per kind in the --out folder), otlp (its OpenTelemetry trace).",
        ),
    ] = "log",
    output: Annotated[
        Path | None,
        out_option("log, otlp: write this file instead of stdout; tables: the folder (required)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write a run out of the event log: its log, its tables, or its trace (docs/export.md)."""
    if fmt in TABLE_FORMATS and output is None:
        raise ConfigError("give the folder to write the tables into", field="--out")
    store = open_store(db, read_only=True)
    run = store.run(run_id)
    if fmt in TABLE_FORMATS:
        assert output is not None
        written = export_tables(store, run.run_id, output, fmt)
        Console(stderr=True).print(f"wrote {len(written)} tables to {output}")
        return
    if fmt == "otlp":
        from lmteams.export.trace import otlp_json

        text = otlp_json(store, run.run_id) + "\n"
        count = 1
    else:
        lines = [json.dumps({"record": "run", **run.model_dump(mode="json")})]
        lines += [
            json.dumps({"record": "event", **e.model_dump(mode="json")})
            for e in store.events(run.run_id)
        ]
        text = "\n".join(lines) + "\n"
        count = len(lines)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text)
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror}", field=str(output)) from None
        Console(stderr=True).print(f"wrote {count} lines to {output}")


COMMANDS = [("runs", runs_command, 80), ("show", show_command, 81), ("export", export_command, 82)]
