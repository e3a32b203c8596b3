"""The event log under sustained writes: what each commit costs, and how long the slowest wait.

A loop of commits of 9 message-sized rows (an ask of four nodes: 8 messages and a decision)
through the store's own path (``append_json``, then ``flush``), timing every commit, on the
disk (the system's temporary folder) and on /dev/shm beside it. "Stalls" are the commits over
2 ms: on a disk they come from the WAL checkpoints (``lmteams.state.checkpoint``), which run on
a thread of their own but leave the WAL's last frames to one commit, which copies and syncs them
so that the WAL can start over.
Beside it, the floor: the same loop with checkpoints turned off (the WAL then grows without
bound, which no real log may do).

Run: python bench/eventlog.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from lmteams.state.store import PAGE_SIZE, EventStore

ROW = (
    '{"id":"m-0123456789abcdefghijklmn","sender":"coordinator","recipients":["n0"],'
    '"kind":"reply","payload":{"text":"Answer: 42","usage":{"prompt_tokens":5,'
    '"completion_tokens":3}},"parent_id":"m-abcdefghijklmnopqrstuvwxyz"}'
)
STALL_S = 0.002


def commits(count: int, folder: str | None, *, checkpoints: bool = True) -> dict[str, float]:
    """Seconds of each of ``count`` commits into a new log under ``folder``, summarised."""
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        store = EventStore(Path(tmp) / "log.db")
        if not checkpoints and store._checkpointer is not None:
            store._checkpointer.every_rows = 1 << 62  # never due
        run_id = store.new_run("bench")
        seconds = []
        for _ in range(count):
            for _ in range(9):
                store.append_json(run_id, "message", ROW, node="n0", t=0.0, ts=time.time())
            started = time.perf_counter()
            store.flush()
            seconds.append(time.perf_counter() - started)
        done = store._checkpointer.checkpoints if store._checkpointer else 0
        store.close()
    stalls = [s for s in seconds if s > STALL_S]
    return {
        "whole": sum(seconds),
        "median_us": statistics.median(seconds) * 1e6,
        "stalls": len(stalls),
        "stall_s": sum(stalls),
        "longest_ms": max(seconds) * 1e3,
        "checkpoints": done,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 commits instead of 15,000")
    args = parser.parse_args()
    count = 5000 if args.quick else 15000
    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    print(f"{count} commits of 9 rows each, {PAGE_SIZE}-byte pages")
    print(
        f"  {'where':<34}{'whole s':>8}{'median µs':>11}{'stalls':>8}{'in stalls s':>12}"
        f"{'longest ms':>11}{'checkpoints':>12}"
    )
    shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
    rows = [("disk", None, True), ("disk, no checkpoints (floor)", None, False)]
    if shm:
        rows.append(("/dev/shm", shm, True))
    for label, folder, with_checkpoints in rows:
        r = commits(count, folder, checkpoints=with_checkpoints)
        print(
            f"  {label:<34}{r['whole']:>8.2f}{r['median_us']:>11.0f}{r['stalls']:>8.0f}"
            f"{r['stall_s']:>12.3f}{r['longest_ms']:>11.1f}{r['checkpoints']:>12.0f}"
        )
    print(f"  stalls: commits over {STALL_S * 1e3:.0f} ms")
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
