"""A whole team behind the front, answering as one OpenAI-compatible model (``serve-team``).

Each chat completion is one ``ask`` run with the team's consensus strategy, logged like any
ask (``lmteams show RUN``, ``lmteams resume RUN``). The reply's content is the team's decided
answer, ``usage`` sums the tokens of every node call, and an ``lmteams`` field carries the
run id, the agreement and each node's answer. Streamed, the nodes' progress arrives as SSE
comments (``: node n0 done 4``), which OpenAI clients skip, then the answer as one chunk.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from lmteams.config import TeamSpec
from lmteams.errors import LMTeamsError
from lmteams.models.base import ModelBackend
from lmteams.runtime.pool import BackendPool
from lmteams.serve.app import api_error_for
from lmteams.serve.limits import prompt_token_bound
from lmteams.serve.protocol import ApiError, Message
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.result import AskResult, NodeAnswer, NodeStatus

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from lmteams.serve.app import Front
    from lmteams.strategies.result import ProgressCallback

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServedTeam:
    """One team under the model name ``name``; ``backends`` overrides models (tests, scripts)."""

    name: str
    spec: TeamSpec
    backends: Mapping[str, ModelBackend] | None = field(default=None)


def question_of(messages: Sequence[dict[str, Any]]) -> str:
    """The question an ask gets: the last user message, after the earlier ones as context.

    A team answers one question; a conversation's earlier turns (system prompt included) are
    given to every node as a transcript before it.
    """
    parsed = [Message.model_validate(m) for m in messages]
    if parsed[-1].role != "user":
        raise ApiError(400, "the last message must come from the user", param="messages")
    question = parsed[-1].text()
    if len(parsed) == 1:
        return question
    transcript = "\n".join(f"{m.role}: {m.text()}" for m in parsed[:-1])
    return f"Conversation so far:\n{transcript}\n\nQuestion: {question}"


def completion_of(name: str, result: AskResult) -> dict[str, Any]:
    """The ask's result as one ``chat.completion``."""
    return {
        "id": f"chatcmpl-{result.run_id}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": result.answer or ""},
                "finish_reason": "stop",
            }
        ],
        "usage": usage_of(result),
        "lmteams": details_of(result),
    }


def usage_of(result: AskResult) -> dict[str, int]:
    return {
        "prompt_tokens": result.prompt_tokens,
        "completion_tokens": result.completion_tokens,
        "total_tokens": result.total_tokens,
    }


def details_of(result: AskResult) -> dict[str, Any]:
    """The extension field: what an OpenAI reply has no place for."""
    return {
        "run_id": result.run_id,
        "consensus": result.consensus,
        "agreement": result.agreement,
        "tie": result.tie,
        "calls": result.calls,
        "nodes": [
            {"node": n.node, "role": n.role, "status": n.status, "answer": n.answer}
            for n in result.nodes
        ],
    }


def all_failed(name: str, result: AskResult) -> ApiError | None:
    """503 when no node answered: there is no answer to give, and a retry may find one."""
    if result.nodes and all(n.status == "failed" for n in result.nodes):
        first = result.nodes[0].error or "failed"
        return ApiError(
            503,
            f"every node of team {name!r} failed (run {result.run_id}); first: {first}",
            type="server_error",
            code="team_failed",
        )
    return None


def sse(data: dict[str, Any] | str) -> bytes:
    payload = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"data: {payload}\n\n".encode()


