"""Hedged requests: when a call has run long enough to look like a straggler.

A node's hedge threshold is ``factor`` x a high percentile of latency, taken from the node's own
history and from its replica group's (nodes of the same role), whichever is lower: a node that
was slow from the start is still compared with its peers. No threshold until ``min_samples``
latencies are known. The extra tokens of a hedge are estimated for the copy that lost: its
prompt (already paid for) plus the share of the winner's completion it had time to produce;
they count in the run's tokens like any other call's.
Pure.
"""

from __future__ import annotations

from lmteams.faults.config import HedgeConfig
from lmteams.faults.detector import LatencyHistory
from lmteams.messages import Usage


def hedge_delay_s(own: LatencyHistory, group: LatencyHistory, config: HedgeConfig) -> float | None:
    """Seconds after which a call should be hedged, or None (hedging off or too little data)."""
    if not config.enabled:
        return None
    thresholds = []
    for history in (own, group):
        if len(history) >= config.min_samples:
            observed = history.percentile(config.percentile)
            assert observed is not None
            thresholds.append(config.factor * observed)
    if not thresholds:
        return None
    return max(config.min_delay_s, min(thresholds))


def loser_usage(
    *,
    prompt_tokens: int,
    winner_completion_tokens: int,
    loser_elapsed_s: float,
    winner_latency_s: float,
) -> Usage:
    """Estimated usage of a cancelled copy: its prompt, plus its share of a completion."""
    share = 1.0
    if winner_latency_s > 0:
        share = min(1.0, max(0.0, loser_elapsed_s / winner_latency_s))
    return Usage(prompt_tokens, round(winner_completion_tokens * share))
