"""Consensus strategies on the embedded model: accuracy and tokens against one node.

A generated set of self-checking questions (arithmetic, unit conversions, ordering; seeded)
goes through the default team (three SmolLM2-135M nodes) with every strategy, side by side
with one node answering greedily (temperature 0) and one node sampling at its own temperature.
Printed per strategy: accuracy with a 95% Wilson interval, tokens and calls per question, and
the difference in accuracy and the token ratio against each single node, measured in the
same run.

Strategies that start from the nodes' independent answers share them (the same replies are
voted on by each rule) but each is charged the full cost of what it used. The dataset's
answers become labels after each question, so `learned` uses the labels of earlier questions
(as `lmteams eval` does). weighted and plurality equal majority on this team (equal weights).

Run: python bench/consensus.py [--quick] [--questions N] [--parallel Q]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from lmteams.config import load_team
from lmteams.consensus.datasets import GENERATORS, generate
from lmteams.models.embedded import close_all_engines
from lmteams.state.store import EventStore
from lmteams.strategies.evaluation import EvalReport, evaluate

STRATEGIES = [
    "single",
    "majority",
    "confidence",
    "quorum",
    "learned",
    "adaptive",
    "cascade",
    "judge",
    "debate",
    "moa",
]


def table(report: EvalReport) -> None:
    scores = {s.strategy: s for s in report.scores}
    greedy, single = scores["greedy"], scores["single"]
    print(
        f"{'strategy':<11} {'acc':>6} {'95% CI':>13} {'answered':>8} {'right/ans':>9} "
        f"{'tok/q':>7} {'calls/q':>8} "
        f"{'Δacc greedy':>12} {'tok×greedy':>11} {'Δacc sampled':>13} {'tok×sampled':>12}"
    )
    for s in report.scores:
        answered = s.questions - s.no_answer
        precision = f"{s.correct / answered:.1%}" if answered else "—"
        print(
            f"{s.strategy:<11} {s.accuracy:>6.1%} {s.ci_low:>6.1%}-{s.ci_high:<6.1%} "
            f"{answered:>8} {precision:>9} "
            f"{s.tokens_per_question:>7.0f} {s.calls / s.questions:>8.2f} "
            f"{(s.accuracy - greedy.accuracy) * 100:>+11.1f}p "
            f"{s.tokens_per_question / greedy.tokens_per_question:>10.2f}x "
            f"{(s.accuracy - single.accuracy) * 100:>+12.1f}p "
            f"{s.tokens_per_question / single.tokens_per_question:>11.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="40 questions instead of 200")
    parser.add_argument("--questions", type=int, help="how many questions (overrides --quick)")
    parser.add_argument("--parallel", type=int, default=4, help="questions in flight at once")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--plot", type=Path, help="also write accuracy vs tokens to this PNG")
    parser.add_argument("--max-tokens", type=int, help="override the team's max_tokens")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="llama.cpp threads (default 1: on a shared 2-core machine two threads that wait "
        "on each other ran 7-10x slower than one; 0 = the engine's default, all cores)",
    )
    args = parser.parse_args()
    n = args.questions or (40 if args.quick else 200)
    strategies = [s for s in args.strategies.split(",") if s]
    if "single" not in strategies:
        strategies.insert(0, "single")
    items = generate(list(GENERATORS), n, seed=args.seed)
    spec = load_team(None)
    if args.max_tokens:
        spec = spec.model_copy(
            update={"defaults": spec.defaults.model_copy(update={"max_tokens": args.max_tokens})}
        )
    if args.threads:
        models = {
            name: model.model_copy(update={"n_threads": args.threads})
            if model.backend == "embedded"
            else model
            for name, model in spec.models.items()
        }
        spec = spec.model_copy(update={"models": models})
    print(
        f"{n} generated questions ({', '.join(GENERATORS)}; seed {args.seed}), team "
        f"'{spec.name}': {len(spec.nodes)} x SmolLM2-135M, max_tokens {spec.defaults.max_tokens}, "
        f"{args.parallel} questions in flight, {args.threads or 'all'} llama.cpp thread(s)"
    )
    started = time.perf_counter()
    done = 0

    def progress(index: int, name: str, correct: bool, result: object) -> None:
        nonlocal done
        done += 1
        if done % (len(strategies) + 1) == 0:
            q = done // (len(strategies) + 1)
            if q % 10 == 0 or q == n:
                elapsed = time.perf_counter() - started
                print(f"  {q}/{n} questions, {elapsed:.0f}s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "bench.db")
        try:
            report = asyncio.run(
                evaluate(
                    spec,
                    items,
                    store,
                    strategies,
                    parallel=args.parallel,
                    dataset=f"generated-{n}",
                    on_item=progress,
                )
            )
        finally:
            store.close()
            close_all_engines()
    print(f"wall time {report.wall_s:.0f}s\n")
    table(report)
    if args.plot:
        from lmteams.strategies.evaluation import plot_accuracy_cost

        plot_accuracy_cost(report.model_dump(mode="json"), args.plot)
        print(f"\nplot: {args.plot}")


if __name__ == "__main__":
    main()
