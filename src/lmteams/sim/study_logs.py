"""Read the study's event logs (``events.parquet`` and ``runs.parquet``) into observations.

Needs pyarrow (``pip install lmteams[parquet]``). Columns used: events ``type``, ``ts``,
``run_dir``, ``round``, ``agent``, ``seconds``; runs ``run_dir``, ``model_dir``, ``mode``,
``p_true``, ``n_teammates``, ``success``, ``wall_clock_seconds``, ``total_input_tokens``,
``total_output_tokens``. The rounds are synchronous: every agent is called once per round,
concurrently, so a reply's time minus its round's start is that call's latency.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lmteams.errors import ConfigError
from lmteams.sim.calibrate import CallObs, RunObs

EVENT_COLUMNS = ("type", "ts", "run_dir", "round", "agent", "seconds")
RUN_COLUMNS = (
    "run_dir",
    "model_dir",
    "mode",
    "p_true",
    "n_teammates",
    "success",
    "wall_clock_seconds",
    "total_input_tokens",
    "total_output_tokens",
    "task_type",
    "p_label",
)


def _read(path: Path, columns: tuple[str, ...]) -> dict[str, list[Any]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "reading parquet needs pyarrow: pip install 'lmteams[parquet]'", source=str(path)
        ) from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"not a readable parquet file: {exc}", source=str(path)) from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ConfigError(
            f"missing column(s) {', '.join(missing)}; expected the study's layout "
            f"({', '.join(columns)})",
            source=str(path),
        )
    return {c: table.column(c).to_pylist() for c in columns}


def read_study(
    events_path: Path, runs_path: str | Path | None = None
) -> tuple[list[CallObs], list[RunObs]]:
    runs_file = Path(runs_path) if runs_path else events_path.with_name("runs.parquet")
    if not runs_file.exists():
        raise ConfigError(
            "runs.parquet not found next to the events file (give --runs PATH)",
            source=str(events_path),
        )
    runs = _read(runs_file, RUN_COLUMNS)
    info = {
        runs["run_dir"][i]: {c: runs[c][i] for c in RUN_COLUMNS}
        for i in range(len(runs["run_dir"]))
    }
    events = _read(events_path, EVENT_COLUMNS)
    calls: list[CallObs] = []
    observed: dict[str, RunObs] = {}
    round_start: dict[Any, float] = {}
    current: dict[str, CallObs] = {}  # run -> the reply whose actions are being logged
    types, stamps, dirs = events["type"], events["ts"], events["run_dir"]
    rounds_col, seconds_col, agents = events["round"], events["seconds"], events["agent"]
    for i in range(len(types)):
        run_dir = dirs[i]
        meta = info.get(run_dir)
        if meta is None:
            continue
        run = observed.get(run_dir)
        if run is None:
            run = observed[run_dir] = RunObs(
                model=meta["model_dir"],
                mode=meta["mode"],
                p=meta["p_true"],
                workers=int(meta["n_teammates"]),
                success=bool(meta["success"]),
                wall_s=float(meta["wall_clock_seconds"]),
                rounds=0,
                calls=0,
                tasks=0,
                claims=0,
                claims_refused=0,
                prompt_tokens=int(meta["total_input_tokens"] or 0),
                completion_tokens=int(meta["total_output_tokens"] or 0),
                test_s=0.0,
                project=f"{meta['task_type']}_{meta['p_label']}",  # the task file's stem
            )
        kind = types[i]
        if kind == "round_start":
            run.rounds += 1
            round_start[(run_dir, rounds_col[i])] = stamps[i]
            current.pop(run_dir, None)
        elif kind == "agent_reply":
            current.pop(run_dir, None)
            start = round_start.get((run_dir, rounds_col[i]))
            if start is None or stamps[i] is None:
                continue
            call = CallObs(model=run.model, latency_s=stamps[i] - start, tasks=0)
            calls.append(call)
            current[run_dir] = call
            run.agent_calls.setdefault(str(agents[i]), []).append(call)
            run.calls += 1
        elif kind == "edit_file":
            found = current.get(run_dir)
            if found is not None:
                found.tasks += 1
        elif kind == "complete_task":
            run.tasks += 1
            found = current.get(run_dir)
            if found is not None:
                found.done += 1
        elif kind == "claim_task":
            run.claims += 1
        elif kind == "claim_blocked":
            run.claims_refused += 1
        elif kind == "run_tests":
            run.test_s += float(seconds_col[i] or 0.0)
    if not calls:
        raise ConfigError("no agent_reply events matched runs.parquet", source=str(events_path))
    return calls, list(observed.values())
