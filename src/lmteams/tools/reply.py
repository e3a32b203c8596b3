"""What every tool backend shares: the request it reads and the completion it answers with."""

from __future__ import annotations

import time
from collections.abc import Sequence

from lmteams.messages import ZERO_USAGE
from lmteams.models.base import ChatMessage, Completion


def last_user_message(messages: Sequence[ChatMessage]) -> str:
    """The request a tool acts on: the last user message (empty when there is none)."""
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return ""


def tool_completion(
    text: str, started: float, model: str, finish_reason: str = "stop"
) -> Completion:
    """A tool's reply: ``started`` is the ``time.perf_counter()`` the call began at."""
    return Completion(
        text=text,
        usage=ZERO_USAGE,  # a tool spends no model tokens
        latency_s=time.perf_counter() - started,
        finish_reason=finish_reason,
        model=model,
    )
