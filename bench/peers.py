"""The cost of an ask, as the peers' comparison measures it: fan-out, gather, vote, everything logged.

One round is one question to all N nodes of an instant scripted model, replies gathered, a
majority vote, every request and reply durably in the event log (the public ``ask_team`` path).
Beside it, in the same process, a plain-asyncio floor does the same fan-out and vote with no
framework: ``asyncio.gather`` over an instant coroutine, a compiled regex for the answer and a
``Counter`` for the vote (nothing logged). Each N runs in a process of its own, five timed
repetitions each, and the script prints medians, ranges and the ratio to the floor.

Beside them, a durable floor: the same fan-out and vote with every request, reply and decision
written as a row of lmteams' own log schema and committed once per round, with no framework
(plain dicts, orjson and sqlite3): what any design that logs every message durably pays here.

A second figure is the fixed cost of one ask: a fresh run of a one-node team, opened, asked,
decided and closed (``ask``), against the floor of one call.

The peers' figures (issue 16, measured once on this kind of machine) are printed as ratios to
the floor measured beside them, so the comparison survives a different machine:
AutoGen AgentChat 0.7.5 103/119/124 µs and LangGraph 1.2.24 1,096/549/671 µs at N = 4/32/256,
against floors of 14.0/8.9/8.3 µs.

``--layers`` also times each layer of the ask path alone, in the same processes: the model
stub, the node worker, the runtime, the team's call (its two envelopes logged), the group commit
of its rows, and the whole ask, so that the table says which layer a cut must come from.

Run: python bench/peers.py [--quick] [--layers]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

REPETITIONS = 5
INSTANT = "Answer: 42"
PEERS = {  # N: (floor, AutoGen, LangGraph) in µs per node call, from issue 16
    4: (14.0, 103.0, 1096.0),
    32: (8.9, 119.0, 549.0),
    256: (8.3, 124.0, 671.0),
}
TARGETS = {4: 6.0, 256: 4.0}  # at most this many times the floor
ANSWER = re.compile(r"answer\s*:\s*(.+)", re.IGNORECASE)


async def _instant_model(question: str) -> str:
    return INSTANT


def _vote(texts: list[str]) -> str:
    answers = []
    for text in texts:
        found = ANSWER.search(text)
        answers.append((found.group(1) if found else text).strip().lower())
    return Counter(answers).most_common(1)[0][0]


async def floor_us(n: int, rounds: int) -> float:
    """Plain asyncio: the same fan-out and vote with no framework and no log."""
    started = time.perf_counter()
    for _ in range(rounds):
        texts = await asyncio.gather(*(_instant_model("q") for _ in range(n)))
        assert _vote(list(texts)) == "42"
    return (time.perf_counter() - started) / (n * rounds) * 1e6


async def durable_floor_us(n: int, rounds: int, db: Path) -> float:
    """The leanest durable fan-out: the floor, plus every request and reply and the decision
    written as rows of lmteams' own log schema, one SQLite transaction per round (WAL,
    ``synchronous=NORMAL``, as lmteams writes it). No envelopes, deadlines, slots or
    checkpoint thread: what any design that logs every message durably pays here."""
    import itertools
    import sqlite3

    import orjson

    from lmteams.state.migrations import migrate
    from lmteams.state.store import _insert  # the store's own batched INSERT

    conn = sqlite3.connect(db, isolation_level=None)
    for pragma in ("page_size=4096", "journal_mode=WAL", "synchronous=NORMAL"):
        conn.execute(f"PRAGMA {pragma}")
    migrate(conn)
    run, names = "bench-durable-floor", [f"n{i}" for i in range(n)]
    loop = asyncio.get_running_loop()
    rows: list[tuple[str, float, float, str, str | None, str]] = []
    ids = itertools.count()

    def log(sender: str, data: dict[str, object]) -> None:
        rows.append((run, time.time(), loop.time(), "message", sender, orjson.dumps(data).decode()))

    async def one(name: str) -> str:
        request = f"m-{next(ids):x}"
        chat = {"messages": [{"role": "user", "content": "q"}]}
        log("coordinator", {"id": request, "run_id": run, "recipients": [name], "payload": chat})
        text = await _instant_model("q")
        log(name, {"id": f"m-{next(ids):x}", "parent_id": request, "payload": {"text": text}})
        return text

    started = time.perf_counter()
    for _ in range(rounds):
        answer = _vote(list(await asyncio.gather(*(one(name) for name in names))))
        votes = orjson.dumps({"answer": answer, "votes": dict.fromkeys(names, answer)})
        rows.append((run, time.time(), loop.time(), "decision", None, votes.decode()))
        conn.execute("BEGIN IMMEDIATE")
        _insert(conn, "INSERT INTO events(run_id, ts, t, type, node, data)", 6, rows)
        conn.execute("COMMIT")
        rows.clear()
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed / (n * rounds) * 1e6


async def lmteams_us(n: int, rounds: int, db: Path) -> float:
    from lmteams.state.store import EventStore
    from lmteams.strategies.ask import ask_team
    from lmteams.team import Team
    from lmteams.testing import scripted_team

    spec, backends = scripted_team(n, lambda call: INSTANT)
    store = EventStore(db)
    async with Team(spec, store, kind="bench", backends=backends) as team:
        await ask_team(team, "q")  # warm-up: engine and statements prepared
        started = time.perf_counter()
        for _ in range(rounds):
            result = await ask_team(team, "q")
            assert result.answer == "42"
        elapsed = time.perf_counter() - started
        logged = team.journal.messages if team.journal else 0
    store.close()
    assert logged == 2 * n * (rounds + 1), "every request and reply must be in the log"
    return elapsed / (n * rounds) * 1e6


async def fixed_cost_us(asks: int, db: Path) -> float:
    """One ask of a one-node team, from opening its run to its decision, averaged."""
    from lmteams.state.store import EventStore
    from lmteams.strategies.ask import ask
    from lmteams.testing import scripted_team

    spec, backends = scripted_team(1, lambda call: INSTANT)
    store = EventStore(db)
    await ask(spec, "q", store, backends=backends)  # warm-up
    started = time.perf_counter()
    for _ in range(asks):
        await ask(spec, "q", store, backends=backends)
    elapsed = time.perf_counter() - started
    store.close()
    return elapsed / asks * 1e6


async def layers_us(n: int, rounds: int, db: Path) -> dict[str, float]:
    """Where a node call's cost goes: each layer of the ask path timed alone, per node call.

    Each layer includes the ones above it in the table: the model stub, the node worker around
    it, the runtime around that, the team's call (two envelopes logged, the deadline watched),
    then the group commit of the call's rows (timed alone), and the whole ask.
    """
    from lmteams.messages import Envelope, Kind
    from lmteams.runtime.base import build_workers
    from lmteams.state.store import EventStore
    from lmteams.strategies.ask import ask_team
    from lmteams.team import COORDINATOR, Team, request_payload
    from lmteams.testing import scripted_team

    spec, backends = scripted_team(n, lambda call: INSTANT)
    store = EventStore(db)
    figures: dict[str, float] = {}
    async with Team(spec, store, kind="bench", backends=backends) as team:
        names = spec.node_names
        workers = build_workers(spec, backends)
        request = Envelope.make(
            run_id=team.run_id,
            sender=COORDINATOR,
            recipients=(names[0],),
            kind=Kind.REQUEST,
            payload=request_payload("q", None, None),
        )
        worker = workers[names[0]]
        messages = worker.messages_for(request.payload)
        backend = worker.backend
        calls = n * rounds

        async def timed(label: str, step: Callable[[], Awaitable[object]], times: int) -> None:
            """``step`` run ``times`` times after a warm-up, per node call of the rounds."""
            await step()
            started = time.perf_counter()
            for _ in range(times):
                await step()
            figures[label] = (time.perf_counter() - started) / calls * 1e6

        await timed("model", lambda: backend.complete(messages, worker.sampling), calls)
        await timed("node worker", lambda: worker.handle(request), calls)
        await timed("runtime", lambda: team.runtime.request(request), calls)
        flush = store.flush
        committing = 0.0
        flush()
        started = time.perf_counter()
        for _ in range(rounds):
            for name in names:
                await team.call(name, "q", durable=False)
            began = time.perf_counter()
            flush()
            committing += time.perf_counter() - began
        elapsed = time.perf_counter() - started
        figures["team call"] = (elapsed - committing) / calls * 1e6
        figures["commit"] = committing / calls * 1e6
        await timed("ask", lambda: ask_team(team, "q"), rounds)
    store.close()
    return figures


def child(n: int, quick: bool, layered: bool) -> dict[str, list[float]]:
    """Measure one N (run in a process of its own); floor and lmteams interleaved."""
    rounds = max(5, (2000 if quick else 10000) // n)
    floors, durable, ours = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(REPETITIONS):
            # rotate the order so that drift on a busy machine hits every side
            sides = ["floor", "durable", "ours"]
            for side in sides[rep % 3 :] + sides[: rep % 3]:
                db = Path(tmp) / f"{side}{rep}.db"
                if side == "floor":
                    floors.append(asyncio.run(floor_us(n, rounds)))
                elif side == "durable":
                    durable.append(asyncio.run(durable_floor_us(n, rounds, db)))
                else:
                    ours.append(asyncio.run(lmteams_us(n, rounds, db)))
        fixed, fixed_floor = [], []
        for rep in range(REPETITIONS):
            fixed.append(asyncio.run(fixed_cost_us(20 if quick else 100, Path(tmp) / f"f{rep}.db")))
            fixed_floor.append(asyncio.run(floor_us(1, 2000)))
        layers: dict[str, list[float]] = {}
        if layered:
            for rep in range(REPETITIONS):
                timed = asyncio.run(layers_us(n, rounds, Path(tmp) / f"l{rep}.db"))
                for label, us in timed.items():
                    layers.setdefault(label, []).append(us)
    return {
        "floor": floors,
        "durable": durable,
        "lmteams": ours,
        "fixed": fixed,
        "fixed_floor": fixed_floor,
        **{f"layer:{k}": v for k, v in layers.items()},
    }


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f} [{min(values):.1f}-{max(values):.1f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer rounds per repetition")
    parser.add_argument(
        "--layers",
        action="store_true",
        help="also time each layer of the ask path alone (where a node call's cost goes)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.quick, args.layers)))
        return

    load = os.getloadavg()
    print(
        f"load average before: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} ({os.cpu_count()} cores)"
    )
    print("fan-out + majority vote, instant scripted model, µs per node call: median [range]")
    print(
        f"{'N':>4} {'floor':>22} {'durable floor':>22} {'x':>6} {'lmteams ask_team':>22} "
        f"{'x floor':>8} {'target':>7} {'AutoGen x':>10} {'LangGraph x':>12}"
    )
    fixed_rows = []
    layer_rows: list[tuple[int, float, dict[str, list[float]]]] = []
    for n in PEERS:
        command = [sys.executable, __file__, "--child", str(n)]
        command += (["--quick"] if args.quick else []) + (["--layers"] if args.layers else [])
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        floor = statistics.median(figures["floor"])
        ours = statistics.median(figures["lmteams"])
        peer_floor, autogen, langgraph = PEERS[n]
        target = f"{TARGETS[n]:.0f}x" if n in TARGETS else "-"
        durable = statistics.median(figures["durable"])
        print(
            f"{n:>4} {_spread(figures['floor']):>22} {_spread(figures['durable']):>22} "
            f"{durable / floor:>5.2f}x {_spread(figures['lmteams']):>22} "
            f"{ours / floor:>7.2f}x {target:>7} {autogen / peer_floor:>9.1f}x "
            f"{langgraph / peer_floor:>11.1f}x"
        )
        fixed_rows.append((n, figures["fixed"], figures["fixed_floor"]))
        if args.layers:
            layer_rows.append((n, floor, figures))
    print("peers' ratios are their figures over the floor measured beside them (issue 16)")
    print(
        "durable floor: the floor with every message and the decision written as rows of the"
        " log, one commit per round, no framework (what the targets leave room beside)"
    )
    print(
        "\nfixed cost: one ask of a 1-node team, run opened to decision (µs), in each N's process"
    )
    for n, fixed, fixed_floor in fixed_rows:
        ratio = statistics.median(fixed) / statistics.median(fixed_floor)
        print(f"  process {n:>3}: {_spread(fixed)}  floor {_spread(fixed_floor)}  {ratio:,.0f}x")
    for n, floor, figures in layer_rows:
        print(
            f"\nN = {n}: each layer timed alone, µs per node call (median), x the floor above"
            " (the commit is timed apart from the team call; the ask includes both)"
        )
        below = 0.0
        for key in (k for k in figures if k.startswith("layer:")):
            us = statistics.median(figures[key])
            # The commit is timed apart from the call, and the ask holds both; every other
            # layer includes the one above it.
            added = us if key == "layer:commit" else us - below
            print(f"  {key[6:]:<12} {us:8.1f}   adds {added:7.1f}   {us / floor:6.2f}x")
            below = below + us if key == "layer:commit" else us
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
