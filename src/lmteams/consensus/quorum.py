"""Byzantine quorum: an answer stands only with at least 2f + 1 agreeing votes out of n >= 3f + 1.

Up to ``f`` nodes may be faulty in any way (wrong, colluding, silent). If the honest nodes agree
on the right answer, a wrong answer can gather at most ``f`` votes, fewer than the quorum, so
the rule never returns it; when it cannot find a quorum it says "no consensus" and shows the
split instead of guessing. Votes are counted per node (weights do not apply: a faulty node
could claim any weight). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from lmteams.consensus.voting import Decision, Vote, tally
from lmteams.errors import ConfigError


def max_faults(n: int) -> int:
    """The most faulty nodes ``n`` nodes tolerate: the largest f with n >= 3f + 1."""
    return max(0, (n - 1) // 3)


def quorum_size(n: int) -> int:
    """Votes an answer needs among ``n`` nodes tolerating ``max_faults(n)``: 2f + 1.

    Equal to floor(2n / 3) + 1 when n = 3f + 1; also the "more than two thirds" rule other
    strategies (debate) use to stop.
    """
    return 2 * n // 3 + 1


def check_faults(n: int, f: int) -> None:
    """Raise a clear :class:`ConfigError` unless ``n`` nodes can tolerate ``f`` faults."""
    if f < 0:
        raise ConfigError(f"faults must be 0 or more, got {f}", field="--faults")
    if n < 3 * f + 1:
        raise ConfigError(
            f"quorum with f={f} faulty nodes needs n >= 3f+1 = {3 * f + 1} nodes; the team has "
            f"{n} (use --nodes {3 * f + 1}, or --faults {max_faults(n)})",
            field="--faults",
        )


def quorum(votes: Sequence[Vote], n: int, f: int | None = None) -> Decision:
    """The answer backed by at least 2f + 1 of the ``n`` nodes asked, or no consensus.

    ``votes`` are the answers received (failed or silent nodes simply have none); ``n`` counts
    every node asked. ``f`` defaults to the most faults ``n`` nodes tolerate.
    """
    faults = max_faults(n) if f is None else f
    check_faults(n, faults)
    needed = 2 * faults + 1
    counted = [Vote(v.node, v.answer) for v in votes]  # one node, one vote
    groups = tally(counted)
    total = float(sum(len(voters) for _, _, voters in groups))
    reached = [(a, w, voters) for a, w, voters in groups if len(voters) >= needed]
    split = ", ".join(f"{a.text} x{len(voters)}" for a, _, voters in groups) or "no answers"
    silent = n - int(total)
    if silent:
        split += f", no answer x{silent}"
    if len(reached) == 1:
        answer, weight, _ = reached[0]
        return Decision(
            answer, weight, total, groups=tuple(groups), reason=f"quorum {int(weight)}/{n}"
        )
    reason = (
        f"no consensus: an answer needs {needed} of {n} votes (f={faults}); split: {split}"
        if not reached
        else f"no consensus: {len(reached)} answers reached the quorum of {needed}; split: {split}"
    )
    return Decision(None, 0.0, total, groups=tuple(groups), reason=reason)
