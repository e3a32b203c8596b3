"""Does the team beat its members? Teams of the installed embedded models on mixed questions.

A generated set of mixed questions (knowledge, arithmetic, dates, string manipulation, logic;
seeded; ``lmteams.consensus.questions``), or any JSONL set given with ``--dataset``, goes
through ``lmteams.strategies.evaluation.evaluate``: every strategy side by side with every member alone
and with the team's largest model alone (greedy), each difference with McNemar's exact test.

Teams, from what is installed (``lmteams models``):

- ``team``: one node per installed model (three SmolLM2-135M nodes when only SmolLM2 is
  there), the Qwen coder models in the ``coder`` role.
- ``small``: only the two smaller models (SmolLM2-135M and Qwen2.5-Coder-0.5B, two nodes of
  it), with tools (the ``program`` strategy runs their Python in the sandbox); measured only
  when both, and the 1.5B model to compare with, are installed.

Targets (issue 13), reported as measured, pass or not:

(a) the best team strategy beats its best single member by at least 5 points, McNemar p < 0.05;
(b) ``small``'s best strategy matches or beats the 1.5B model alone at no more wall time per
    question (both measured with the same questions in flight);
(c) at most 5 model calls per question on average (for the strategy of (a)).

``--quick``: 40 questions, and no ``program`` strategy (the slowest by far on SmolLM2).

Run: python bench/teamwork.py [--quick] [--questions N] [--dataset FILE] [--models a,b]
     [--strategies s1,s2] [--parallel Q] [--threads T] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from lmteams.cli.render import eval_table
from lmteams.config import TeamSpec
from lmteams.consensus.catalog import STRATEGIES
from lmteams.consensus.datasets import Item
from lmteams.consensus.questions import mixed
from lmteams.consensus.scoring import paired
from lmteams.models.assembly import model_file
from lmteams.models.catalog import CATALOG
from lmteams.models.embedded import close_all_engines
from lmteams.state.store import EventStore
from lmteams.strategies.evaluation import EvalReport, StrategyScore, evaluate, load_dataset

SMALL, MEDIUM, LARGE = "smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"
DEFAULT_STRATEGIES = ("majority", "adaptive", "cascade", "routed", "program")
# --quick leaves out program: on SmolLM2 it cost 5.6 calls and ~21x greedy's tokens a question.
QUICK_STRATEGIES = ("majority", "adaptive", "cascade", "routed")
PROMPT = (
    "Answer the question. Think briefly if you need to, then give the final answer alone on "
    'the last line as "Answer: <answer>".'
)
TEMPERATURES = (0.3, 0.6, 0.9)


def installed_models() -> list[str]:
    return [name for name, model in CATALOG.items() if model_file(model).installed]


def team_of(
    name: str,
    nodes: Sequence[tuple[str, str]],
    *,
    max_tokens: int,
    threads: int | None,
    strategies: Sequence[str],
) -> TeamSpec:
    """A team of ``(node, model)`` pairs on embedded models, cheapest model first in cascade."""
    models: dict[str, Any] = {}
    for _, model in nodes:
        options: dict[str, Any] = {"backend": "embedded", "model": model, "n_parallel": 4}
        options["ctx_per_slot"] = 1536
        if threads:
            options["n_threads"] = threads
        models[model] = options
    tiers = sorted(models, key=lambda m: CATALOG[m].size_bytes)
    spec_nodes = [
        {
            "name": node,
            "model": model,
            "role": "coder" if "coder" in model else "solver",
            "temperature": TEMPERATURES[i % len(TEMPERATURES)],
            "seed": 101 + 97 * i,
            "system_prompt": PROMPT,
        }
        for i, (node, model) in enumerate(nodes)
    ]
    consensus: dict[str, Any] = {"tiers": tiers if len(tiers) > 1 else []}
    if "program" in strategies:
        consensus["run_time_limit_s"] = 5.0
    return TeamSpec.model_validate(
        {
            "name": name,
            "models": models,
            "defaults": {"model": nodes[0][1], "max_tokens": max_tokens, "max_concurrent": 4},
            "nodes": spec_nodes,
            "consensus": consensus,
        }
    )


def short(model: str) -> str:
    return {SMALL: "smol", MEDIUM: "qwen05", LARGE: "qwen15"}.get(model, model.split("-")[0])


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def right_by_index(store: EventStore, report: EvalReport) -> dict[str, list[bool]]:
    """Each strategy's and member's right/wrong per question, from the run's eval_item events."""
    rows: dict[str, dict[int, bool]] = {}
    for event in store.events(report.run_id, types=["eval_item"]):
        rows.setdefault(event.data["strategy"], {})[event.data["index"]] = event.data["correct"]
    return {
        name: [row.get(i, False) for i in range(report.questions)] for name, row in rows.items()
    }


