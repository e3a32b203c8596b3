"""A served team as an A2A (v1.0) agent, beside its OpenAI endpoints (``serve-team``).

Each served team's Agent Card, at ``/a2a/NAME/.well-known/agent-card.json`` (the first team's
also at ``/.well-known/agent-card.json``), describes it: one skill, asking the whole team, then
one per role naming the nodes that play it, their models and skills. The A2A task API is
JSON-RPC at ``/a2a/NAME`` (the first team's also at ``/a2a``), served by the a2a-sdk's own
request handler: each task
is one ask run with the team's consensus strategy, logged as any ask (``lmteams show RUN``,
``lmteams resume RUN``). While the team works, each node's progress is a ``working`` status
update; the finished task's artifact is the decided answer, its metadata (``lmteams``) the
run id, the agreement and each node's answer.

The front's rules hold here too: the bearer key, the body cap and its timeout, the prompt
bound, and the concurrency gate shared with the OpenAI endpoints. A request the front
refuses gets a JSON-RPC error body under the HTTP status the OpenAI endpoints would give.
Tasks live in this server's memory; their ask runs live in the event store.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
from a2a.helpers.proto_helpers import new_task_from_user_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.jsonrpc_models import JSONParseError, JSONRPCError
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.request_handlers.response_helpers import agent_card_to_dict, build_error_response
from a2a.server.routes import create_jsonrpc_routes
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    HTTPAuthSecurityScheme,
    Part,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, PROTOCOL_VERSION_1_0
from a2a.utils.errors import A2AError, InvalidParamsError, InvalidRequestError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import Message as AsgiMessage

from lmteams import __version__
from lmteams.config import NodeSpec
from lmteams.errors import LMTeamsError
from lmteams.serve.app import Front, api_error_for, read_body
from lmteams.serve.limits import check_prompt_tokens, prompt_token_bound
from lmteams.serve.protocol import ApiError, Message
from lmteams.serve.team import ServedTeam, TeamHandler, all_failed, details_of
from lmteams.strategies.result import AskResult, NodeAnswer, NodeStatus

A2A_PATH = "/a2a"
# The methods that start a task: the front checks their message before the SDK sees it.
SENDING = frozenset({"SendMessage", "SendStreamingMessage"})


def agent_card(
    team: ServedTeam, base_url: str, *, secured: bool, path: str = A2A_PATH
) -> AgentCard:
    """The team's Agent Card, its JSON-RPC interface at ``path`` under ``base_url``."""
    spec = team.spec
    strategy = spec.consensus.strategy
    by_role: dict[str, list[NodeSpec]] = {}
    for node in spec.nodes:
        by_role.setdefault(node.role, []).append(node)
    every_skill = sorted({s for node in spec.nodes for s in node.skills})
    skills = [
        AgentSkill(
            id="ask",
            name=f"Ask team {team.name}",
            description=(
                f"Every node of the team answers the question; the {strategy} strategy "
                "decides one answer. The task's artifact is that answer, its metadata the "
                "lmteams run id, the agreement and each node's answer."
            ),
            tags=["team", strategy, *sorted(by_role), *every_skill],
            examples=["What is 2 + 2?"],
        )
    ]
    for role, nodes in by_role.items():
        members = ", ".join(f"{n.name} ({spec.model_of(n)})" for n in nodes)
        role_skills = sorted({s for n in nodes for s in n.skills})
        said = f"; skills: {', '.join(role_skills)}" if role_skills else ""
        skills.append(
            AgentSkill(
                id=f"role-{role}",
                name=role,
                description=f"The {role} role of the team, played by {members}{said}.",
                tags=[role, *role_skills],
            )
        )
    description = spec.description or (
        f"A team of {len(spec.nodes)} language-model nodes "
        f"({', '.join(sorted(by_role))}) answering as one by {strategy}."
    )
    card = AgentCard(
        name=team.name,
        description=description,
        supported_interfaces=[
            AgentInterface(
                url=base_url + path,
                protocol_binding="JSONRPC",
                protocol_version=PROTOCOL_VERSION_1_0,
            )
        ],
        provider=AgentProvider(organization="lmteams", url="https://github.com/lmteams/lmteams"),
        version=__version__,
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=skills,
    )
    if secured:
        card.security_schemes["bearer"].CopyFrom(
            SecurityScheme(http_auth_security_scheme=HTTPAuthSecurityScheme(scheme="Bearer"))
        )
        card.security_requirements.append(SecurityRequirement(schemes={"bearer": StringList()}))
    return card


