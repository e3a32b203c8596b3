"""Recovery policy of the Ray runtime: what becomes of requests on a node-host actor that died.

Pure: it reads how often a request was already resent and the settings, and decides.

Delivery semantics. A request whose reply arrived in the driver is done: its reply is logged
once, by the driver. A request whose reply never arrived may or may not have run on the dead
actor (it may have been queued, cut mid-call, or finished with its reply lost in transit), so
resending it is *at least once* at the model and *exactly once* in the event log: only the reply
that reaches the driver is logged, and a keyed call (``Team.call(key=...)``) commits that one
result under its key, so a resumed run replays it instead of calling again. A model call has no
effect besides its reply, so the only cost of a resend is the tokens spent twice.

``resend_in_flight: 0`` makes delivery *at most once*: requests in flight on a dead actor fail
with :class:`~lmteams.errors.ModelUnavailable` (a transient error: the fault-tolerance layer may
reroute them to another node). A request that was still in the driver's outbox never left it and
is always delivered later, to the restarted actor.
"""

from __future__ import annotations

from typing import Literal

from lmteams.runtime.ray.settings import RaySettings

Decision = Literal["resend", "fail"]


def after_actor_loss(resent: int, settings: RaySettings, *, restartable: bool) -> Decision:
    """Resend a request that was in flight on a lost actor, or give up on it.

    ``resent`` is how often it was already resent; ``restartable`` is False once Ray reports
    the actor dead for good (its restarts are used up).
    """
    if restartable and resent < settings.resend_in_flight:
        return "resend"
    return "fail"


def probe_delay_s(attempt: int) -> float:
    """Wait before the ``attempt``-th (0-based) check whether a restarting actor is back."""
    return float(min(0.02 * 2**attempt, 1.0))
