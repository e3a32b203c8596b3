"""Replaying a run's completed calls from its event log, so a resumed run never pays twice.

Keyed calls are replayed from the ``call_results`` table (see :meth:`lmteams.team.Team.call`).
This module covers calls made without a key (``ask`` makes those): every request and reply
envelope is in the log, so a resumed run can match a new request to the reply its logical
predecessor received, by (node, request hash), in the order they were made. Retries, reroutes
and hedges carry the logical call's id in ``meta.delivery.first_id``; replies that failed output
validation are skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Iterable
from typing import Any

from lmteams.messages import Envelope, Kind, validate_envelope
from lmteams.state.store import EventRecord

#: Event types :func:`unkeyed_replies` reads.
EVENT_TYPES = ("message", "output_rejected")


def payload_digest(payload: dict[str, Any]) -> str:
    """Short hash of a request payload (part of every idempotency key)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def unkeyed_replies(events: Iterable[EventRecord]) -> dict[tuple[str, str], deque[Envelope]]:
    """Accepted replies of a run's logical calls, by (addressed node, request digest), in order."""
    requests: dict[str, Envelope] = {}
    replies: list[Envelope] = []
    rejected: set[str] = set()
    for event in events:
        if event.type == "output_rejected":
            reply_id = event.data.get("reply_id")
            if isinstance(reply_id, str):
                rejected.add(reply_id)
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