def _progress_text(node: str, status: NodeStatus, answer: NodeAnswer | None) -> str:
    said = f" {answer.answer}" if answer is not None and answer.answer else ""
    return f"node {node} {status}{said}"


class AskExecutor(AgentExecutor):
    """Runs each A2A task as one ask of ``team``, holding a slot of the front's gate."""

    def __init__(self, handler: TeamHandler, team: str, front: Front) -> None:
        self._handler = handler
        self._team = team
        self._front = front

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        """Cancelled by the SDK when the client cancels the task (the ask run then reads
        interrupted, and ``lmteams resume`` finishes it); no timeout beyond the team's own."""
        message = context.message
        if message is None:  # the SDK calls execute only for a message
            raise InvalidParamsError(message="params.message: a message is required")
        task = context.current_task
        if task is None:
            task = new_task_from_user_message(message)
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        gate = self._front.gate
        refused = gate.full()
        if refused is not None:  # another request took the last slot after the front's check
            await updater.reject(updater.new_agent_message([Part(text=refused.message)]))
            return
        gate.enter()
        try:
            outcome = await self._ask(context.get_user_input(), updater)
        finally:
            gate.leave()
        if isinstance(outcome, LMTeamsError):
            text = api_error_for(outcome).message
            await updater.failed(updater.new_agent_message([Part(text=text)]))
            return
        failed = all_failed(self._team, outcome)
        if failed is not None:
            await updater.failed(
                updater.new_agent_message(
                    [Part(text=failed.message)], metadata={"lmteams": details_of(outcome)}
                )
            )
            return
        answer = outcome.answer or ""
        details = {"lmteams": details_of(outcome)}
        await updater.add_artifact([Part(text=answer)], name="answer", metadata=details)
        await updater.complete(updater.new_agent_message([Part(text=answer)], metadata=details))

    async def _ask(self, question: str, updater: TaskUpdater) -> AskResult | LMTeamsError:
        """The ask's result or its error; each node's progress sent as a status update."""
        queue: asyncio.Queue[tuple[str, NodeStatus, NodeAnswer | None] | None] = asyncio.Queue()

        def progress(node: str, status: NodeStatus, answer: NodeAnswer | None) -> None:
            queue.put_nowait((node, status, answer))

        async def forward() -> None:
            while (item := await queue.get()) is not None:
                node, status, answer = item
                await updater.start_work(
                    updater.new_agent_message(
                        [Part(text=_progress_text(node, status, answer))],
                        metadata={"node": node, "status": status},
                    )
                )

        async def run() -> AskResult | LMTeamsError:
            try:
                result, _ = await self._handler.ask(self._team, question, progress)
                return result
            except LMTeamsError as exc:
                return exc
            finally:
                queue.put_nowait(None)

        await updater.start_work()
        async with asyncio.TaskGroup() as group:
            group.create_task(forward())
            outcome = await run()
        return outcome

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        task_id, context_id = context.task_id, context.context_id
        if task_id is None or context_id is None:
            raise InvalidParamsError(message="params.id: the task to cancel is required")
        await TaskUpdater(event_queue, task_id, context_id).cancel()


def rpc_error(
    request_id: Any, error: A2AError | JSONRPCError, status: int = 200, **headers: str
) -> Response:
    return JSONResponse(
        build_error_response(request_id, error), status_code=status, headers=headers
    )


def _request_id(body: Any) -> str | int | None:
    rid = body.get("id") if isinstance(body, dict) else None
    return rid if isinstance(rid, str | int) and not isinstance(rid, bool) else None


