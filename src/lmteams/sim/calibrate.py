"""Fit a calibration from observed runs: the study's event logs (parquet) or our own (SQLite).

The study's logs (``events.parquet`` + ``runs.parquet`` beside it): every round calls all
agents at once, so an agent's reply time minus its round's start is that call's latency, and
the ``edit_file`` events that follow a reply are the files (tasks) it wrote. Per model that
gives latency as a function of tasks written, how many tasks one call carries while work is
waiting (from the one-agent pre-assigned runs, where all work is the agent's), how often
claims are blocked, tokens per call (from ``runs.parquet``), and time per round spent outside
the model (test runs). Per condition (mode, p, n): rounds, calls and refusals per task, wall
time and tokens, for comparison.

Our own logs (an lmteams ``.db``): every model call's request and reply, its model, latency,
tokens and kind (task, claim or lead, from the request's ``meta``).
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lmteams.errors import ConfigError
from lmteams.sim.calibration import (
    Calibration,
    CallProfile,
    ConditionStats,
    LatencyFit,
    ModelCalibration,
    TokenFit,
)

MAX_FIT_TASKS = 12  # calls writing more files than this are rare and truncated by output limits
MAX_PROFILE_CALLS = 200


@dataclass
class CallObs:
    """One observed model call."""

    model: str
    latency_s: float
    tasks: int  # files written in the call (what its length depends on)
    kind: str = "task"
    done: int = 0  # tasks it finished (fewer than files when it rewrote finished work)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class RunObs:
    """One observed run."""

    model: str
    mode: str
    p: float | None
    workers: int
    success: bool
    wall_s: float
    rounds: int
    calls: int
    tasks: int
    claims: int
    claims_refused: int
    prompt_tokens: int
    completion_tokens: int
    test_s: float
    project: str | None = None
    agent_calls: dict[str, list[CallObs]] = field(default_factory=dict)  # agent -> its calls


# -- fitting ---------------------------------------------------------------------------------


def fit_latency(calls: Sequence[CallObs]) -> LatencyFit:
    """Median latency ``a + b * k`` fitted to the per-k medians (weighted by count); the
    spread is the robust standard deviation of log(latency / fitted median)."""
    by_k: dict[int, list[float]] = defaultdict(list)
    for call in calls:
        if call.latency_s > 0:
            by_k[min(call.tasks, MAX_FIT_TASKS)].append(call.latency_s)
    if not by_k:
        raise ConfigError("no model calls with a latency to fit", field="EVENTS")
    points = [(k, statistics.median(v), len(v)) for k, v in by_k.items()]
    if len(points) == 1:
        a, b = points[0][1], 0.0
    else:
        weight = sum(w for _, _, w in points)
        mean_k = sum(k * w for k, _, w in points) / weight
        mean_y = sum(y * w for _, y, w in points) / weight
        var = sum(w * (k - mean_k) ** 2 for k, _, w in points)
        cov = sum(w * (k - mean_k) * (y - mean_y) for k, y, w in points)
        b = max(0.0, cov / var) if var > 0 else 0.0
        a = max(0.05, mean_y - b * mean_k)
    logs = [
        math.log(c.latency_s / (a + b * min(c.tasks, MAX_FIT_TASKS)))
        for c in calls
        if c.latency_s > 0
    ]
    center = statistics.median(logs)
    mad = statistics.median(abs(x - center) for x in logs)
    return LatencyFit(
        base_s=round(a, 4),
        per_task_s=round(b, 4),
        sigma=round(min(5.0, 1.4826 * mad), 4),
        max_tasks=MAX_FIT_TASKS,
        calls=len(logs),
    )


def fit_tokens(runs: Sequence[RunObs], calls: Sequence[CallObs]) -> TokenFit:
    """Prompt tokens per call; completion tokens as c0 per call + c1 per task written."""
    per_call = [c for c in calls if c.prompt_tokens is not None]
    if per_call:
        task_calls = [c for c in per_call if c.tasks] or per_call
        empty = [c for c in per_call if not c.tasks]
        per_task = statistics.median(c.completion_tokens or 0 for c in task_calls)
        base = statistics.median(c.completion_tokens or 0 for c in empty) if empty else 0.0
        return TokenFit(
            prompt_per_call=round(statistics.median(c.prompt_tokens or 0 for c in per_call), 1),
            completion_per_call=round(base, 1),
            completion_per_task=round(max(0.0, per_task - base), 1),
        )
    usable = [r for r in runs if r.calls > 0]
    if not usable:
        return TokenFit(prompt_per_call=0.0, completion_per_call=0.0, completion_per_task=0.0)
    prompt = statistics.median(r.prompt_tokens / r.calls for r in usable)
    c0, c1 = _two_factor([(r.calls, r.tasks, r.completion_tokens) for r in usable])
    return TokenFit(
        prompt_per_call=round(prompt, 1),
        completion_per_call=round(c0, 1),
        completion_per_task=round(c1, 1),
    )


def _two_factor(rows: Sequence[tuple[float, float, float]]) -> tuple[float, float]:
    """Least squares y = c0 * x0 + c1 * x1 without intercept, both clamped at zero."""
    s00 = sum(x0 * x0 for x0, _, _ in rows)
    s11 = sum(x1 * x1 for _, x1, _ in rows)
    s01 = sum(x0 * x1 for x0, x1, _ in rows)
    s0y = sum(x0 * y for x0, _, y in rows)
    s1y = sum(x1 * y for _, x1, y in rows)
    det = s00 * s11 - s01 * s01
    if det <= 0:
        return (s0y / s00 if s00 else 0.0), 0.0
    c0 = (s0y * s11 - s1y * s01) / det
    c1 = (s1y * s00 - s0y * s01) / det
    if c0 < 0:
        return 0.0, (s1y / s11 if s11 else 0.0)
    if c1 < 0:
        return (s0y / s00 if s00 else 0.0), 0.0
    return c0, c1


def agent_profile(run: RunObs, calls: Sequence[CallObs], fit: LatencyFit) -> CallProfile | None:
    """How one agent of one run worked, call by call (one call per round): the tasks it
    finished, the files it wrote and how long each call took. ``censored``: all its work fit
    in one call, so it never showed its limit. An agent that never finished a task tells
    nothing and is left out."""
    if not any(c.done for c in calls):
        return None
    done = [c.done for c in calls]
    later = [any(done[j] for j in range(i + 1, len(done))) for i in range(len(done))]
    saturated = any(c.done for c, more in zip(calls, later, strict=True) if more)
    kept = list(calls[:MAX_PROFILE_CALLS])
    ratios = [c.latency_s / fit.median(c.tasks) for c in calls if c.latency_s > 0]
    speed = statistics.median(ratios) if ratios else 1.0
    return CallProfile(
        tasks=[c.done for c in kept],
        files=[max(c.tasks, c.done) for c in kept],
        seconds=[round(max(c.latency_s, 0.0), 3) for c in kept],
        censored=not saturated,
        speed=round(max(speed, 0.01), 4),
        mode="claimed" if run.mode.startswith("decentral") else "assigned",
        workers=run.workers,
        project=run.project,
    )


def _profiles(runs: Iterable[RunObs], fit: LatencyFit) -> tuple[list[CallProfile], float]:
    """Every successful run's agent profiles, and the spread of call latency once each
    agent's own speed is accounted for (the noise left within one agent)."""
    profiles = []
    residuals: list[float] = []
    for number, run in enumerate(r for r in runs if r.success):
        for index, agent in enumerate(sorted(run.agent_calls)):
            calls = run.agent_calls[agent]
            profile = agent_profile(run, calls, fit)
            if profile is None:
                continue
            profiles.append(profile.model_copy(update={"run": number, "agent": index}))
            residuals.extend(
                math.log(c.latency_s / (fit.median(c.tasks) * profile.speed))
                for c in calls
                if c.latency_s > 0
            )
    if not profiles:
        return [CallProfile(tasks=[1])], fit.sigma
    center = statistics.median(residuals)
    mad = statistics.median(abs(x - center) for x in residuals)
    return profiles, round(min(5.0, 1.4826 * mad), 4)


