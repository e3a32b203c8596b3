"""Durability and embedded-model throughput of the local runtime.

(a) Durability: a steady-state fan-out and vote (32 nodes, instant scripted model, every message
    in the durable log) with the event log at ``durability=normal`` and at ``full`` (an fsync
    per group commit), side by side: the per-call cost of surviving a power loss. The log lives
    on the disk of the working directory, not in a tmpfs /tmp, so that the fsync costs what it
    costs.
(b) Team throughput on the embedded model with 1, 4, 8 and 16 concurrent nodes, side by side
    with calling xllamacpp directly at the same concurrency on the same engine: the ratio.

The cost of an ask itself (fan-out, vote, every message logged, against a plain-asyncio floor
at 4, 32 and 256 nodes, and one ask's fixed cost) is ``bench/peers.py``'s.

Run: make bench   (or: python bench/overhead.py [--quick] [--skip-model] [--skip-durability])
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lmteams.models.base import ChatMessage, Sampling
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask_team
from lmteams.team import Team
from lmteams.testing import scripted_team

INSTANT = "Answer: 42"


async def steady_us(n: int, rounds: int, db: Path, durability: str = "normal") -> float:
    spec, backends = scripted_team(n, lambda call: INSTANT)
    store = EventStore(db, durability=durability)
    async with Team(spec, store, kind="bench", backends=backends) as team:
        await ask_team(team, "q")  # warm-up
        started = time.perf_counter()
        for _ in range(rounds):
            await ask_team(team, "q")
        elapsed = time.perf_counter() - started
        logged = team.journal.messages if team.journal else 0
    store.close()
    assert logged == 2 * n * (rounds + 1), "every request and reply must be in the log"
    return elapsed / (n * rounds) * 1e6


# -- (a) durability ------------------------------------------------------------------------


def durability_table(quick: bool) -> None:
    n = 32
    rounds = 60 if quick else 300
    print("(a) durability of the event log, 32 nodes, steady state (every message logged)")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'durability':>10} {'µs/call: median [range]':>26} {'calls/s':>9} {'x normal':>9}")
    runs: dict[str, list[float]] = {"normal": [], "full": []}
    with tempfile.TemporaryDirectory(dir=Path.cwd(), prefix=".bench-durability-") as tmp:
        for rep in range(3 if quick else 5):
            # alternate the order so that drift on a noisy machine hits both sides
            for mode in ("normal", "full") if rep % 2 == 0 else ("full", "normal"):
                db = Path(tmp) / f"{mode}-{rep}.db"
                runs[mode].append(asyncio.run(steady_us(n, rounds, db, mode)))
    normal = statistics.median(runs["normal"])
    for mode, values in runs.items():
        median = statistics.median(values)
        spread = f"{median:.1f} [{min(values):.1f}-{max(values):.1f}]"
        print(f"{mode:>10} {spread:>26} {1e6 / median:>9.0f} {median / normal:>9.2f}")
    print("normal survives a crash of the process (kill -9); full also a power loss\n")


# -- (b) embedded model throughput ---------------------------------------------------------


def prompts(count: int, offset: int) -> list[str]:
    return [f"Write one sentence about the number {offset + i}." for i in range(count)]


MAX_TOKENS = 48


def direct_tokens_per_s(engine, concurrency: int, calls_each: int, offset: int) -> float:  # type: ignore[no-untyped-def]
    from lmteams.models.embedded import sampling_to_request

    sampling = Sampling(temperature=0.0, max_tokens=MAX_TOKENS)
    requests = [
        sampling_to_request(
            [ChatMessage("system", "You are concise."), ChatMessage("user", p)], sampling
        )
        for p in prompts(concurrency * calls_each, offset)
    ]
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(engine.chat_sync, requests))
    elapsed = time.perf_counter() - started
    return sum(r["usage"]["completion_tokens"] for r in results) / elapsed


async def team_tokens_per_s(concurrency: int, calls_each: int, offset: int, db: Path) -> float:
    from lmteams.config import parse_team

    spec = parse_team(
        {
            "models": {"smollm2": {"backend": "embedded", "n_parallel": 16, "ctx_per_slot": 1024}},
            "defaults": {
                "system_prompt": "You are concise.",
                "temperature": 0.0,
                "max_tokens": MAX_TOKENS,
            },
            "nodes": [{"name": f"n{i}", "max_concurrent": 1} for i in range(concurrency)],
        },
        source="bench",
    )
    store = EventStore(db)
    texts = prompts(concurrency * calls_each, offset)
    async with Team(spec, store, kind="bench") as team:
        started = time.perf_counter()

        async def node_work(i: int) -> int:
            tokens = 0
            for k in range(calls_each):
                reply = await team.call(f"n{i}", texts[i * calls_each + k])
                tokens += reply.usage.completion_tokens
            return tokens

        totals = await asyncio.gather(*(node_work(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    store.close()
    return sum(totals) / elapsed


def throughput_table(quick: bool) -> None:
    from lmteams.models.embedded import (
        EmbeddedOptions,
        declare_engine,
        release_engine,
        resolve_key,
        shared_engine,
    )

    key = resolve_key(EmbeddedOptions(n_parallel=16, ctx_per_slot=1024))
    # Held for the whole table: a team's backend releases the engine when the team closes, and
    # the last holder's release closes it, which left the direct side calling a closed engine.
    declare_engine(key)
    try:
        _throughput_rows(shared_engine(key), quick)
    finally:
        release_engine(key)


def _throughput_rows(engine, quick: bool) -> None:  # type: ignore[no-untyped-def]
    print("(b) embedded SmolLM2-135M throughput, same engine (16 slots), completion tokens/s")
    print(f"{'nodes':>6} {'direct tok/s':>13} {'lmteams tok/s':>14} {'ratio':>7}")
    calls_each = 2 if quick else 4
    offset = 0
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in (1, 4, 8, 16):
            direct, team = [], []
            for rep in range(2):
                # alternate the order so that drift on a noisy machine hits both sides
                for side in ("d", "t") if rep % 2 == 0 else ("t", "d"):
                    offset += concurrency * calls_each
                    if side == "d":
                        direct.append(direct_tokens_per_s(engine, concurrency, calls_each, offset))
                    else:
                        db = Path(tmp) / f"t{concurrency}-{rep}.db"
                        team.append(
                            asyncio.run(team_tokens_per_s(concurrency, calls_each, offset, db))
                        )
            d, t = statistics.median(direct), statistics.median(team)
            print(f"{concurrency:>6} {d:>13.1f} {t:>14.1f} {t / d:>7.2f}")
    print("target: ratio at least 0.95\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--skip-model", action="store_true", help="skip the embedded model (b)")
    parser.add_argument("--skip-durability", action="store_true", help="skip durability (a)")
    args = parser.parse_args()
    if not args.skip_durability:
        durability_table(args.quick)
    if not args.skip_model:
        throughput_table(args.quick)


if __name__ == "__main__":
    main()