def best_strategy(report: EvalReport) -> StrategyScore | None:
    team = [s for s in report.scores if s.strategy not in ("greedy", "single")]
    return max(team, key=lambda s: (s.correct, -s.calls), default=None)


def per_q(score: StrategyScore, field: str) -> float:
    value = {"calls": score.calls, "wall": score.wall_s}[field]
    return value / max(1, score.questions)


async def run_eval(
    spec: TeamSpec,
    items: Sequence[Item],
    store: EventStore,
    strategies: Sequence[str],
    parallel: int,
    label: str,
    dataset: str,
) -> EvalReport:
    started = time.perf_counter()
    done: set[int] = set()
    names = 1 + len(strategies)
    counts: dict[int, int] = {}

    def progress(index: int, name: str, correct: bool, result: object) -> None:
        counts[index] = counts.get(index, 0) + 1
        if counts[index] == names:
            done.add(index)
            if len(done) % 10 == 0 or len(done) == len(items):
                elapsed = time.perf_counter() - started
                print(f"  {label}: {len(done)}/{len(items)} questions, {elapsed:.0f}s", flush=True)

    return await evaluate(
        spec,
        items,
        store,
        list(strategies),
        parallel=parallel,
        dataset=dataset,
        on_item=progress,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="40 questions instead of 200")
    parser.add_argument("--questions", type=int, help="how many generated questions")
    parser.add_argument("--dataset", type=Path, help="a JSONL set instead of generated ones")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--models", help="comma-separated models (default: every installed)")
    parser.add_argument(
        "--strategies",
        help=f"default: {','.join(DEFAULT_STRATEGIES)} ({','.join(QUICK_STRATEGIES)} with --quick)",
    )
    parser.add_argument("--parallel", type=int, default=4, help="questions in flight at once")
    parser.add_argument("--max-tokens", type=int, default=160)
    parser.add_argument("--threads", type=int, help="llama.cpp threads per engine")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    chosen = args.strategies or ",".join(QUICK_STRATEGIES if args.quick else DEFAULT_STRATEGIES)
    strategies = [s for s in chosen.split(",") if s]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        print(f"error: --strategies: unknown strategy {unknown[0]!r}", file=sys.stderr)
        return 2
    models = args.models.split(",") if args.models else installed_models()
    missing = [m for m in models if m not in CATALOG or not model_file(CATALOG[m]).installed]
    if missing or not models:
        print(f"error: --models: not installed: {', '.join(missing) or 'none'}", file=sys.stderr)
        return 2
    if args.dataset is not None:
        items = load_dataset(args.dataset)[: args.questions]
        dataset = args.dataset.name
    else:
        n = args.questions or (40 if args.quick else 200)
        items = mixed(n, seed=args.seed)
        dataset = f"mixed-{n} (seed {args.seed})"
    models.sort(key=lambda m: CATALOG[m].size_bytes)
    if len(models) == 1:
        nodes = [(f"{short(models[0])}-{i}", models[0]) for i in range(3)]
    else:
        nodes = [(short(m), m) for m in models]
    console = Console(width=160)
    print(
        f"{len(items)} questions ({dataset}); models: {', '.join(models)}; strategies: "
        f"{', '.join(strategies)}; {args.parallel} in flight; max_tokens {args.max_tokens}; "
        f"cores {os.cpu_count()}, load average {load_average()}",
        flush=True,
    )
    results: dict[str, Any] = {"questions": len(items), "dataset": dataset, "models": models}
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "teamwork.db")
        try:
            spec = team_of(
                "team",
                nodes,
                max_tokens=args.max_tokens,
                threads=args.threads,
                strategies=strategies,
            )
            report = asyncio.run(
                run_eval(spec, items, store, strategies, args.parallel, "team", dataset)
            )
            eval_table(console, report)
            results["team"] = report.model_dump(mode="json")
            results["team_by_kind"] = by_kind(store, report, items)
            small_report: EvalReport | None = None
            if {SMALL, MEDIUM, LARGE} <= set(models):
                small_spec = team_of(
                    "small",
                    [("smol", SMALL), ("qwen05-a", MEDIUM), ("qwen05-b", MEDIUM)],
                    max_tokens=args.max_tokens,
                    threads=args.threads,
                    strategies=strategies,
                )
                small_report = asyncio.run(
                    run_eval(small_spec, items, store, strategies, args.parallel, "small", dataset)
                )
                eval_table(console, small_report)
                results["small"] = small_report.model_dump(mode="json")
                results["small_by_kind"] = by_kind(store, small_report, items)
            results["targets"] = targets(store, report, small_report, models)
        finally:
            store.close()
            close_all_engines()
    print(f"load average after: {load_average()}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures: {args.json}")
    return 0


