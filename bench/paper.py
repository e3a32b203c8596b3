"""Replay the study's conditions in the simulator and compare with what the study measured.

1. Calibrate from the study's own logs (../shared/paper/data/events.parquet): per model, call
   latency against tasks written, how many tasks one call carries, claim refusals, tokens.
2. Recompute the study's median speedups from runs.parquet (its README's definition) and check
   them against the README table.
3. Replay all 3 suites x 3 p x n = 1..5 x 3 models in the rounds harness (synchronous rounds,
   several tasks per call, the study's harness) with the real policies: pre-assigned =
   `preassign --balance round-robin` (chains dealt in file order, as the study did),
   decentralized = `decentralized`. Pre-assigned teams replay one-agent runs only (a true
   prediction for n > 1); decentralized teams are shown both ways: from one-agent runs, and
   replaying agents observed in the same condition (their coordination trouble included).
4. Print predicted next to observed and Amdahl, with the error; then what `steal` and the
   balanced (least-loaded) `preassign` would have achieved in the same conditions.

Run: python bench/paper.py [--quick] [--markdown PATH]
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import time
from pathlib import Path

from lmteams.sim.calibrate import calibrate
from lmteams.sim.study import (
    P_LABELS,
    README_TABLE,
    amdahl_of,
    error,
    observed_speedups,
    replay,
)

PAPER = Path(__file__).resolve().parents[2] / "shared" / "paper"
NS = (2, 3, 4, 5)


def table(
    title: str,
    mode: str,
    predicted: dict[tuple[str, str, int], float],
    observed: dict[tuple[str, str, int], float],
    lines: list[str],
) -> list[float]:
    lines.append(f"\n### {title}\n")
    lines.append("| p | n | observed | predicted | error | Amdahl |")
    lines.append("|---|---|---|---|---|---|")
    errors = []
    for p in P_LABELS:
        for n in NS:
            obs = observed[(mode, p, n)]
            pred = predicted[(mode, p, n)]
            err = error(pred, obs)
            errors.append(err)
            lines.append(
                f"| {p[1]}.{p[2]} | {n} | {obs:.2f} | {pred:.2f} | {err:+.0%} | {amdahl_of(p, n):.2f} |"
            )
    absolute = [abs(e) for e in errors]
    within = sum(a <= 0.15 for a in absolute)
    lines.append(
        f"\nmean absolute error {statistics.fmean(absolute):.1%}, median {statistics.median(absolute):.1%}, "
        f"{within}/{len(errors)} cells within 15%"
    )
    return errors


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="12 repetitions instead of 48")
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    reps = 12 if args.quick else 48
    events = PAPER / "data" / "events.parquet"
    if not events.exists():
        print(f"skipped: {events} not found")
        return 0
    lines: list[str] = []
    started = time.perf_counter()
    calibration = calibrate(events)
    lines.append(
        f"calibrated {len(calibration.models)} models from {calibration.pooled.calls} calls "
        f"in {time.perf_counter() - started:.1f}s"
    )
    for name, model in calibration.models.items():
        fit = model.latency
        lines.append(
            f"- {name}: call latency {fit.base_s:.1f}s + {fit.per_task_s:.1f}s per task "
            f"(sigma {fit.sigma:.2f}, {model.sigma_within:.2f} within one agent), "
            f"{model.tasks_per_call:g} tasks per call (median), claims refused "
            f"{model.claim_refusal:.0%}"
        )
    observed = observed_speedups(PAPER / "data" / "runs.parquet")
    mismatch = [
        (mode, p, n)
        for (mode, p), row in README_TABLE.items()
        for n, value in zip(NS, row, strict=True)
        if abs(observed[(mode, p, n)] - value) > 0.005
    ]
    lines.append(
        "observed medians recomputed from runs.parquet: "
        + ("match the README table" if not mismatch else f"differ at {mismatch}")
    )

    def timed(label: str, **kwargs: object) -> dict[tuple[str, str, int], float]:
        began = time.perf_counter()
        result = replay(calibration, PAPER / "tasks", reps=reps, **kwargs)  # type: ignore[arg-type]
        runs = 3 * 3 * len(calibration.models) * 5 * reps
        lines.append(f"{label}: {runs} simulated runs in {time.perf_counter() - began:.1f}s")
        return result

    pre = timed("pre-assigned", mode="preassign_nolead", topology="preassign", profiles="solo")
    dec_solo = timed(
        "decentralized (solo)", mode="decentralized", topology="decentralized", profiles="solo"
    )
    dec_team = timed(
        "decentralized (team)", mode="decentralized", topology="decentralized", profiles="condition"
    )
    steal = timed("steal", mode="steal", topology="steal", balance="least-loaded", profiles="solo")
    balanced = timed(
        "balanced preassign",
        mode="balanced",
        topology="preassign",
        balance="least-loaded",
        profiles="solo",
    )
    table(
        f"Pre-assigned (`preassign --balance round-robin`), {reps} reps per model, suite, p, n",
        "preassign_nolead",
        pre,
        observed,
        lines,
    )
    table(
        "Decentralized, predicted from one-agent runs (scheduling and contention only)",
        "decentralized",
        dec_solo,
        observed,
        lines,
    )
    table(
        "Decentralized, replaying agents observed in the same condition",
        "decentralized",
        dec_team,
        observed,
        lines,
    )
    lines.append("\n### The decentralized penalty (decentralized / pre-assigned median speedup)\n")
    lines.append("| p | n | observed | predicted (team) | predicted (solo) |")
    lines.append("|---|---|---|---|---|")
    for p in P_LABELS:
        for n in NS:
            obs = observed[("decentralized", p, n)] / observed[("preassign_nolead", p, n)]
            team = dec_team[("decentralized", p, n)] / pre[("preassign_nolead", p, n)]
            solo = dec_solo[("decentralized", p, n)] / pre[("preassign_nolead", p, n)]
            lines.append(f"| {p[1]}.{p[2]} | {n} | {obs:.2f} | {team:.2f} | {solo:.2f} |")
    lines.append("\n### What steal and balanced preassign would have achieved (predicted)\n")
    lines.append(
        "| p | n | study's preassign (observed) | preassign round-robin | balanced preassign | steal | Amdahl |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for p in P_LABELS:
        for n in NS:
            lines.append(
                f"| {p[1]}.{p[2]} | {n} | {observed[('preassign_nolead', p, n)]:.2f} | "
                f"{pre[('preassign_nolead', p, n)]:.2f} | {balanced[('balanced', p, n)]:.2f} | "
                f"{steal[('steal', p, n)]:.2f} | {amdahl_of(p, n):.2f} |"
            )
    lines.append(f"\ntotal {time.perf_counter() - started:.1f}s")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        stamp = datetime.date.today().isoformat()
        args.markdown.write_text(f"## bench/paper.py ({stamp})\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
