"""OpenTelemetry traces from the event log: the SDK's in-memory exporter, OTLP JSON lines,
and OTLP/HTTP to a receiver of the test's own on loopback."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes
from opentelemetry.trace import SpanKind, StatusCode
from typer.testing import CliRunner

from lmteams.cli.app import app
from lmteams.errors import ConfigError
from lmteams.export import trace
from lmteams.export.trace import (
    SEMCONV_VERSION,
    otlp_json,
    run_spans,
    send_otlp,
    span_id,
    trace_id,
    traces_url,
)
from lmteams.state.store import EventStore

from .scenarios import ask_run, hedge_and_retry_run, project_run

SCRIPTED_TEAM = """
name: scripted
models:
  m: {backend: scripted, answers: {"2 + 2": "Answer: 4"}, default: "Answer: 0"}
nodes:
  - {name: a, role: solver}
  - {name: b, role: critic}
"""


def exported(store: EventStore, run_id: str) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    exporter.export(run_spans(store, run_id))
    return list(exporter.get_finished_spans())


def parent_name(span: ReadableSpan, spans: Sequence[ReadableSpan]) -> str | None:
    if span.parent is None:
        return None
    [parent] = [s for s in spans if s.context.span_id == span.parent.span_id]
    return parent.name


async def test_model_calls_carry_genai_attributes_and_their_retries_and_hedges(
    store: EventStore,
) -> None:
    run_id = await hedge_and_retry_run(store)
    spans = exported(store, run_id)
    root = spans[0]
    assert root.name == "invoke_workflow scripted" and root.parent is None
    assert root.attributes is not None and root.attributes["lmteams.run.id"] == run_id
    assert {s.context.trace_id for s in spans} == {trace_id(run_id)}
    chats = [s for s in spans if s.name == "chat scripted"]
    assert len(chats) == 16 and all(parent_name(s, spans) == root.name for s in chats)
    straggler, hedge, failed, retried = chats[-4:]
    for span in (hedge, retried):
        attributes = span.attributes or {}
        assert span.kind is SpanKind.CLIENT
        assert attributes["gen_ai.operation.name"] == "chat"
        assert attributes["gen_ai.request.model"] == "scripted"
        assert attributes["gen_ai.response.model"] == "scripted"
        assert attributes["gen_ai.provider.name"] == "scripted"
        assert attributes["gen_ai.usage.input_tokens"] > 0
        assert attributes["gen_ai.usage.output_tokens"] > 0
        assert tuple(attributes["gen_ai.response.finish_reasons"]) == ("stop",)
    assert [e.name for e in straggler.events][:3] == ["hedge_sent", "hedge_cancelled", "hedge_won"]
    assert (straggler.events[0].attributes or {})["lmteams.to"] == "n0"
    assert (hedge.attributes or {})["lmteams.hedge_of"] == (straggler.attributes or {})[
        "lmteams.request.id"
    ]
    assert failed.status.status_code is StatusCode.ERROR
    assert "ModelUnavailable" in (failed.status.description or "")
    assert (failed.attributes or {})["error.type"] == "ModelUnavailable"
    assert "retry" in [e.name for e in failed.events]
    assert (retried.attributes or {})["lmteams.attempt"] == 2
    assert retried.status.status_code is StatusCode.UNSET
    assert retried.start_time is not None and failed.end_time is not None
    assert retried.start_time > failed.end_time  # the backoff, on the run's clock


async def test_tasks_hold_their_calls_and_a_reroute_is_an_event(store: EventStore) -> None:
    run_id = await project_run(store)
    spans = exported(store, run_id)
    names = [s.name for s in spans]
    assert names[:3] == ["invoke_workflow scripted", "task a", "task b"]
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert [parent_name(s, spans) for s in calls] == ["task a", "task b", "task b"]
    task_b = spans[2]
    assert "rerouted" in [e.name for e in task_b.events]
    assert (task_b.attributes or {})["lmteams.task.outcome"] == "done"
    for span in spans[1:]:  # children inside their parents
        assert span.parent is not None
        [parent] = [s for s in spans if s.context.span_id == span.parent.span_id]
        assert parent.start_time is not None and span.start_time is not None
        assert parent.end_time is not None and span.end_time is not None
        assert parent.start_time <= span.start_time <= span.end_time <= parent.end_time


async def test_an_ask_has_a_decision_span_over_its_calls(store: EventStore) -> None:
    run_id = await ask_run(store)
    spans = exported(store, run_id)
    [decision] = [s for s in spans if s.name.startswith("decide ")]
    assert decision.name == "decide majority"
    assert (decision.attributes or {})["lmteams.decision.answer"] == "4"
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert len(calls) == 3 and {parent_name(s, spans) for s in calls} == {"decide majority"}


async def test_the_same_run_gives_the_same_trace_every_time(store: EventStore) -> None:
    run_id = await ask_run(store)
    assert otlp_json(store, run_id) == otlp_json(store, run_id)
    assert trace_id(run_id) != trace_id(run_id + "x")
    assert span_id(run_id, "run") != span_id(run_id, "task:a")


def test_a_resumed_run_is_one_trace_its_parts_in_order(store: EventStore) -> None:
    run_id = store.new_run("test", team="t")
    store.append(run_id, "run_started", {"kind": "test", "team": {}}, t=0.0, ts=1000.0)
    store.append(run_id, "task_assigned", {"task": "a"}, node="n0", t=1.0, ts=1001.0)
    # The coordinator died; resumed a minute later, its clock starts again at 0.
    store.append(run_id, "run_resumed", {"committed_calls": 0}, t=0.0, ts=1060.0)
    store.append(run_id, "task_done", {"task": "a", "attempts": 1}, node="n0", t=2.0, ts=1062.0)
    store.append(run_id, "run_finished", {"status": "done"}, t=2.5, ts=1062.5)
    store.finish_run(run_id, "done")
    spans = run_spans(store, run_id)
    root, task = spans
    assert {s.context.trace_id for s in spans} == {trace_id(run_id)}
    assert (root.start_time, root.end_time) == (1000 * 10**9, int(1062.5 * 10**9))
    assert (task.start_time, task.end_time) == (1001 * 10**9, 1062 * 10**9)
    assert [e.name for e in root.events] == ["run_resumed"]


async def test_otlp_json_is_the_otlp_encoding_with_hex_ids(store: EventStore) -> None:
    run_id = await project_run(store)
    request = json.loads(otlp_json(store, run_id))
    [resource_spans] = request["resourceSpans"]
    [scope_spans] = resource_spans["scopeSpans"]
    assert scope_spans["schemaUrl"].endswith(SEMCONV_VERSION)
    spans = scope_spans["spans"]
    assert {s["traceId"] for s in spans} == {f"{trace_id(run_id):032x}"}
    assert all(len(s["spanId"]) == 16 for s in spans)
    chat = next(s for s in spans if s["name"] == "chat scripted")
    assert chat["kind"] == 3  # SPAN_KIND_CLIENT, an integer as OTLP/JSON wants
    keys = {a["key"] for a in chat["attributes"]}
    assert {"gen_ai.usage.input_tokens", "gen_ai.request.model"} <= keys


def test_the_pinned_attribute_names_are_the_conventions() -> None:
    names = {
        getattr(gen_ai_attributes, n) for n in dir(gen_ai_attributes) if n.startswith("GEN_AI_")
    }
    used = {
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.response.id",
        "gen_ai.provider.name",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.response.finish_reasons",
        "gen_ai.agent.name",
        "gen_ai.workflow.name",
    }
    assert used <= names
    operations = {v.value for v in gen_ai_attributes.GenAiOperationNameValues}
    assert {"chat", "invoke_workflow"} <= operations


# -- OTLP/HTTP to a collector ----------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    posts: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.posts.append((self.path, body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.posts  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


async def test_the_trace_reaches_an_otlp_http_collector(
    store: EventStore, collector: tuple[str, list[tuple[str, bytes]]]
) -> None:
    url, posts = collector
    run_id = await project_run(store)
    assert send_otlp(store, run_id, url)
    [(path, body)] = posts
    assert path == "/v1/traces"
    request = ExportTraceServiceRequest.FromString(body)
    spans = request.resource_spans[0].scope_spans[0].spans
    assert [s.name for s in spans][:3] == ["invoke_workflow scripted", "task a", "task b"]
    assert spans[0].trace_id == trace_id(run_id).to_bytes(16, "big")


def test_ask_trace_writes_the_file_and_sends_to_the_collector(
    tmp_path: Path, collector: tuple[str, list[tuple[str, bytes]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, posts = collector
    team = tmp_path / "team.yaml"
    team.write_text(SCRIPTED_TEAM)
    out = tmp_path / "trace.jsonl"
    monkeypatch.setenv("LMTEAMS_OTLP_ENDPOINT", url)
    db = str(tmp_path / "runs.db")
    result = CliRunner().invoke(
        app, ["ask", "2 + 2", "-t", str(team), "--json", "--trace", str(out), "--db", db]
    )
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    [line] = out.read_text().splitlines()
    spans = json.loads(line)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert [s["name"] for s in spans][:2] == ["invoke_workflow scripted", "decide majority"]
    assert len(posts) == 1
    exported_again = CliRunner().invoke(app, ["export", run_id, "--format", "otlp", "--db", db])
    assert exported_again.exit_code == 0 and exported_again.stdout == out.read_text()


def trace_of_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *flags: str
) -> list[dict[str, Any]]:
    out = tmp_path / "run-trace.jsonl"
    monkeypatch.setenv("LMTEAMS_TRACE", str(out))
    team = tmp_path / "team.yaml"
    team.write_text(SCRIPTED_TEAM)
    db = str(tmp_path / "r.db")
    CliRunner().invoke(app, ["run", "tiny-math", "-t", str(team), "--json", "--db", db, *flags])
    spans: list[dict[str, Any]] = json.loads(out.read_text())["resourceSpans"][0]["scopeSpans"][0][
        "spans"
    ]
    return spans


def test_lmteams_trace_env_writes_the_trace_of_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = trace_of_run(tmp_path, monkeypatch, "--workers", "2")
    assert spans[0]["name"] == "invoke_workflow scripted"
    assert any(s["name"].startswith("task ") for s in spans)
    assert any(s["name"] == "chat m" for s in spans)


def test_a_run_that_fails_still_writes_its_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spans = trace_of_run(tmp_path, monkeypatch, "--workers", "3")  # the team has two
    [root] = spans
    assert root["status"]["code"] == 2 and "--workers 3" in root["status"]["message"]


def test_a_bad_endpoint_is_one_error_before_the_run() -> None:
    with pytest.raises(ConfigError, match="LMTEAMS_OTLP_ENDPOINT: must be an http"):
        traces_url("localhost:4318")
    assert traces_url("http://h:4318/") == "http://h:4318/v1/traces"
    assert traces_url("http://h:4318/v1/traces") == "http://h:4318/v1/traces"


async def test_without_the_otel_extra_the_error_names_it(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = await ask_run(store)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(ConfigError, match=r"pip install 'lmteams\[otel\]'"):
        trace.otlp_json(store, run_id)


async def test_an_interrupted_and_resumed_ask_is_one_trace(store: EventStore) -> None:
    from lmteams.resume import resume_run
    from lmteams.strategies.ask import ask
    from lmteams.testing import VirtualClock, scripted_team

    spec, backends = scripted_team(
        3, lambda call: "Answer: 4", latency_s=lambda call: 10.0 if call.node == "n2" else 1.0
    )
    with VirtualClock():
        first = asyncio.ensure_future(ask(spec, "q", store, backends=backends))
        await asyncio.sleep(5)  # n0 and n1 answered; n2 still thinking
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        [run] = store.runs()
        outcome = await resume_run(store, run.run_id, backends=backends)
    assert outcome.status == "done"
    spans = exported(store, run.run_id)
    roots = [s for s in spans if s.parent is None]
    assert len(roots) == 1 and {s.context.trace_id for s in spans} == {trace_id(run.run_id)}
    root = roots[0]
    assert [e.name for e in root.events].count("run_resumed") == 1
    assert "call_replayed" in [e.name for e in root.events]
    calls = [s for s in spans if s.name.startswith("chat ")]
    cut, answered = calls[2], calls[3]  # n2's first call, cut off, and the one resume made
    assert (cut.attributes or {})["lmteams.outcome"] == "unanswered"
    assert cut.end_time == answered.start_time  # the first part's end, where the second begins
    [decision] = [s for s in spans if s.name.startswith("decide ")]
    assert (decision.attributes or {})["lmteams.decision.answer"] == "4"
    assert root.start_time is not None and root.end_time is not None
    for span in spans:
        assert span.start_time is not None and span.end_time is not None
        assert root.start_time <= span.start_time <= span.end_time <= root.end_time


@pytest.mark.parametrize(
    ("flags", "env", "says"),
    [
        (["--trace", "{d}"], {}, "--trace: {d} is a folder"),
        (["--trace", "{d}/no/such/t.jsonl"], {}, "--trace: no folder {d}/no/such"),
        ([], {"LMTEAMS_TRACE": "{d}/no/t.jsonl"}, "LMTEAMS_TRACE: no folder {d}/no"),
        ([], {"LMTEAMS_OTLP_ENDPOINT": "localhost:4318"}, "LMTEAMS_OTLP_ENDPOINT: must be"),
    ],
    ids=["trace-folder", "trace-no-parent", "trace-env-no-parent", "endpoint-not-a-url"],
)
def test_a_bad_trace_target_is_one_line_before_any_call(
    tmp_path: Path, flags: list[str], env: dict[str, str], says: str
) -> None:
    import os
    import subprocess

    team = tmp_path / "team.yaml"
    team.write_text(SCRIPTED_TEAM)
    d = str(tmp_path)
    argv = [sys.executable, "-m", "lmteams.cli.app", "ask", "2 + 2", "-t", str(team)]
    proc = subprocess.run(
        [*argv, *(f.format(d=d) for f in flags)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "160", **{k: v.format(d=d) for k, v in env.items()}},
    )
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert says.format(d=d) in lines[0]
    db = tmp_path / ".lmteams" / "lmteams.db"
    assert not db.exists() or EventStore(db).runs() == []  # no run was opened


def test_resume_trace_writes_the_whole_run(tmp_path: Path) -> None:
    from lmteams.config import parse_team
    from lmteams.models.scripted import ScriptedBackend, ScriptedOptions
    from lmteams.strategies.ask import ask
    from lmteams.testing import VirtualClock

    spec = parse_team(yaml.safe_load(SCRIPTED_TEAM), source="team.yaml")
    slow_b = ScriptedBackend(
        None,
        name="m",
        latency_s=lambda call: 10.0 if call.node == "b" else 1.0,
        options=ScriptedOptions(answers={"2 + 2": "Answer: 4"}),
    )
    db = tmp_path / "r.db"
    store = EventStore(db)

    async def interrupted() -> None:
        with VirtualClock():
            first = asyncio.ensure_future(ask(spec, "2 + 2", store, backends={"m": slow_b}))
            await asyncio.sleep(5)  # a answered; b is cut off
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first

    asyncio.run(interrupted())  # the CLI below runs its own loop
    [run] = store.runs()
    store.close()
    out = tmp_path / "resumed.jsonl"
    result = CliRunner().invoke(
        app, ["resume", run.run_id[:12], "--trace", str(out), "--db", str(db), "--json"]
    )
    assert result.exit_code == 0, result.output
    spans = json.loads(out.read_text())["resourceSpans"][0]["scopeSpans"][0]["spans"]
    assert sum(1 for s in spans if "parentSpanId" not in s) == 1
    assert {s["traceId"] for s in spans} == {f"{trace_id(run.run_id):032x}"}
    root_events = [e["name"] for e in spans[0].get("events", [])]
    assert "run_resumed" in root_events
    assert [s["name"] for s in spans].count("chat m") == 3  # a's, b's cut-off one, b's again