def model_calibration(calls: Sequence[CallObs], runs: Sequence[RunObs]) -> ModelCalibration:
    # a blocked claim is logged instead of a claim, not after one: attempts = both
    refused = sum(r.claims_refused for r in runs)
    claims = sum(r.claims for r in runs) + refused
    rounds = [r.test_s / r.rounds for r in runs if r.rounds]
    latency = fit_latency(calls)
    profiles, within = _profiles(runs, latency)
    return ModelCalibration(
        calls=len(calls),
        latency=latency,
        tokens=fit_tokens(runs, calls),
        call_profiles=profiles,
        sigma_within=within,
        claim_refusal=round(refused / claims, 4) if claims else 0.0,
        round_overhead_s=round(statistics.median(rounds), 4) if rounds else 0.0,
    )


def conditions(runs: Sequence[RunObs]) -> list[ConditionStats]:
    groups: dict[tuple[str, float | None, int], list[RunObs]] = defaultdict(list)
    for run in runs:
        if run.success:
            groups[(run.mode, run.p, run.workers)].append(run)
    out = []
    for (mode, p, workers), group in sorted(groups.items(), key=lambda kv: str(kv[0])):
        out.append(
            ConditionStats(
                mode=mode,
                p=p,
                workers=workers,
                runs=len(group),
                wall_s=round(statistics.median(r.wall_s for r in group), 3),
                rounds=statistics.median(r.rounds for r in group),
                calls_per_task=round(
                    statistics.median(r.calls / max(1, r.tasks) for r in group), 3
                ),
                claims_refused_per_task=round(
                    statistics.median(r.claims_refused / max(1, r.tasks) for r in group), 3
                ),
                tokens=statistics.median(r.prompt_tokens + r.completion_tokens for r in group),
            )
        )
    return out


