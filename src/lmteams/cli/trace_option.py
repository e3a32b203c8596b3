"""`--trace FILE` (and `$LMTEAMS_TRACE`, `$LMTEAMS_OTLP_ENDPOINT`) on run, ask and resume:
the run's OpenTelemetry trace, built from its log once the run ends (docs/export.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lmteams.errors import LMTeamsError
from lmteams.state.store import EventStore

TraceOption = Annotated[
    Path | None,
    typer.Option(
        "--trace",
        help="When the run ends, write its OpenTelemetry trace here as OTLP JSON lines "
        "(env LMTEAMS_TRACE; LMTEAMS_OTLP_ENDPOINT also sends it to a collector). Needs the "
        "otel extra.",
        show_default=False,
    ),
]


@dataclass
class Traced:
    """Set ``run_id`` when it is known (once the library call returns, or before a resume);
    a new run that raised is found in the log."""

    run_id: str | None = None


@contextmanager
def traced(store: EventStore, trace: Path | None, kind: str) -> Iterator[Traced]:
    """Write (and send) the trace of the run made inside the block, even when it failed.

    Targets are checked before the block runs, so a missing extra or a bad endpoint is one
    line before any model call. A trace that cannot be sent is a warning: the run is done.
    """
    from lmteams.export.trace import trace_targets

    path, endpoint = trace_targets(trace)
    handle = Traced()
    started = time.time()
    if path is None and endpoint is None:
        yield handle
        return
    try:
        yield handle
    except BaseException:
        run_id = handle.run_id or _latest(store, kind, started)
        if run_id is not None:
            try:
                _emit(store, run_id, path, endpoint)
            except LMTeamsError as exc:  # the run's own error is the one to report
                Console(stderr=True).print(f"warning: no trace written: {exc}")
        raise
    if handle.run_id is not None:
        _emit(store, handle.run_id, path, endpoint)


def _latest(store: EventStore, kind: str, since: float) -> str | None:
    """The run of ``kind`` this command opened (it raised before returning its id)."""
    try:
        runs = store.runs(limit=1, kind=kind)
    except LMTeamsError:
        return None
    return runs[0].run_id if runs and runs[0].created_at >= since else None


def _emit(store: EventStore, run_id: str, path: Path | None, endpoint: str | None) -> None:
    from lmteams.export.trace import send_otlp, write_trace

    err = Console(stderr=True)
    if path is not None:
        write_trace(store, run_id, path)
    if endpoint is not None and not send_otlp(store, run_id, endpoint):
        err.print(f"warning: the OTLP collector at {endpoint} did not take the trace of {run_id}")
