"""Structured first answers: the same questions asked with and without ``answer_format: json``.

For each embedded model, a team of three copies of it (the teamwork bench's nodes: its system
prompt, temperatures 0.3 / 0.6 / 0.9, their own seeds) answers a generated mixed set
(``lmteams.consensus.questions``) twice through ``lmteams.strategies.evaluation.evaluate``:
once as free text read by the extraction rules, once as ``{"answer": ...}`` under a schema of
the question's kind (llama.cpp's grammar constrains the embedded models). Reported per model
and format: the model alone (greedy), each sampled member, majority of the three; then the
json-minus-text difference of greedy and majority with McNemar's exact test on the same
questions, and the completion tokens each format spent. The default of ``consensus.
answer_format`` follows these figures (bench/RESULTS.md).

Run: python bench/structured.py [--questions 40] [--models smollm2-135m,qwen2.5-coder-0.5b]
     [--parallel 4] [--threads T] [--max-tokens 96] [--json OUT]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lmteams.consensus.questions import mixed
from lmteams.consensus.scoring import paired
from lmteams.models.assembly import model_file
from lmteams.models.catalog import CATALOG
from lmteams.models.embedded import close_all_engines
from lmteams.state.store import EventStore
from lmteams.strategies.evaluation import EvalReport, evaluate

sys.path.insert(0, str(Path(__file__).parent))
from teamwork import load_average, right_by_index, short, team_of

FORMATS = ("text", "json")


def row(report: EvalReport, name: str) -> dict[str, Any]:
    for score in [*report.scores, *report.members]:
        if score.strategy == name:
            return {
                "accuracy": round(score.accuracy, 3),
                "correct": score.correct,
                "no_answer": score.no_answer,
                "completion_tokens": score.completion_tokens,
            }
    return {}


async def one_model(
    model: str, items: list[Any], store: EventStore, args: argparse.Namespace
) -> dict[str, Any]:
    nodes = [(f"{short(model)}-{i}", model) for i in range(3)]
    spec = team_of(
        short(model), nodes, max_tokens=args.max_tokens, threads=args.threads, strategies=[]
    )
    figures: dict[str, Any] = {}
    right: dict[str, dict[str, list[bool]]] = {}
    for fmt in FORMATS:
        settings = spec.consensus.model_copy(update={"answer_format": fmt})
        started = time.perf_counter()
        report = await evaluate(
            spec,
            items,
            store,
            ["majority"],
            settings=settings,
            parallel=args.parallel,
            dataset=f"mixed-{len(items)}",
        )
        wall = time.perf_counter() - started
        right[fmt] = right_by_index(store, report)
        figures[fmt] = {
            "wall_s": round(wall, 1),
            **{name: row(report, name) for name in ("greedy", "majority")},
            "members": {n: row(report, n) for n, _ in nodes},
        }
        print(f"  {model} {fmt}: {json.dumps(figures[fmt])}", flush=True)
    for name in ("greedy", "majority"):
        test = paired(right["json"][name], right["text"][name])
        figures[f"{name}_json_vs_text"] = {
            "json_only_right": test.wins,
            "text_only_right": test.losses,
            "p": round(test.p_value, 4),
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--models", default="smollm2-135m,qwen2.5-coder-0.5b")
    parser.add_argument("--parallel", type=int, default=4, help="questions in flight at once")
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--threads", type=int, help="llama.cpp threads per engine")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    models = [m for m in args.models.split(",") if m]
    missing = [m for m in models if m not in CATALOG or not model_file(CATALOG[m]).installed]
    if missing:
        print(f"error: --models: not installed: {', '.join(missing)}", file=sys.stderr)
        return 2
    items = mixed(args.questions, seed=args.seed)
    print(
        f"{len(items)} questions (mixed, seed {args.seed}); models {', '.join(models)}; "
        f"max_tokens {args.max_tokens}; cores {os.cpu_count()}, load average {load_average()}",
        flush=True,
    )
    results: dict[str, Any] = {"questions": len(items), "seed": args.seed}
    with tempfile.TemporaryDirectory() as tmp:
        store = EventStore(Path(tmp) / "structured.db")
        try:
            for model in models:
                results[model] = asyncio.run(one_model(model, items, store, args))
                close_all_engines()
        finally:
            store.close()
            close_all_engines()
    results["load_average_after"] = load_average()
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
