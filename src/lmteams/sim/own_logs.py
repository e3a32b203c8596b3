"""Read lmteams event logs (an EventStore ``.db``) into observations for calibration.

Every model call is a request envelope and its reply (or a ``call_failed`` event): the reply
names the model, the time between the two is the call's latency, its usage the tokens. The
request's ``meta`` says what the call was for: a task attempt (``task``), a claim (``claim``)
or a lead assignment (``lead``). Project runs also give the run-level figures: topology, team
size, p, rounds, refused claims and checks.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from lmteams.errors import ConfigError
from lmteams.sim.calibrate import CallObs, RunObs
from lmteams.state.events import CheckRun, Schedule
from lmteams.state.store import EventStore


def read_store(
    path: Path, *, run_ids: list[str] | None = None
) -> tuple[list[CallObs], list[RunObs]]:
    store = EventStore(path)
    try:
        records = [store.run(r) for r in run_ids] if run_ids else store.runs(limit=100_000)
        calls: list[CallObs] = []
        runs: list[RunObs] = []
        for record in records:
            run_calls, run = _read_run(record.run_id, record.status, store.events(record.run_id))
            calls.extend(run_calls)
            if run is not None:
                runs.append(run)
    finally:
        store.close()
    if not calls:
        raise ConfigError("no model calls in this event log", source=str(path))
    return calls, runs


def _kind(meta: dict[str, Any]) -> str:
    if "claim" in meta:
        return "claim"
    if "lead" in meta:
        return "lead"
    return "task"


def _read_run(run_id: str, status: str, events: list[Any]) -> tuple[list[CallObs], RunObs | None]:
    requests: dict[str, tuple[float, str, str]] = {}  # id -> (t, node, kind)
    calls: list[CallObs] = []
    per_node: dict[str, list[CallObs]] = defaultdict(list)
    schedule: Schedule | None = None
    counts: dict[str, int] = defaultdict(int)
    assigned: set[float] = set()
    tokens = [0, 0]
    test_s = 0.0
    last = 0.0
    for event in events:
        data = event.data
        last = max(last, event.t)
        kind = event.type
        counts[kind] += 1
        if kind == "schedule" and isinstance(event.event, Schedule):
            schedule = event.event
        elif kind == "task_assigned":
            assigned.add(round(event.t, 6))
        elif kind == "check_run" and isinstance(event.event, CheckRun):
            test_s += event.event.duration_s
        elif kind == "message" and data.get("kind") == "request":
            meta = (data.get("payload") or {}).get("meta") or {}
            requests[data["id"]] = (event.t, data["recipients"][0], _kind(meta))
        elif kind == "message" and data.get("kind") == "reply":
            request = requests.pop(data.get("parent_id") or "", None)
            if request is None:
                continue
            start, node, call_kind = request
            payload = data.get("payload") or {}
            usage = data.get("usage") or {}
            latency = float(payload.get("latency_s") or 0.0) or (event.t - start)
            call = CallObs(
                model=str(payload.get("model") or "unknown"),
                latency_s=latency,
                tasks=1 if call_kind == "task" else 0,
                kind=call_kind,
                done=1 if call_kind == "task" else 0,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
            )
            tokens[0] += call.prompt_tokens or 0
            tokens[1] += call.completion_tokens or 0
            calls.append(call)
            per_node[node].append(call)
    if schedule is None or not calls:
        return calls, None
    workers = list(schedule.workers)
    run = RunObs(
        model=calls[0].model,
        mode=str(schedule.topology),
        p=schedule.p,
        workers=max(1, len(workers)),
        success=status == "done",
        wall_s=last,
        rounds=len(assigned),
        calls=counts["message"] // 2,
        tasks=counts["task_done"],
        claims=sum(1 for c in calls if c.kind == "claim"),
        claims_refused=counts["claim_refused"],
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        test_s=test_s,
        project=None,
        agent_calls={n: per_node[n] for n in workers if n in per_node},
    )
    return calls, run
