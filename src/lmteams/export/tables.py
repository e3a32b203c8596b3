"""A run's event log as flat tables: runs, calls, tasks, and one table per event type.

Pure: a run record and its events in, rows out (:func:`tables`); :func:`write_tables` writes
them, one file per table, as JSON Lines, CSV or Parquet. Every row carries ``run_id``, so the
tables of several runs concatenate. Column meanings: docs/export.md.

Times: ``t`` is the run's clock (seconds since the run, or its resumed part, started; virtual
in simulations), ``ts`` a unix time: the wall time at which that part of the run started plus
``t`` (see :func:`timeline`), so a simulated run still has a coherent timeline and a resumed
run's parts follow each other.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from lmteams.errors import ConfigError
from lmteams.state.events import (
    CallFailed,
    HedgeCancelled,
    HedgeSent,
    RunStarted,
    TaskAssigned,
    TaskAttempt,
    TaskDone,
    TaskFailed,
)
from lmteams.state.store import EventRecord, RunRecord

TableFormat = Literal["jsonl", "csv", "parquet"]
TABLE_FORMATS: tuple[TableFormat, ...] = ("jsonl", "csv", "parquet")

Row = dict[str, Any]

#: Event columns every per-type table starts with; a data field of the same name is renamed
#: ``data_<name>`` (a decision's own ``run_id``, say).
EVENT_COLUMNS = ("seq", "run_id", "ts", "t", "node")

#: Task events that end a task's attempt for good.
_TASK_END = {"task_done": "done", "task_failed": "failed"}


def timeline(events: Sequence[EventRecord]) -> list[float]:
    """Each event's unix time: ``t`` on the clock of the run part it belongs to.

    A run part starts at ``run_started`` or ``run_resumed``, whose ``t`` restarts at 0; its
    wall time is that event's ``ts``, or the end of the part before if that is later. Events
    before any start event keep their own ``ts``.
    """
    anchor: float | None = None
    latest: float | None = None
    times: list[float] = []
    for event in events:
        if event.type in ("run_started", "run_resumed"):
            anchor = event.ts - event.t
            # On a virtual clock a part can end, in its own time, after the next part began
            # on the wall clock: the next part starts where the last one ended.
            if latest is not None and anchor < latest:
                anchor = latest
        when = event.ts if anchor is None else anchor + event.t
        times.append(when)
        latest = when if latest is None else max(latest, when)
    return times


@dataclass
class Call:
    """One model call: a request and what became of it."""

    request_id: str
    node: str
    sender: str
    start_t: float
    start_ts: float
    task: str | None
    task_attempt: int | None
    logical_id: str
    attempt: int
    hedge_of: str | None
    model: str | None
    reply_id: str | None = None
    served_by: str | None = None
    end_t: float | None = None
    end_ts: float | None = None
    response_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    outcome: str = "unanswered"
    error: str | None = None
    error_message: str | None = None
    hedged: bool = False
    events: list[tuple[EventRecord, float]] = field(default_factory=list)

    @property
    def latency_s(self) -> float | None:
        return None if self.end_t is None else round(self.end_t - self.start_t, 6)


@dataclass
class TaskRow:
    task: str
    node: str | None
    start_t: float
    start_ts: float
    end_t: float | None = None
    end_ts: float | None = None
    outcome: str = "unfinished"
    attempts: int = 0
    assignments: int = 0
    reason: str | None = None


def logged_team(events: Sequence[EventRecord]) -> dict[str, Any]:
    """The team a run started with, as its ``run_started`` event logged it."""
    for event in events:
        if event.type == "run_started":
            started = event.event
            return started.team if isinstance(started, RunStarted) else {}
    return {}


def node_model_specs(team: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each node's model key and spec, by the team file's rule: the node's own model, else
    ``defaults.model``, else the first model."""
    models = team.get("models") or {}
    default = (team.get("defaults") or {}).get("model") or next(iter(models), None)
    out: dict[str, tuple[str, dict[str, Any]]] = {}
    for node in team.get("nodes") or []:
        key = node.get("model") or default
        if key is not None:
            out[str(node.get("name"))] = (str(key), models.get(key) or {})
    return out


