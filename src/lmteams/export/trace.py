"""A run's OpenTelemetry trace, built from its event log after the fact.

One trace per run (its id derived from the run id, so a resumed run, or the same run exported
twice, is one trace with the same span ids); spans for the run, each task, each consensus
decision and each model call. Model-call spans carry the GenAI semantic conventions'
attributes (version :data:`SEMCONV_VERSION`, still marked development upstream); retries,
hedges, breaker transitions, reroutes and health changes are span events; failures are span
status. Span tree and attributes: docs/export.md.

Spans are the SDK's own :class:`~opentelemetry.sdk.trace.ReadableSpan`, with the log's times,
so every SDK exporter takes them: :func:`otlp_json` (the OTLP/JSON encoding of an
``ExportTraceServiceRequest``, via the SDK's protobuf encoder) and :func:`send_otlp`
(OTLP/HTTP with the SDK's ``OTLPSpanExporter``). OpenTelemetry is the ``otel`` extra,
imported only here and only when a trace is asked for.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmteams.errors import ConfigError
from lmteams.export.tables import Call, calls, logged_team, node_model_specs, tasks, timeline
from lmteams.state.store import EventRecord, EventStore, RunRecord

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

#: The GenAI semantic conventions these spans follow (attribute names and operation names).
SEMCONV_VERSION = "1.44.0"
SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"

#: Where `--trace`'s default comes from: write the run's trace here (OTLP JSON lines).
TRACE_ENV = "LMTEAMS_TRACE"
#: An OTLP/HTTP collector to send each run's trace to (``/v1/traces`` is added unless given).
ENDPOINT_ENV = "LMTEAMS_OTLP_ENDPOINT"
#: Seconds the OTLP/HTTP exporter waits for the collector.
SEND_TIMEOUT_S = 10.0

MISSING = "OpenTelemetry traces need the otel extra: pip install 'lmteams[otel]'"

#: Events that concern one request (they name its ``request_id``): on that call's span.
CALL_EVENTS = ("retry", "hedge_sent", "hedge_won", "hedge_cancelled")
#: Events about a node or the whole team: on the innermost span open on that node then.
NODE_EVENTS = (
    "rerouted",
    "breaker_opened",
    "breaker_half_open",
    "breaker_closed",
    "node_suspect",
    "node_dead",
    "node_recovered",
    "node_lost",
    "budget_stop",
    "stalled",
    "run_resumed",
    "call_replayed",  # a resumed run's call answered from the log: no request was sent
)


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def trace_id(run_id: str) -> int:
    """The run's 128-bit trace id: the first bytes of a hash of its id (never zero)."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:16], "big") or 1


def span_id(run_id: str, key: str) -> int:
    """A 64-bit span id for ``key`` (a task, a request id...) within the run (never zero)."""
    digest = hashlib.sha256(f"{run_id}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") or 1


@dataclass
class _Plan:
    """A span before it is built: the SDK's spans are immutable."""

    key: str
    name: str
    parent: _Plan | None
    start: float
    end: float
    attributes: dict[str, Any]
    kind: str = "internal"
    error: str | None = None
    node: str | None = None

    def __post_init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any], float]] = []

    def covers(self, when: float) -> bool:
        return self.start <= when <= self.end


def _attrs(data: dict[str, Any], prefix: str = "lmteams.") -> dict[str, Any]:
    """Event data as span attributes: scalars as they are, anything else as JSON text."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if value is None:
            continue
        if isinstance(value, bool | int | float | str):
            out[f"{prefix}{key}"] = value
        else:
            out[f"{prefix}{key}"] = json.dumps(value, sort_keys=True)
    return out


def _providers(team: dict[str, Any]) -> dict[str, str]:
    specs = node_model_specs(team)
    return {node: str(spec["backend"]) for node, (_, spec) in specs.items() if spec.get("backend")}


def plan(run: RunRecord, events: Sequence[EventRecord]) -> list[_Plan]:
    """The run's spans, root first, each with its parent, times, attributes and events."""
    times = timeline(events)
    start = times[0] if times else run.created_at
    end = max(times) if times else (run.ended_at or run.created_at)
    team = logged_team(events)
    team_name = run.team or str(team.get("name") or "team")
    root = _Plan(
        key="run",
        name=f"invoke_workflow {team_name}",
        parent=None,
        start=start,
        end=end,
        attributes={
            "gen_ai.operation.name": "invoke_workflow",
            "gen_ai.workflow.name": team_name,
            "lmteams.run.id": run.run_id,
            "lmteams.run.kind": run.kind,
            "lmteams.run.status": run.status,
        },
    )
    if run.status in ("failed", "cancelled"):
        root.error = str((run.result or {}).get("error") or run.status)
    spans = [root]

    task_spans: dict[str, _Plan] = {}
    for task in tasks(events):
        task_end = task.end_ts if task.end_ts is not None else end
        span = _Plan(
            key=f"task:{task.task}",
            name=f"task {task.task}",
            parent=root,
            start=task.start_ts,
            end=task_end,
            attributes={
                "lmteams.task.id": task.task,
                "lmteams.task.outcome": task.outcome,
                "lmteams.task.attempts": task.attempts,
                **({"gen_ai.agent.name": task.node} if task.node else {}),
            },
            node=task.node,
        )
        if task.outcome == "failed":
            span.error = task.reason or "task failed"
        task_spans[task.task] = span
        spans.append(span)

    all_calls = calls(events)
    decisions = _decisions(run, events, times, all_calls, root)
    spans.extend(decisions)

    providers = _providers(team)
    call_spans: dict[str, _Plan] = {}
    for call in all_calls:
        parent = task_spans.get(call.task or "") or _decision_for(call, decisions) or root
        span = _call_span(run.run_id, call, parent, end, providers.get(call.node))
        call_spans[call.request_id] = span
        spans.append(span)
        for event, when in call.events:
            if event.type in CALL_EVENTS:
                span.events.append((event.type, _attrs(event.data), when))

    calls_by_node: dict[str, list[_Plan]] = {}
    for span in call_spans.values():
        calls_by_node.setdefault(span.node or "", []).append(span)
    for event, when in zip(events, times, strict=True):
        if event.type not in NODE_EVENTS:
            continue
        holder = _innermost(event.node, when, calls_by_node, list(task_spans.values()), root)
        holder.events.append((event.type, _attrs({"node": event.node, **event.data}), when))
    return spans