def by_kind(store: EventStore, report: EvalReport, items: Sequence[Item]) -> dict[str, Any]:
    """Right answers per question kind for every row, printed as one small table."""
    kinds = sorted({item.kind or "?" for item in items})
    rows = right_by_index(store, report)
    table: dict[str, dict[str, int]] = {}
    for name, right in rows.items():
        table[name] = {k: 0 for k in kinds}
        for item, ok in zip(items, right, strict=True):
            table[name][item.kind or "?"] += ok
    totals = {k: sum(1 for item in items if (item.kind or "?") == k) for k in kinds}
    print("right by kind: " + ", ".join(f"{k} (of {totals[k]})" for k in kinds))
    for name, counts in table.items():
        print(f"  {name:<22} " + " ".join(f"{counts[k]:>4}" for k in kinds))
    return {"of": totals, "right": table}


def targets(
    store: EventStore, team: EvalReport, small: EvalReport | None, models: Sequence[str]
) -> dict[str, Any]:
    """The three targets, as measured."""
    out: dict[str, Any] = {}
    best = best_strategy(team)
    member = next((m for m in team.members if m.strategy == team.best_member), None)
    print("\ntargets:")
    if best is None or member is None:
        print("  (a), (c): not measured (no team strategy or no members)")
        return out
    versus = next(
        c for c in team.comparisons if c.strategy == best.strategy and c.against == "best member"
    )
    met = versus.difference >= 0.05 and versus.p_value < 0.05
    out["a"] = {
        "strategy": best.strategy,
        "accuracy": best.accuracy,
        "best_member": member.strategy,
        "member_accuracy": member.accuracy,
        "difference_points": versus.difference * 100,
        "p_value": versus.p_value,
        "met": met,
    }
    print(
        f"  (a) best strategy {best.strategy} {best.accuracy:.1%} vs best member "
        f"{member.strategy} {member.accuracy:.1%}: {versus.difference * 100:+.1f} points, "
        f"McNemar p={versus.p_value:.3g} ({versus.wins} won, {versus.losses} lost): "
        f"{'met' if met else 'NOT met'} (needs >= +5 points and p < 0.05)"
    )
    calls = per_q(best, "calls")
    out["c"] = {"strategy": best.strategy, "calls_per_question": calls, "met": calls <= 5}
    print(
        f"  (c) {best.strategy}: {calls:.2f} model calls per question: "
        f"{'met' if calls <= 5 else 'NOT met'} (needs <= 5); all: "
        + ", ".join(f"{s.strategy} {per_q(s, 'calls'):.2f}" for s in team.scores)
    )
    large = next((s for s in team.scores if s.strategy == "greedy"), None)
    if small is None or large is None or team.largest_model != LARGE:
        print(
            f"  (b) not measured: needs {SMALL}, {MEDIUM} and {LARGE} among the models "
            f"(these runs used: {', '.join(models)})"
        )
        return out
    small_best = best_strategy(small)
    if small_best is None:
        print("  (b) not measured: no strategy ran on the small team")
        return out
    mine = right_by_index(store, small)[small_best.strategy]
    theirs = right_by_index(store, team)["greedy"]
    test = paired(mine, theirs)
    faster = per_q(small_best, "wall") <= per_q(large, "wall")
    met = small_best.correct >= large.correct and faster
    out["b"] = {
        "strategy": small_best.strategy,
        "accuracy": small_best.accuracy,
        "large_accuracy": large.accuracy,
        "wall_s_per_question": per_q(small_best, "wall"),
        "large_wall_s_per_question": per_q(large, "wall"),
        "p_value": test.p_value,
        "met": met,
    }
    print(
        f"  (b) small team {small_best.strategy} {small_best.accuracy:.1%} in "
        f"{per_q(small_best, 'wall'):.1f} s/q vs {LARGE} alone {large.accuracy:.1%} in "
        f"{per_q(large, 'wall'):.1f} s/q (McNemar p={test.p_value:.3g}): "
        f"{'met' if met else 'NOT met'} (needs accuracy >= and wall time <=)"
    )
    return out


if __name__ == "__main__":
    sys.exit(main())