def _node_models(events: Sequence[EventRecord]) -> dict[str, str]:
    """Each node's configured model (the model's own name where the team file gives one)."""
    specs = node_model_specs(logged_team(events))
    return {node: str(spec.get("model") or key) for node, (key, spec) in specs.items()}


def calls(events: Sequence[EventRecord]) -> list[Call]:
    """Every model call of a run, in the order sent: each request message joined with its
    reply, its failure or its cancellation, and the retry and hedge events that name it."""
    times = timeline(events)
    models = _node_models(events)
    by_id: dict[str, Call] = {}
    previous: tuple[float, float] = (0.0, times[0] if times else 0.0)
    for event, ts in zip(events, times, strict=True):
        data = event.data
        if event.type == "run_resumed":
            # Calls the stopped coordinator never heard back from end where it stopped.
            for pending in by_id.values():
                if pending.end_t is None:
                    pending.end_t, pending.end_ts = previous
        previous = (event.t, ts)
        if event.type == "message":
            kind = data.get("kind")
            if kind == "request":
                payload = data.get("payload") or {}
                meta = payload.get("meta") or {}
                delivery = meta.get("delivery") or {}
                node = (data.get("recipients") or ["?"])[0]
                request_id = str(data.get("id"))
                attempt = meta.get("attempt")
                by_id[request_id] = Call(
                    request_id=request_id,
                    node=node,
                    sender=str(data.get("sender")),
                    start_t=event.t,
                    start_ts=ts,
                    task=meta.get("task"),
                    task_attempt=attempt if isinstance(attempt, int) else None,
                    logical_id=str(delivery.get("first_id") or request_id),
                    attempt=int(delivery.get("try") or 1),
                    hedge_of=delivery.get("hedge_of"),
                    model=models.get(node),
                    hedged=delivery.get("hedge_of") is not None,
                )
            elif kind == "reply" and data.get("parent_id") in by_id:
                call = by_id[data["parent_id"]]
                payload = data.get("payload") or {}
                usage = data.get("usage") or {}
                call.reply_id = data.get("id")
                call.served_by = data.get("sender")
                call.end_t, call.end_ts = event.t, ts
                call.response_model = payload.get("model")
                call.prompt_tokens = usage.get("prompt_tokens")
                call.completion_tokens = usage.get("completion_tokens")
                call.finish_reason = payload.get("finish_reason")
                call.outcome = "ok"
            continue
        named = data.get("request_id")
        about = by_id.get(named) if isinstance(named, str) else None
        if about is None:
            continue
        typed = event.event
        if isinstance(typed, CallFailed):
            about.end_t, about.end_ts = event.t, ts
            about.outcome = "failed"
            about.error = typed.error
            about.error_message = typed.message
        elif isinstance(typed, HedgeCancelled):
            about.end_t, about.end_ts = event.t, ts
            about.outcome = "cancelled"
            about.prompt_tokens = typed.prompt_tokens
            about.completion_tokens = typed.completion_tokens
        elif isinstance(typed, HedgeSent):
            about.hedged = True
        about.events.append((event, ts))
    return list(by_id.values())


def tasks(events: Sequence[EventRecord]) -> list[TaskRow]:
    """One row per task: first assigned, last ended, its final outcome."""
    times = timeline(events)
    rows: dict[str, TaskRow] = {}
    for event, ts in zip(events, times, strict=True):
        name = event.data.get("task")
        if not isinstance(name, str) or not event.type.startswith("task_"):
            continue
        row = rows.get(name)
        if row is None:
            row = rows[name] = TaskRow(name, event.node, event.t, ts)
        typed = event.event
        if isinstance(typed, TaskAssigned):
            row.assignments += 1
            row.node = event.node or row.node
        elif isinstance(typed, TaskAttempt):
            row.attempts = max(row.attempts, typed.attempt)
        elif isinstance(typed, TaskDone | TaskFailed):
            row.outcome = _TASK_END[event.type]
            row.end_t, row.end_ts = event.t, ts
            row.node = event.node or row.node
            row.reason = typed.error if isinstance(typed, TaskFailed) else None
            row.attempts = max(row.attempts, typed.attempts if isinstance(typed, TaskDone) else 0)
    return list(rows.values())