def _decisions(
    run: RunRecord,
    events: Sequence[EventRecord],
    times: Sequence[float],
    all_calls: Sequence[Call],
    root: _Plan,
) -> list[_Plan]:
    """One span per consensus decision, from the first call it waited for to the decision."""
    out: list[_Plan] = []
    previous = float("-inf")
    for index, (event, when) in enumerate(zip(events, times, strict=True)):
        if event.type != "decision":
            continue
        data = event.data
        waited = [c.start_ts for c in all_calls if c.task is None and previous < c.start_ts <= when]
        strategy = str(data.get("consensus") or data.get("decided_by") or "consensus")
        attributes = {
            "lmteams.decision.strategy": strategy,
            **_attrs(
                {
                    k: data.get(k)
                    for k in ("answer", "agreement", "support", "tie", "decided_by", "calls")
                },
                "lmteams.decision.",
            ),
        }
        span = _Plan(
            key=f"decision:{index}",
            name=f"decide {strategy}",
            parent=root,
            start=min(waited, default=when),
            end=when,
            attributes=attributes,
        )
        if data.get("answer") is None:
            span.error = "no answer"
        out.append(span)
        previous = when
    return out


def _decision_for(call: Call, decisions: Sequence[_Plan]) -> _Plan | None:
    if call.task is not None:
        return None
    for span in decisions:
        if span.start <= call.start_ts <= span.end:
            return span
    return None


def _call_span(
    run_id: str, call: Call, parent: _Plan, run_end: float, provider: str | None
) -> _Plan:
    model = call.model or "unknown"
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": model,
        "lmteams.node": call.node,
        "lmteams.request.id": call.request_id,
        "lmteams.call.id": call.logical_id,
        "lmteams.attempt": call.attempt,
        "lmteams.outcome": call.outcome,
        "lmteams.hedged": call.hedged,
    }
    optional = {
        "gen_ai.provider.name": provider,
        "gen_ai.response.model": call.response_model,
        "gen_ai.response.id": call.reply_id,
        "gen_ai.usage.input_tokens": call.prompt_tokens,
        "gen_ai.usage.output_tokens": call.completion_tokens,
        "gen_ai.response.finish_reasons": [call.finish_reason] if call.finish_reason else None,
        "lmteams.task.id": call.task,
        "lmteams.served_by": call.served_by,
        "lmteams.hedge_of": call.hedge_of,
        "error.type": call.error,
    }
    attributes.update({k: v for k, v in optional.items() if v is not None})
    span = _Plan(
        key=f"call:{call.request_id}",
        name=f"chat {model}",
        parent=parent,
        start=call.start_ts,
        end=call.end_ts if call.end_ts is not None else run_end,
        attributes=attributes,
        kind="client",
        node=call.node,
    )
    if call.outcome == "failed":
        span.error = f"{call.error}: {call.error_message}" if call.error else "call failed"
    return span


def _innermost(
    node: str | None,
    when: float,
    calls_by_node: dict[str, list[_Plan]],
    task_spans: Sequence[_Plan],
    root: _Plan,
) -> _Plan:
    for span in reversed(calls_by_node.get(node or "", [])):
        if span.covers(when):
            return span
    for span in reversed(task_spans):
        if span.node == node and span.covers(when):
            return span
    return root


# -- the SDK's spans and exporters --------------------------------------------------------