def check_message(params: Any, front: Front) -> None:
    """A message to the team needs a text question within the prompt bound.

    Raises :class:`InvalidParamsError` naming the field; nothing has reached the team yet.
    """
    message = params.get("message") if isinstance(params, dict) else None
    if not isinstance(message, dict):
        raise InvalidParamsError(message="params.message: a message is required")
    parts = message.get("parts")
    if not isinstance(parts, list) or not parts:
        raise InvalidParamsError(message="params.message.parts: at least one part is required")
    texts = [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    if not any(t.strip() for t in texts):
        raise InvalidParamsError(
            message="params.message.parts: no text part: a team answers a text question"
        )
    try:
        bound = prompt_token_bound([Message(role="user", content="\n".join(texts))])
        if bound > front.limits.max_prompt_tokens:
            check_prompt_tokens(bound, front.limits)
    except ApiError as exc:
        raise InvalidParamsError(message=f"params.message: {exc.message}") from None


class _Agent:
    """One team's A2A agent: its card and its JSON-RPC endpoint at ``path``."""

    def __init__(
        self,
        handler: TeamHandler,
        team: ServedTeam,
        front: Front,
        path: str,
        tasks: InMemoryTaskStore,
    ) -> None:
        self.team, self.front, self.path = team, front, path
        request_handler = DefaultRequestHandler(
            agent_executor=AskExecutor(handler, team.name, front),
            task_store=tasks,
            agent_card=self.card_for("http://localhost"),
        )
        (rpc,) = create_jsonrpc_routes(request_handler, path)
        assert isinstance(rpc, Route)
        self._dispatch = rpc.endpoint

    def card_for(self, base_url: str) -> AgentCard:
        return agent_card(self.team, base_url, secured=self.front.has_key, path=self.path)

    async def card(self, request: Request) -> Response:
        base = str(request.base_url).rstrip("/")
        return JSONResponse(agent_card_to_dict(self.card_for(base)))

    async def rpc(self, request: Request) -> Response:
        front = self.front
        try:
            front.authorize(request)
            limits = front.limits
            raw = await read_body(request, limits.max_body_bytes, limits.body_timeout_s)
        except ApiError as exc:
            return rpc_error(
                None, InvalidRequestError(message=exc.message), exc.status, **exc.headers
            )
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return rpc_error(None, JSONParseError(message=f"the body is not valid JSON: {exc}"))
        if isinstance(body, dict) and body.get("method") in SENDING:
            try:
                check_message(body.get("params"), front)
            except A2AError as exc:
                return rpc_error(_request_id(body), exc)
            refused = front.gate.full()
            if refused is not None:
                return rpc_error(
                    _request_id(body),
                    InvalidRequestError(message=refused.message),
                    refused.status,
                    **refused.headers,
                )
        replayed = False

        async def receive() -> AsgiMessage:
            # The SDK reads the body again; later reads wait on the client (a disconnect).
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await request.receive()

        response: Response = await self._dispatch(Request(request.scope, receive))
        return response


def a2a_routes(
    handler: TeamHandler, teams: Sequence[ServedTeam], front: Front
) -> Sequence[BaseRoute]:
    """Every served team as an A2A agent behind ``front``'s rules: team NAME's card at
    ``/a2a/NAME/.well-known/agent-card.json``, its JSON-RPC endpoint at ``/a2a/NAME``; the first
    team also at the server's root card and at ``/a2a`` (the agent a client finds by the
    server's address alone)."""
    first_tasks = InMemoryTaskStore()  # the first team's tasks, under both of its paths
    agents = {
        t.name: _Agent(
            handler,
            t,
            front,
            f"{A2A_PATH}/{t.name}",
            first_tasks if i == 0 else InMemoryTaskStore(),
        )
        for i, t in enumerate(teams)
    }
    default = _Agent(handler, teams[0], front, A2A_PATH, first_tasks)

    def agent_of(request: Request) -> _Agent | None:
        return agents.get(request.path_params["team"])

    async def card(request: Request) -> Response:
        agent = agent_of(request)
        if agent is None:
            return JSONResponse({"error": _unknown(request, agents)}, status_code=404)
        return await agent.card(request)

    async def rpc(request: Request) -> Response:
        agent = agent_of(request)
        if agent is None:
            return rpc_error(
                None, InvalidRequestError(message=_unknown(request, agents)), status=404
            )
        return await agent.rpc(request)

    return [
        Route(AGENT_CARD_WELL_KNOWN_PATH, default.card, methods=["GET"]),
        Route(A2A_PATH, default.rpc, methods=["POST"]),
        Route(f"{A2A_PATH}/{{team}}{AGENT_CARD_WELL_KNOWN_PATH}", card, methods=["GET"]),
        Route(f"{A2A_PATH}/{{team}}", rpc, methods=["POST"]),
    ]


def _unknown(request: Request, agents: dict[str, _Agent]) -> str:
    return (
        f"no team {request.path_params['team']!r} is served here; "
        f"served: {', '.join(sorted(agents))}"
    )