def run_row(run: RunRecord) -> Row:
    result = run.result or {}
    return {
        "run_id": run.run_id,
        "kind": run.kind,
        "status": run.status,
        "team": run.team,
        "created_at": run.created_at,
        "ended_at": run.ended_at,
        "duration_s": None if run.ended_at is None else round(run.ended_at - run.created_at, 6),
        "answer": _scalar(result.get("answer")),
        "error": _scalar(result.get("error")),
        "params": json.dumps(run.params, sort_keys=True),
        "result": None if run.result is None else json.dumps(run.result, sort_keys=True),
    }


def call_row(run_id: str, call: Call) -> Row:
    tokens = (
        None
        if call.prompt_tokens is None and call.completion_tokens is None
        else (call.prompt_tokens or 0) + (call.completion_tokens or 0)
    )
    return {
        "run_id": run_id,
        "request_id": call.request_id,
        "reply_id": call.reply_id,
        "logical_id": call.logical_id,
        "node": call.node,
        "served_by": call.served_by,
        "model": call.model,
        "response_model": call.response_model,
        "task": call.task,
        "task_attempt": call.task_attempt,
        "attempt": call.attempt,
        "hedged": call.hedged,
        "hedge_of": call.hedge_of,
        "start_t": call.start_t,
        "end_t": call.end_t,
        "start_ts": call.start_ts,
        "end_ts": call.end_ts,
        "latency_s": call.latency_s,
        "prompt_tokens": call.prompt_tokens,
        "completion_tokens": call.completion_tokens,
        "total_tokens": tokens,
        "finish_reason": call.finish_reason,
        "outcome": call.outcome,
        "error": call.error,
        "error_message": call.error_message,
    }


def task_row(run_id: str, events_of_calls: Sequence[Call], task: TaskRow) -> Row:
    mine = [c for c in events_of_calls if c.task == task.task]
    return {
        "run_id": run_id,
        "task": task.task,
        "node": task.node,
        "outcome": task.outcome,
        "attempts": task.attempts,
        "assignments": task.assignments,
        "start_t": task.start_t,
        "end_t": task.end_t,
        "start_ts": task.start_ts,
        "end_ts": task.end_ts,
        "duration_s": None if task.end_t is None else round(task.end_t - task.start_t, 6),
        "calls": len(mine),
        "prompt_tokens": sum(c.prompt_tokens or 0 for c in mine),
        "completion_tokens": sum(c.completion_tokens or 0 for c in mine),
        "reason": task.reason,
    }


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return json.dumps(value, sort_keys=True)


def flatten(data: dict[str, Any], prefix: str = "") -> Row:
    """Nested mappings become dotted columns (``usage.prompt_tokens``); lists are JSON text."""
    out: Row = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, dict):
            out[name] = None
        else:
            out[name] = _scalar(value)
    return out


def event_rows(events: Iterable[EventRecord], times: Sequence[float]) -> dict[str, list[Row]]:
    """The events by type, each one row: the fixed columns, then its data flattened."""
    out: dict[str, list[Row]] = {}
    for event, ts in zip(events, times, strict=True):
        row: Row = {
            "seq": event.seq,
            "run_id": event.run_id,
            "ts": ts,
            "t": event.t,
            "node": event.node,
        }
        for key, value in flatten(event.data).items():
            row[f"data_{key}" if key in EVENT_COLUMNS else key] = value
        out.setdefault(event.type, []).append(row)
    return out


