"""Content-addressed prompt text: a long message is stored once, however many envelopes carry it.

A task description, a retrieved document or a long question is sent in every request of a run
(a fan-out, each retry, each hedge copy). The log keeps a message ``content`` at least
:data:`SHARE_MIN_CHARS` long in the ``blobs`` table under its SHA-256, and the logged envelope
holds ``{"blob": HASH}`` in its place; :class:`~lmteams.state.store.EventStore` puts the text
back when it reads events, so every reader sees the envelope as it was sent. A ``content`` is
always a string in a message, so a mapping there can only be such a reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

#: Shorter contents stay inline: hashing and a second row would cost more than they save.
SHARE_MIN_CHARS = 4096

#: The key of a reference in place of a message's content.
BLOB_KEY = "blob"


class Hasher:
    """SHA-256 of texts, remembered by object: a fan-out sends the same string many times."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        # id -> (the text itself, kept alive so that its id cannot be reused, its digest)
        self._seen: dict[int, tuple[str, str]] = {}

    def __call__(self, text: str) -> str:
        hit = self._seen.get(id(text))
        if hit is not None and hit[0] is text:
            return hit[1]
        digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
        if len(self._seen) >= self._size:
            self._seen.clear()
        self._seen[id(text)] = (text, digest)
        return digest


def share(envelope: dict[str, Any], digest: Callable[[str], str]) -> dict[str, str] | None:
    """Replace every long message content of ``envelope`` (the logged JSON object) by a
    reference, in place; return the texts by hash, or None when nothing was long enough."""
    payload = envelope.get("payload")
    if not isinstance(payload, dict):
        return None
    messages = payload.get("messages")
    if not isinstance(messages, list):
        return None
    texts: dict[str, str] = {}
    shared: list[Any] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str) and len(content) >= SHARE_MIN_CHARS:
            key = digest(content)
            texts[key] = content
            message = {**message, "content": {BLOB_KEY: key}}
        shared.append(message)
    if not texts:
        return None
    envelope["payload"] = {**payload, "messages": shared}
    return texts


def references(envelope: Mapping[str, Any]) -> list[str]:
    """The hashes an envelope read from the log refers to."""
    payload = envelope.get("payload")
    messages = payload.get("messages") if isinstance(payload, dict) else None
    if not isinstance(messages, list):
        return []
    return [
        m["content"][BLOB_KEY]
        for m in messages
        if isinstance(m, dict) and isinstance(m.get("content"), dict) and BLOB_KEY in m["content"]
    ]


def restore(envelope: dict[str, Any], texts: Mapping[str, str]) -> None:
    """Put the texts back in place of their references, in place (a missing blob keeps its
    reference: the log was edited by hand, and the reader sees what is there)."""
    payload = envelope["payload"]
    restored = []
    for message in payload["messages"]:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, dict) and content.get(BLOB_KEY) in texts:
            message = {**message, "content": texts[content[BLOB_KEY]]}
        restored.append(message)
    payload["messages"] = restored
