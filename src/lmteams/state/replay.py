"""Replaying a run's completed calls from its event log, so a resumed run never pays twice.

:class:`ReplayLog` is what a resumed team (:meth:`lmteams.team.Team.call`) looks a call up in
before sending it. Keyed calls are replayed from the ``call_results`` table. Calls made without
a key (``ask`` makes those) are replayed from the logged envelopes: a resumed run matches a new
request to the reply its logical predecessor received, by (node, request hash), in the order
they were made. Retries, reroutes and hedges carry the logical call's id in
``meta.delivery.first_id``; replies that failed output validation are skipped.

The rest of resuming (which runs can be resumed, how, and whether their coordinator is still
alive) is :mod:`lmteams.resume`.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from lmteams.messages import Envelope, Kind, validate_envelope
from lmteams.state.events import OutputRejected
from lmteams.state.store import EventRecord, EventStore

#: Event types :func:`unkeyed_replies` reads.
EVENT_TYPES = ("message", "output_rejected")


def payload_digest(payload: dict[str, Any]) -> str:
    """Short hash of a request payload (part of every idempotency key): its JSON, keys sorted."""
    try:
        data = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:  # a value orjson does not know: the json module's rules
        return legacy_payload_digest(payload)
    return hashlib.sha256(data).hexdigest()[:16]


def idempotency_key(
    run_id: str, node: str, key: str, payload: dict[str, Any], *, legacy: bool = False
) -> str:
    """(run, node, caller's key, hash of the request) as one string (``legacy``: with the
    digest of before 2026-12-03)."""
    digest = legacy_payload_digest(payload) if legacy else payload_digest(payload)
    return f"{run_id}|{node}|{key}|{digest}"


def legacy_payload_digest(payload: dict[str, Any]) -> str:
    """The digest in keys committed before 2026-12-03 (the json module's spacing and escapes,
    five times slower to make): a resumed run looks a call up under it too, so a log written
    by an earlier lmteams replays its committed calls all the same."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def unkeyed_replies(events: Iterable[EventRecord]) -> dict[tuple[str, str], deque[Envelope]]:
    """Accepted replies of a run's logical calls, by (addressed node, request digest), in order."""
    requests: dict[str, Envelope] = {}
    replies: list[Envelope] = []
    rejected: set[str] = set()
    for event in events:
        if event.type == "output_rejected":
            if isinstance(refused := event.event, OutputRejected) and refused.reply_id:
                rejected.add(refused.reply_id)
            continue
        if event.type != "message":
            continue
        envelope = validate_envelope(event.data)
        if envelope.kind is Kind.REQUEST:
            requests[envelope.id] = envelope
        elif envelope.kind is Kind.REPLY and envelope.parent_id is not None:
            replies.append(envelope)
    table: dict[tuple[str, str], deque[Envelope]] = {}
    answered: set[str] = set()
    for reply in replies:
        if reply.id in rejected:
            continue
        request = requests.get(reply.parent_id or "")
        if request is None:
            continue
        delivery = (request.payload.get("meta") or {}).get("delivery") or {}
        logical = requests.get(str(delivery.get("first_id", request.id)))
        if logical is None or logical.id in answered or not logical.recipients:
            continue
        answered.add(logical.id)  # one reply per logical call: the first accepted one
        key = (logical.recipients[0], payload_digest(logical.payload))
        table.setdefault(key, deque()).append(reply)
    return table


@dataclass(slots=True)
class ReplayLog:
    """A resumed run's completed calls, taken one by one as the redo makes them again.

    Empty for a run that is not resumed, so the team's call path checks it for free.
    """

    #: Committed results of keyed calls, by idempotency key.
    keyed: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Accepted replies of unkeyed calls (see :func:`unkeyed_replies`).
    unkeyed: dict[tuple[str, str], deque[Envelope]] = field(default_factory=dict)
    #: Calls answered from this log so far.
    replayed: int = 0

    @classmethod
    def load(cls, store: EventStore, run_id: str, *, unkeyed: bool = False) -> ReplayLog:
        """Run ``run_id``'s committed calls; with ``unkeyed``, its unkeyed replies too (only
        for deterministic callers, which make the same calls in the same order)."""
        keyed = {k: json.loads(v) for k, v in store.call_results(run_id).items()}
        replies = unkeyed_replies(store.events(run_id, types=EVENT_TYPES)) if unkeyed else {}
        return cls(keyed, replies)

    @property
    def logged_replies(self) -> int:
        return sum(len(replies) for replies in self.unkeyed.values())

    def take_call(
        self, run_id: str, node: str, key: str, payload: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None]:
        """This call's idempotency key, and the result committed under it if the run had one
        (also under the key an lmteams of before 2026-12-03 made, with its older digest)."""
        call_key = idempotency_key(run_id, node, key, payload)
        record = self.keyed.get(call_key)
        if record is None and self.keyed:
            record = self.keyed.get(idempotency_key(run_id, node, key, payload, legacy=True))
        if record is not None:
            self.replayed += 1
        return call_key, record

    def take_unkeyed(self, node: str, payload: dict[str, Any]) -> Envelope | None:
        """The next logged reply to this request to ``node``, if one is left."""
        logged = self.unkeyed.get((node, payload_digest(payload)))
        if not logged:
            return None
        self.replayed += 1
        return logged.popleft()