def calibrate_observations(
    calls: Sequence[CallObs], runs: Sequence[RunObs], *, kind: str, source: str
) -> Calibration:
    if not calls:
        raise ConfigError("no model calls found", source=source)
    models = sorted({c.model for c in calls})
    fitted = {
        m: model_calibration([c for c in calls if c.model == m], [r for r in runs if r.model == m])
        for m in models
    }
    return Calibration(
        kind=kind,
        source=source,
        models=fitted,
        pooled=model_calibration(calls, runs),
        conditions=conditions(runs),
    )


def calibrate(path: str | Path, *, runs_path: str | Path | None = None) -> Calibration:
    """Calibrate from a study-shaped ``events.parquet`` or an lmteams event log (``.db``)."""
    source = str(path)
    file = Path(path)
    if not file.exists():
        raise ConfigError("file not found", source=source)
    if file.suffix == ".parquet":
        from lmteams.sim.study_logs import read_study

        calls, runs = read_study(file, runs_path)
        return calibrate_observations(calls, runs, kind="study", source=source)
    from lmteams.sim.own_logs import read_store

    calls, runs = read_store(file)
    return calibrate_observations(calls, runs, kind="lmteams", source=source)


def summary(calibration: Calibration) -> list[dict[str, Any]]:
    """One row per model, for the CLI table."""
    rows = []
    for name, model in [*calibration.models.items(), ("(pooled)", calibration.pooled)]:
        fit = model.latency
        rows.append(
            {
                "model": name,
                "calls": model.calls,
                "base_s": fit.base_s,
                "per_task_s": fit.per_task_s,
                "sigma": fit.sigma,
                "tasks_per_call": model.tasks_per_call,
                "claim_refusal": model.claim_refusal,
                "prompt_per_call": model.tokens.prompt_per_call,
                "completion_per_task": model.tokens.completion_per_task,
                "round_overhead_s": model.round_overhead_s,
            }
        )
    return rows