def _require_otel() -> None:
    try:
        import opentelemetry.sdk.trace  # noqa: F401
    except ImportError:
        raise ConfigError(MISSING) from None


def build_spans(run: RunRecord, events: Sequence[EventRecord]) -> list[ReadableSpan]:
    """The run's trace as the SDK's spans, root first."""
    _require_otel()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    from lmteams import __version__

    # Not Resource.create: its detectors add a random service.instance.id, and the same run
    # must give the same trace each time it is exported.
    resource = Resource({"service.name": "lmteams", "service.version": __version__}, SCHEMA_URL)
    scope = InstrumentationScope("lmteams", __version__, schema_url=SCHEMA_URL)
    tid = trace_id(run.run_id)
    contexts: dict[str, SpanContext] = {}

    def context(key: str) -> SpanContext:
        if key not in contexts:
            contexts[key] = SpanContext(
                tid,
                span_id(run.run_id, key),
                is_remote=False,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
        return contexts[key]

    out: list[ReadableSpan] = []
    for span in plan(run, events):
        status = Status(StatusCode.ERROR, span.error) if span.error else Status(StatusCode.UNSET)
        out.append(
            ReadableSpan(
                name=span.name,
                context=context(span.key),
                parent=context(span.parent.key) if span.parent is not None else None,
                resource=resource,
                attributes=span.attributes,
                events=[
                    Event(name, attributes, timestamp=_ns(when))
                    for name, attributes, when in span.events
                ],
                kind=SpanKind.CLIENT if span.kind == "client" else SpanKind.INTERNAL,
                status=status,
                start_time=_ns(span.start),
                end_time=_ns(max(span.end, span.start)),
                instrumentation_scope=scope,
            )
        )
    return out


def run_spans(store: EventStore, run_id: str) -> list[ReadableSpan]:
    """The trace of run ``run_id`` (or a unique prefix) in ``store``."""
    run = store.run(run_id)
    return build_spans(run, store.events(run.run_id))


def to_otlp_json(spans: Sequence[ReadableSpan]) -> str:
    """One line: the OTLP/JSON encoding of an ``ExportTraceServiceRequest`` of ``spans``
    (ids as hex, enums as integers, as OTLP/JSON specifies, unlike protobuf's own JSON)."""
    _require_otel()
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in request.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex(span[key])
                for link in span.get("links", []):
                    for key in ("traceId", "spanId"):
                        link[key] = _hex(link[key])
    return json.dumps(request, separators=(",", ":"))


def _hex(base64_text: str) -> str:
    import base64

    return base64.b64decode(base64_text).hex()


def otlp_json(store: EventStore, run_id: str) -> str:
    """Run ``run_id``'s trace as one OTLP/JSON line."""
    return to_otlp_json(run_spans(store, run_id))


def write_trace(store: EventStore, run_id: str, path: Path) -> None:
    """Write run ``run_id``'s trace to ``path`` (replacing it) as OTLP JSON lines."""
    text = otlp_json(store, run_id) + "\n"
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write the trace: {exc.strerror}", field=str(path)) from None


def traces_url(endpoint: str) -> str:
    """A collector's OTLP/HTTP traces URL: ``endpoint``, with ``/v1/traces`` added unless
    it is there (the rule of ``OTEL_EXPORTER_OTLP_ENDPOINT``)."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(
            f"must be an http:// or https:// URL, not {endpoint!r}", field=ENDPOINT_ENV
        )
    trimmed = endpoint.rstrip("/")
    return trimmed if trimmed.endswith("/v1/traces") else f"{trimmed}/v1/traces"


def send_otlp(
    store: EventStore, run_id: str, endpoint: str, *, timeout_s: float = SEND_TIMEOUT_S
) -> bool:
    """Send run ``run_id``'s trace to an OTLP/HTTP collector; True when it took it."""
    url = traces_url(endpoint)
    spans = run_spans(store, run_id)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult

    exporter = OTLPSpanExporter(endpoint=url, timeout=timeout_s)
    try:
        return exporter.export(spans) is SpanExportResult.SUCCESS
    finally:
        exporter.shutdown()  # type: ignore[no-untyped-call]


def trace_targets(trace: Path | None) -> tuple[Path | None, str | None]:
    """Where a finished run's trace goes: ``trace`` else ``$LMTEAMS_TRACE``, and
    ``$LMTEAMS_OTLP_ENDPOINT``; checked before the run starts."""
    path = trace if trace is not None else (Path(p) if (p := os.environ.get(TRACE_ENV)) else None)
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    if path is not None or endpoint is not None:
        _require_otel()
    if path is not None:
        field = "--trace" if trace is not None else TRACE_ENV
        if path.is_dir():
            raise ConfigError(f"{path} is a folder; give a file to write the trace to", field=field)
        if not path.parent.is_dir():
            raise ConfigError(f"no folder {path.parent} to write the trace into", field=field)
    if endpoint is not None:
        traces_url(endpoint)
    return path, endpoint
