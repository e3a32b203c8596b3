"""Where each attempt of a logical call goes, and the request it goes as.

:meth:`Router.route` keeps a call on its node while the node is usable (alive, its endpoint's
breaker closed) and has not failed this call; otherwise, with rerouting on, the rerouting
policy (:func:`~lmteams.faults.reroute.choose`) names another node, and the move is an event
(``rerouted``). :meth:`Router.replica` names a hedge's node. :meth:`Router.variant` makes the
request of a retry, reroute or hedge: the same question under a new id, sampled as the node
the call was meant for would have sampled it.
"""

from __future__ import annotations

from typing import Any

from lmteams.faults.board import DELIVERY, FaultBoard
from lmteams.faults.detector import NodeState
from lmteams.faults.reroute import choose
from lmteams.messages import Envelope, Kind
from lmteams.state.events import Rerouted


class Router:
    """Routing of attempts over the board's view of the nodes."""

    def __init__(self, board: FaultBoard) -> None:
        self.board = board

    def route(self, node: str, avoid: list[str], prefer: str | None = None) -> str:
        """The node the next attempt of a call meant for ``node`` goes to."""
        board = self.board
        now = board.clock()
        board.log(board.health.observe(node, now))
        if prefer is not None and prefer not in avoid and board.usable(prefer, now):
            return prefer
        if node not in avoid and board.usable(node, now):
            return node
        reroute = board.config.reroute
        if not reroute.enabled:
            return node
        role = board.nodes[node].role
        candidates = board.candidates(now)
        only = reroute.same_role_only
        other = choose(candidates, role=role, exclude=[node, *avoid], same_role_only=only)
        if other is None and avoid:
            # Every candidate failed this call already: a second chance beats giving up.
            other = choose(candidates, role=role, exclude=[node], same_role_only=only)
        if other is None:
            return node
        reason = "failed this call" if node in avoid else board.health.state(node).value
        if reason == NodeState.HEALTHY.value:
            reason = "breaker open"
        board.counters.reroutes += 1
        board.emit(Rerouted(from_=node, to=other, reason=reason), node)
        return other

    def replica(self, target: str) -> str | None:
        """The node a hedge of a call to ``target`` goes to, or None if none can take it."""
        board = self.board
        return choose(
            board.candidates(board.clock()),
            role=board.nodes[target].role,
            exclude=[target],
            same_role_only=board.config.reroute.same_role_only,
        )

    def variant(
        self,
        original: Envelope,
        target: str,
        *,
        attempt: int,
        messages: list[dict[str, str]],
        hedge_of: str | None = None,
    ) -> Envelope:
        """The request of a retry, reroute or hedge: same question, new id, new recipient."""
        node = original.recipients[0]
        payload = dict(original.payload)
        delivery: dict[str, Any] = {"first_id": original.id, "try": attempt}
        if hedge_of is not None:
            delivery["hedge_of"] = hedge_of
        if target != node:
            # Sample as the original node would have (its seed, temperature, token limit).
            delivery["for_node"] = node
            sampling = self.board.nodes[node].sampling
            payload["sampling"] = {**sampling, **(payload.get("sampling") or {})}
        payload["messages"] = messages
        # Under a key of its own: callers' meta (their own "attempt" numbers) stays untouched.
        payload["meta"] = {**(payload.get("meta") or {}), DELIVERY: delivery}
        return Envelope.make(
            run_id=original.run_id,
            sender=original.sender,
            recipients=(target,),
            kind=Kind.REQUEST,
            payload=payload,
            parent_id=original.parent_id,
        )
