"""Several embedded engines on one CPU: thread budgets and llama.cpp's polling, measured.

A team of three embedded models (SmolLM2-135M, Qwen2.5-Coder-0.5B, Qwen2.5-Coder-1.5B) runs three
engines in one process. For each configuration (threads per engine, llama.cpp ``poll``) every
engine decodes back-to-back completions for a fixed window, all three at once; the figure is
the aggregate completion tokens/s (each engine's rate, summed), the mean of mirrored repeats. Each engine alone (1 thread, all cores) is measured beside
it. Both are measured quiet and with two busy background processes (pure-Python spin loops,
one per core of a 2-core machine), since a shared machine is never quiet.

Targets (issue 13): no configuration below 0.5x the best static allocation measured in the same
condition, and the default (what lmteams picks: ``lmteams.models.threads``) within 0.9x of it.

Run: python bench/engines.py [--quick] [--window S]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lmteams.models.assembly import ensure_model_file
from lmteams.models.catalog import CATALOG
from lmteams.models.embedded import (
    DEFAULT_POLL,
    EmbeddedEngine,
    EngineKey,
    available_cores,
    load_average,
)
from lmteams.models.threads import engine_threads

ALL_MODELS = ("smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")
PROMPT = "Write the numbers from one to two hundred in words, separated by commas."


@dataclass(frozen=True)
class Config:
    label: str
    threads: tuple[int, ...]
    poll: int


def load(name: str, threads: int, poll: int) -> EmbeddedEngine:
    path = ensure_model_file(CATALOG[name])
    key = EngineKey(str(path), 1, 1024, threads, 0, poll)
    return EmbeddedEngine(key, n_threads=threads)


def decode_for(engine: EmbeddedEngine, window_s: float, max_tokens: int) -> tuple[int, float]:
    """Back-to-back completions until ``window_s`` has passed: (tokens, seconds)."""
    started = time.perf_counter()
    tokens = 0
    seed = 0
    while time.perf_counter() - started < window_s:
        seed += 1
        reply = engine.chat_sync(
            {
                "messages": [{"role": "user", "content": PROMPT}],
                "max_tokens": max_tokens,
                "temperature": 0.0,
                "seed": seed,
            }
        )
        tokens += int(reply.get("usage", {}).get("completion_tokens", 0))
    return tokens, time.perf_counter() - started


def team_rate(config: Config, models: tuple[str, ...], window_s: float, max_tokens: int) -> float:
    engines = [load(m, t, config.poll) for m, t in zip(models, config.threads, strict=True)]
    # Warm each engine once (first-call allocation is not decoding speed).
    for engine in engines:
        decode_for(engine, 0.0, 4)
    results: list[tuple[int, float]] = [(0, 1.0)] * len(engines)

    def work(i: int) -> None:
        results[i] = decode_for(engines[i], window_s, max_tokens)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for engine in engines:
        engine.close()
    # Each engine's own rate over its busy time, summed: a slow engine whose last call ends
    # after the window does not dilute the others' figures.
    return sum(tokens / seconds for tokens, seconds in results)


def alone_rate(name: str, threads: int, poll: int, window_s: float, max_tokens: int) -> float:
    engine = load(name, threads, poll)
    decode_for(engine, 0.0, 4)
    tokens, seconds = decode_for(engine, window_s, max_tokens)
    engine.close()
    return tokens / seconds


@contextmanager
def background(count: int, seconds: float) -> Iterator[None]:
    """``count`` busy processes (spin loops), each ending by itself after ``seconds``."""
    # Each also stops when its parent is gone (the bench was killed before its cleanup ran).
    spin = (
        "import os, time\nparent = os.getppid()\n"
        f"end = time.time() + {seconds}\n"
        "while time.time() < end and os.getppid() == parent: pass\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", spin]) for _ in range(count)]
    try:
        yield
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer configs")
    parser.add_argument("--window", type=float, default=None, help="seconds per measurement")
    parser.add_argument(
        "--models", default=",".join(ALL_MODELS), help="three catalog names (default: the three)"
    )
    parser.add_argument("--repeat", type=int, default=2, help="team measurements per config")
    args = parser.parse_args()
    models = tuple(args.models.split(","))
    window = args.window or (12.0 if args.quick else 30.0)
    # Short completions bound each call: on a loaded machine an oversubscribed engine managed
    # a tenth of a token per second, and a call cannot be cut short.
    max_tokens = 8 if args.quick else 32
    cores = available_cores()
    configs = [
        Config("1,1,1 poll 0", (1, 1, 1), 0),
        Config("1,1,1 poll 50", (1, 1, 1), 50),
        Config(f"{cores},{cores},{cores} poll 50 (llama.cpp default)", (cores,) * 3, 50),
        Config(f"{cores},{cores},{cores} poll 0", (cores,) * 3, 0),
    ]
    if not args.quick and cores >= 2:
        configs.append(Config(f"1,1,{cores} poll 0", (1, 1, cores), 0))
    for name in models:  # assemble chunked files first: a one-time copy is not decoding
        ensure_model_file(CATALOG[name])
    print(f"engines on {cores} cores (os.sched_getaffinity); window {window:g}s per figure")
    print(f"load average at start: {loadavg()} (other work on this machine counts as load)")
    for condition, busy in (("quiet", 0), ("2 busy processes", 2)):
        span = window * (len(configs) * args.repeat + len(models) * 2) * 4 + 600
        with background(busy, span) if busy else _nothing():
            print(f"\n== {condition} (load average now {loadavg()}) ==")
            print(f"{'each engine alone':<44} {'tok/s':>8} {'vs best':>8}")
            for name in models:
                alone = {
                    threads: alone_rate(name, threads, DEFAULT_POLL, window, max_tokens)
                    for threads in sorted({1, cores})
                }
                mine = engine_threads(cores, 1, 0, None, load_average())
                for threads, rate in alone.items():
                    tag = " default" if threads == mine else ""
                    label = f"{name} ({threads} thr{tag})"
                    print(f"  {label:<42} {rate:>8.2f} {rate / max(alone.values()):>8.2f}")
            rates: dict[str, float] = {}
            # What lmteams would pick now (the load average as it stands at this point).
            threads = tuple(
                engine_threads(cores, len(models), i, None, load_average())
                for i in range(len(models))
            )
            default = Config(f"default (lmteams: {threads})", threads, DEFAULT_POLL)
            print(f"{'three-model team, threads per engine':<44} {'tok/s':>8}")
            order = [default, *configs]
            # Mirrored repeats (A B C ... C B A): a load that drifts during the run weighs on
            # every configuration alike. The figure is the mean of the repeats.
            sequence = (order + order[::-1]) * (args.repeat // 2) + order * (args.repeat % 2)
            samples: dict[str, list[float]] = {c.label: [] for c in order}
            for config in sequence:
                samples[config.label].append(team_rate(config, models, window, max_tokens))
            for config in order:
                rates[config.label] = sum(samples[config.label]) / len(samples[config.label])
                spread = ", ".join(f"{x:.2f}" for x in samples[config.label])
                print(f"  {config.label:<42} {rates[config.label]:>8.2f}  ({spread})")
            static = {k: v for k, v in rates.items() if k != default.label}
            best = max(static.values())
            print("team: ratio to the best static allocation")
            for label, rate in rates.items():
                print(f"  {label:<42} {rate / best:>8.2f}")
            share = rates[default.label] / best
            worst = min(static.values()) / best
            print(
                f"default {share:.2f}x of the best (targets: >= 0.5 "
                f"{'met' if share >= 0.5 else 'MISSED'}, >= 0.9 "
                f"{'met' if share >= 0.9 else 'MISSED'}); worst static allocation {worst:.2f}x"
            )
    print(f"\nload average at end: {loadavg()}")


@contextmanager
def _nothing() -> Iterator[None]:
    yield


if __name__ == "__main__":
    os.environ.pop("LMTEAMS_N_THREADS", None)
    main()