def tables(run: RunRecord, events: Sequence[EventRecord]) -> dict[str, list[Row]]:
    """Every table of one run, by name: ``runs``, ``calls``, ``tasks``, ``events_<type>``."""
    all_calls = calls(events)
    out: dict[str, list[Row]] = {
        "runs": [run_row(run)],
        "calls": [call_row(run.run_id, c) for c in all_calls],
        "tasks": [task_row(run.run_id, all_calls, t) for t in tasks(events)],
    }
    for kind, rows in sorted(event_rows(events, timeline(events)).items()):
        out[f"events_{_safe(kind)}"] = rows
    return out


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name) or "unnamed"


# -- writing ------------------------------------------------------------------------------

_ColumnType = Literal["bool", "int", "float", "str", "null"]


def columns(rows: Sequence[Row]) -> list[str]:
    """Every column of the rows, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def column_type(values: Iterable[Any]) -> _ColumnType:
    """One type per column: ints and floats mixed are floats; anything else mixed is text."""
    kinds = {"bool" if isinstance(v, bool) else type(v).__name__ for v in values if v is not None}
    if not kinds:
        return "null"
    if kinds == {"bool"}:
        return "bool"
    if kinds == {"int"}:
        return "int"
    if kinds <= {"int", "float"}:
        return "float"
    return "str"


def normalized(rows: Sequence[Row]) -> tuple[list[str], dict[str, _ColumnType], list[Row]]:
    """Rows with every column present (None where missing) and one type per column."""
    names = columns(rows)
    types = {name: column_type(row.get(name) for row in rows) for name in names}
    out: list[Row] = []
    for row in rows:
        fixed: Row = {}
        for name in names:
            value = row.get(name)
            kind = types[name]
            if value is not None and kind == "float":
                value = float(value)
            elif value is not None and kind == "str" and not isinstance(value, str):
                value = json.dumps(value)
            fixed[name] = value
        out.append(fixed)
    return names, types, out


def _empty_columns() -> dict[str, list[str]]:
    """The columns of the fixed tables, for writing one that has no rows (an ask's tasks)."""
    call = Call("", "", "", 0.0, 0.0, None, None, "", 1, None, None)
    task = TaskRow("", None, 0.0, 0.0)
    return {"calls": list(call_row("", call)), "tasks": list(task_row("", [], task))}


def write_tables(
    tables_by_name: dict[str, list[Row]], out_dir: Path, fmt: TableFormat
) -> list[Path]:
    """Write each table to ``out_dir/<name>.<fmt>`` (the folder is made); the paths written."""
    if fmt not in TABLE_FORMATS:
        raise ConfigError(
            f"must be one of {', '.join(TABLE_FORMATS)}, not {fmt!r}", field="--format"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError("is a file; tables are written into a folder", field=str(out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder: {exc.strerror}", field=str(out_dir)) from None
    written = []
    empty = _empty_columns()
    for name, rows in tables_by_name.items():
        path = out_dir / f"{name}.{fmt}"
        names, types, fixed = normalized(rows)
        if not rows:
            names = empty.get(name, [])
            types = {n: "null" for n in names}
        try:
            if fmt == "jsonl":
                with path.open("w", encoding="utf-8") as handle:
                    for row in fixed:
                        handle.write(json.dumps(row) + "\n")
            elif fmt == "csv":
                with path.open("w", encoding="utf-8", newline="") as handle:
                    writer = csv.DictWriter(handle, fieldnames=names)
                    writer.writeheader()
                    writer.writerows(fixed)
            else:
                _write_parquet(path, names, types, fixed)
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror}", field=str(path)) from None
        written.append(path)
    return written


def _write_parquet(
    path: Path, names: list[str], types: dict[str, _ColumnType], rows: list[Row]
) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "writing parquet needs pyarrow: pip install 'lmteams[parquet]'", field="--format"
        ) from None
    arrow = {
        "bool": pa.bool_(),
        "int": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
        "null": pa.string(),  # a column with no value yet: text, so tables of runs concatenate
    }
    schema = pa.schema([(name, arrow[types[name]]) for name in names])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
