"""Small synthetic logs in the study's parquet layout, with known latencies and behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

EVENT_FIELDS = ("type", "ts", "run_dir", "agents", "num_teammates", "round", "agent", "path",
                "returncode", "seconds")  # fmt: skip


def write_study(folder: Path, *, base_s: float = 2.0, per_task_s: float = 3.0) -> Path:
    """Two models; each run's agent writes ``per_call`` files per reply; a call writing k files
    takes exactly base + per_task * k seconds. Returns the events file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    events: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    clock = 1_000_000.0
    for model, per_call, scale in (("model-a", 5, 1.0), ("model-b", 3, 2.0)):
        for mode in ("preassign_nolead", "decentralized"):
            for n in (1, 2):
                run_dir = f"runs/{model}/{mode}/n{n}"
                start = clock
                events.append(_event("run_start", clock, run_dir))
                events.append(
                    _event("initialize", None, run_dir, agents=[f"Dev{i + 1}" for i in range(n)])
                )
                remaining = 11
                round_number = 0
                tests = 0.0
                while remaining > 0:
                    round_number += 1
                    events.append(_event("round_start", clock, run_dir, round=round_number))
                    slowest = 0.0
                    for agent in range(n):
                        k = min(per_call, remaining)
                        remaining -= k
                        latency = (base_s + per_task_s * k) * scale
                        slowest = max(slowest, latency)
                        events.append(
                            _event(
                                "agent_reply",
                                clock + latency,
                                run_dir,
                                round=round_number,
                                agent=f"Dev{agent + 1}",
                            )
                        )
                        for _ in range(k):
                            events.append(
                                _event(
                                    "edit_file",
                                    clock + latency,
                                    run_dir,
                                    round=round_number,
                                    path="x.py",
                                )
                            )
                            if mode == "decentralized":
                                events.append(
                                    _event(
                                        "claim_task",
                                        clock + latency,
                                        run_dir,
                                        round=round_number,
                                        agent=f"Dev{agent + 1}",
                                    )
                                )
                                events.append(
                                    _event(
                                        "claim_blocked",
                                        clock + latency,
                                        run_dir,
                                        round=round_number,
                                    )
                                )
                            events.append(
                                _event(
                                    "complete_task", clock + latency, run_dir, round=round_number
                                )
                            )
                    events.append(
                        _event(
                            "run_tests",
                            clock + slowest + 0.5,
                            run_dir,
                            round=round_number,
                            returncode=0,
                            seconds=0.5,
                        )
                    )
                    tests += 0.5
                    clock += slowest + 0.5
                events.append(_event("run_end", clock, run_dir, round=round_number))
                runs.append(
                    {
                        "run_dir": run_dir,
                        "model_dir": model,
                        "exp_dir": "synthetic",
                        "mode": mode,
                        "task_type": "suite",
                        "p_label": "p05",
                        "p_true": 0.5,
                        "n_teammates": n,
                        "rep": 0,
                        "success": True,
                        "wall_clock_seconds": clock - start,
                        "total_rounds": round_number,
                        "concurrent_writes": 0,
                        "claims_blocked": 0,
                        "total_input_tokens": 1000 * round_number * n,
                        "total_output_tokens": 100 * 11 + 10 * round_number * n,
                    }
                )
                clock += 100
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(events), folder / "events.parquet")
    pq.write_table(pa.Table.from_pylist(runs), folder / "runs.parquet")
    return folder / "events.parquet"


def _event(kind: str, ts: float | None, run_dir: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_FIELDS)
    row.update(type=kind, ts=ts, run_dir=run_dir, **fields)
    if row["round"] is not None:
        row["round"] = float(row["round"])
    return row
