"""`lmteams export --format jsonl|csv|parquet`: one flat table per kind, loadable as is."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from lmteams.cli.app import app
from lmteams.errors import ConfigError
from lmteams.export import export_tables, tables
from lmteams.export.tables import column_type, flatten, normalized
from lmteams.state.store import EventStore

from .scenarios import ask_run, hedge_and_retry_run, project_run


async def test_calls_join_each_request_with_its_reply_failure_or_cancellation(
    store: EventStore,
) -> None:
    run_id = await hedge_and_retry_run(store)
    rows = tables(store.run(run_id), store.events(run_id))["calls"]
    assert len(rows) == 16  # 12 warm-up calls, the straggler and its hedge, a failure, its retry
    straggler, hedge, failed, retried = rows[-4:]
    assert (straggler["node"], straggler["outcome"], straggler["hedged"]) == (
        "n3",
        "cancelled",
        True,
    )
    assert straggler["prompt_tokens"] == 12  # the estimate the log charged for the loser
    assert hedge["hedge_of"] == straggler["request_id"] and hedge["outcome"] == "ok"
    assert hedge["logical_id"] == straggler["request_id"] and hedge["served_by"] == "n0"
    assert (failed["outcome"], failed["error"]) == ("failed", "ModelUnavailable")
    assert failed["reply_id"] is None and failed["latency_s"] == pytest.approx(1.0)
    assert retried["attempt"] == 2 and retried["logical_id"] == failed["request_id"]
    assert retried["outcome"] == "ok" and retried["latency_s"] == pytest.approx(1.0)
    assert all(r["model"] == "scripted" and r["run_id"] == run_id for r in rows)


async def test_tasks_count_their_calls_and_tokens(store: EventStore) -> None:
    run_id = await project_run(store)
    out = tables(store.run(run_id), store.events(run_id))
    by_task = {row["task"]: row for row in out["tasks"]}
    assert set(by_task) == {"a", "b"}
    assert by_task["a"]["outcome"] == "done" and by_task["a"]["calls"] == 1
    assert by_task["b"]["calls"] == 2  # the failed call and the one that replaced it
    tokens = sum(r["prompt_tokens"] or 0 for r in out["calls"] if r["task"] == "b")
    assert by_task["b"]["prompt_tokens"] == tokens > 0
    assert by_task["b"]["start_t"] == pytest.approx(1.0)
    [run] = out["runs"]
    assert run["kind"] == "run" and run["status"] == "done"
    assert json.loads(run["params"])["settings"]["workers"] == 2


async def test_every_event_type_gets_a_table_of_its_own(store: EventStore) -> None:
    run_id = await project_run(store)
    events = store.events(run_id)
    out = tables(store.run(run_id), events)
    for kind in {e.type for e in events}:
        rows = out[f"events_{kind}"]
        assert len(rows) == sum(1 for e in events if e.type == kind)
    [retry] = out["events_retry"]
    assert retry["error"] == "ModelUnavailable" and retry["attempt"] == 1
    assert list(retry)[:5] == ["seq", "run_id", "ts", "t", "node"]
    replies = [r for r in out["events_message"] if r["kind"] == "reply"]
    assert all(r["usage.prompt_tokens"] > 0 for r in replies)


def test_flatten_dots_nested_fields_and_keeps_lists_as_json() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": "x"}}, "l": [1, 2], "e": {}}) == {
        "a.b": 1,
        "a.c.d": "x",
        "l": "[1, 2]",
        "e": None,
    }


def test_each_column_gets_one_type() -> None:
    assert column_type([1, 2.5, None]) == "float"
    assert column_type([True, None]) == "bool"
    assert column_type([1, "x"]) == "str"
    assert column_type([None]) == "null"
    names, types, rows = normalized([{"a": 1}, {"a": 2.5, "b": "x"}, {"b": 3}])
    assert names == ["a", "b"] and types == {"a": "float", "b": "str"}
    assert rows == [{"a": 1.0, "b": None}, {"a": 2.5, "b": "x"}, {"a": None, "b": "3"}]


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "parquet"])
async def test_the_cli_writes_one_file_per_table(
    store: EventStore, tmp_path: Path, fmt: str
) -> None:
    run_id = await project_run(store)
    out = tmp_path / "tables"
    result = CliRunner().invoke(
        app, ["export", run_id[:12], "--format", fmt, "--out", str(out), "--db", str(store.path)]
    )
    assert result.exit_code == 0, result.output
    names = {p.name for p in out.iterdir()}
    assert {f"runs.{fmt}", f"calls.{fmt}", f"tasks.{fmt}", f"events_retry.{fmt}"} <= names
    calls_file = out / f"calls.{fmt}"
    if fmt == "parquet":
        table = pq.read_table(calls_file)
        assert table.num_rows == 3
        assert str(table.schema.field("prompt_tokens").type) == "int64"
        assert str(table.schema.field("hedged").type) == "bool"
        outcomes = table.column("outcome").to_pylist()
    elif fmt == "csv":
        with calls_file.open(newline="") as handle:
            outcomes = [row["outcome"] for row in csv.DictReader(handle)]
    else:
        outcomes = [json.loads(line)["outcome"] for line in calls_file.read_text().splitlines()]
    assert outcomes == ["ok", "failed", "ok"]


async def test_an_ask_writes_an_empty_tasks_table_with_its_columns(
    store: EventStore, tmp_path: Path
) -> None:
    run_id = await ask_run(store)
    export_tables(store, run_id, tmp_path / "t", "parquet")
    table = pq.read_table(tmp_path / "t" / "tasks.parquet")
    assert table.num_rows == 0 and "outcome" in table.column_names
    decision = pq.read_table(tmp_path / "t" / "events_decision.parquet")
    assert decision.column("answer").to_pylist() == ["4"]
    assert decision.column("data_run_id").to_pylist() == [run_id]


async def test_tables_into_a_file_is_one_error(store: EventStore, tmp_path: Path) -> None:
    run_id = await ask_run(store)
    target = tmp_path / "taken"
    target.write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        export_tables(store, run_id, target, "csv")


async def test_the_default_format_is_still_the_log(store: EventStore, tmp_path: Path) -> None:
    run_id = await ask_run(store)
    result = CliRunner().invoke(app, ["export", run_id, "--db", str(store.path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0]["record"] == "run" and lines[1]["type"] == "run_started"