def chunk_of(name: str, run_id: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{run_id}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def progress_comment(node: str, status: NodeStatus, answer: NodeAnswer | None) -> bytes:
    said = f" {answer.answer}" if answer is not None and answer.answer else ""
    line = f"node {node} {status}{said}".replace("\n", " ").replace("\r", " ")
    return f": {line}\n\n".encode()


class TeamHandler:
    """Serves one or more teams; every request is an ask run in ``store``."""

    def __init__(
        self,
        teams: Sequence[ServedTeam],
        store: EventStore,
        *,
        consensus: str | None = None,
        extractor: str = "auto",
        owns_store: bool = False,
    ) -> None:
        if not teams:
            raise ValueError("serve at least one team")
        self._teams = {t.name: t for t in teams}
        self.store = store
        self.consensus = consensus
        self.extractor = extractor
        self.owns_store = owns_store
        # Each team's embedded models, opened once (loaded by wait_ready or the first ask) and
        # given to every ask, for the server's life; closed with it.
        self._pools = {t.name: BackendPool(t.backends) for t in teams}

    @property
    def models(self) -> Sequence[str]:
        return tuple(self._teams)

    async def wait_ready(self) -> None:
        """Load every embedded model the teams' nodes use, so the first request does not wait."""
        for team in self._teams.values():
            backends = self._pools[team.name].backends_for(team.spec)
            for model_name, backend in backends.items():
                if not team.backends or model_name not in team.backends:
                    await backend.check_ready()

    async def count_prompt_tokens(self, model: str, body: dict[str, Any]) -> int:
        # A team's nodes may run different tokenizers; the byte bound holds for all of them.
        return prompt_token_bound([Message.model_validate(m) for m in body["messages"]])

    def routes(self, front: Front) -> Sequence[BaseRoute]:
        """Every team's A2A agent (card and task API), when the a2a-sdk is installed."""
        if importlib.util.find_spec("a2a") is None:
            log.info(
                "a2a-sdk is not installed: serving no A2A endpoints (pip install lmteams[a2a])"
            )
            return ()
        from lmteams.serve.a2a import a2a_routes  # the a2a-sdk: only when it is there

        return a2a_routes(self, list(self._teams.values()), front)

    async def ask(
        self, model: str, question: str, progress: ProgressCallback | None = None
    ) -> tuple[AskResult, ServedTeam]:
        """One ask run of the team served as ``model``."""
        team = self._teams[model]
        result = await ask(
            team.spec,
            question,
            self.store,
            consensus=self.consensus,
            extractor=self.extractor,
            backends=self._pools[model].backends_for(team.spec),
            on_progress=progress,
        )
        return result, team

    async def complete(self, model: str, body: dict[str, Any]) -> dict[str, Any]:
        result, _ = await self.ask(model, question_of(body["messages"]))
        failed = all_failed(model, result)
        if failed is not None:
            raise failed
        return completion_of(model, result)

    async def open_stream(self, model: str, body: dict[str, Any]) -> AsyncIterator[bytes]:
        question = question_of(body["messages"])  # a bad request fails here, with a status
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return self._stream(model, question, include_usage)

    async def _stream(self, model: str, question: str, include_usage: bool) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        def progress(node: str, status: NodeStatus, answer: NodeAnswer | None) -> None:
            queue.put_nowait(progress_comment(node, status, answer))

        # Owned by this generator, not a TaskGroup: it must outlive each yield, and the
        # finally below cancels it when the client hangs up.
        task = asyncio.ensure_future(self.ask(model, question, progress))
        task.add_done_callback(lambda _: queue.put_nowait(None))
        try:
            yield b": lmteams ask started\n\n"
            while (comment := await queue.get()) is not None:
                yield comment
            try:
                result, _ = task.result()
                failed = all_failed(model, result)
            except LMTeamsError as exc:
                failed = api_error_for(exc)
            if failed is not None:
                yield sse(failed.body())
                return
            run = result.run_id
            yield sse(chunk_of(model, run, {"role": "assistant", "content": ""}, None))
            yield sse(chunk_of(model, run, {"content": result.answer or ""}, None))
            last = chunk_of(model, run, {}, "stop")
            last["lmteams"] = details_of(result)
            yield sse(last)
            if include_usage:
                yield sse(
                    {**chunk_of(model, run, {}, None), "choices": [], "usage": usage_of(result)}
                )
            yield sse("[DONE]")
        finally:
            if not task.done():
                task.cancel()
                await asyncio.wait({task})

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        if self.owns_store:
            self.store.close()
