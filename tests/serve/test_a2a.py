"""A served team as an A2A agent, driven by the a2a-sdk's own client over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence

import httpx
import pytest
from a2a.client import A2ACardResolver, A2AClientError, Client, ClientConfig, create_client
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError
from a2a.utils.proto_utils import warn_on_missing_required_fields
from google.protobuf.json_format import MessageToDict
from pydantic import SecretStr

from lmteams.errors import ModelUnavailable
from lmteams.models.base import ChatMessage, Completion, Sampling
from lmteams.models.scripted import ScriptedBackend
from lmteams.resume import resume_run
from lmteams.serve.limits import ServeLimits
from lmteams.serve.server import serve
from lmteams.serve.team import ServedTeam, TeamHandler
from lmteams.state.store import EventStore
from lmteams.testing import ScriptedCall, scripted_team


def arithmetic(call: ScriptedCall) -> str:
    """Two of three nodes are right; the third always says 5."""
    if call.node == "n2":
        return "Answer: 5"
    return "Let me add. Answer: 4" if "2 + 2" in call.prompt else "Answer: unknown"


def handler_for(store: EventStore, script=arithmetic) -> TeamHandler:
    spec, backends = scripted_team(
        3, script, roles=("solver", "solver", "critic"), skills=("arithmetic",), name="trio"
    )
    return TeamHandler([ServedTeam("trio", spec, backends)], store)


@pytest.fixture
async def served(store: EventStore) -> AsyncIterator[str]:
    async with serving(handler_for(store)) as url:
        yield url


class serving:
    """``serve`` on a free loopback port for the block; the base URL is the value."""

    def __init__(
        self, handler: TeamHandler, limits: ServeLimits | None = None, key: str | None = None
    ) -> None:
        self.handler, self.limits, self.key = handler, limits or ServeLimits(), key
        self.stop = asyncio.Event()

    async def __aenter__(self) -> str:
        urls: list[str] = []
        self.task = asyncio.create_task(
            serve(
                self.handler,
                self.limits,
                api_key=SecretStr(self.key) if self.key else None,
                on_ready=urls.append,
                stop=self.stop,
            )
        )
        for _ in range(2000):
            if urls or self.task.done():
                break
            await asyncio.sleep(0.01)
        assert urls, self.task
        return urls[0]

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await self.task


def question(text: str) -> SendMessageRequest:
    return SendMessageRequest(
        message=Message(role=Role.ROLE_USER, message_id="m-1", parts=[Part(text=text)])
    )


@contextlib.asynccontextmanager
async def a2a_client(
    url: str, *, streaming: bool = False, headers: dict[str, str] | None = None
) -> AsyncIterator[Client]:
    """The SDK's client for the agent at ``url``."""
    async with httpx.AsyncClient(trust_env=False, timeout=30.0, headers=headers or {}) as http:
        client = await create_client(url, ClientConfig(streaming=streaming, httpx_client=http))
        try:
            yield client
        finally:
            await client.close()


async def test_the_agent_card_describes_the_team(served: str) -> None:
    async with httpx.AsyncClient(trust_env=False) as http:
        raw = (await http.get(served + "/.well-known/agent-card.json")).json()
        card: AgentCard = await A2ACardResolver(http, served).get_agent_card()
    assert warn_on_missing_required_fields(card, "test")  # every field the spec requires
    assert card.name == "trio"
    assert card.supported_interfaces[0].url == served + "/a2a"
    assert card.supported_interfaces[0].protocol_version == "1.0"
    assert card.capabilities.streaming
    skills = {s.id: s for s in card.skills}
    assert set(skills) == {"ask", "role-solver", "role-critic"}
    assert "n0" in skills["role-solver"].description and "n1" in skills["role-solver"].description
    assert "arithmetic" in skills["role-critic"].tags
    assert "majority" in skills["ask"].tags
    assert raw["name"] == "trio" and not card.security_requirements


async def test_a_message_is_a_task_that_is_an_ask_run(served: str, store: EventStore) -> None:
    async with a2a_client(served) as client:
        [reply] = [r async for r in client.send_message(question("What is 2 + 2?"))]
        task = reply.task
        again = await client.get_task(GetTaskRequest(id=task.id))
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert [p.text for p in task.artifacts[0].parts] == ["4"]
    details = MessageToDict(task.artifacts[0].metadata)["lmteams"]
    assert [n["answer"] for n in details["nodes"]] == ["4", "4", "5"]
    run = store.run(details["run_id"])
    assert run is not None and run.kind == "ask" and run.status == "done"
    assert again.id == task.id and again.status.state == TaskState.TASK_STATE_COMPLETED


async def test_every_served_team_is_an_agent_of_its_own(store: EventStore) -> None:
    trio, backends = scripted_team(3, arithmetic, name="trio")
    duo, duo_backends = scripted_team(2, lambda call: "Answer: 7", name="duo")
    handler = TeamHandler(
        [ServedTeam("trio", trio, backends), ServedTeam("duo", duo, duo_backends)], store
    )
    async with serving(handler) as url:
        async with httpx.AsyncClient(trust_env=False) as http:
            root = await A2ACardResolver(http, url).get_agent_card()
            named = {
                name: await A2ACardResolver(http, f"{url}/a2a/{name}").get_agent_card()
                for name in ("trio", "duo")
            }
            no_card = await http.get(url + "/a2a/solo/.well-known/agent-card.json")
            no_agent = await http.post(url + "/a2a/solo", json={"jsonrpc": "2.0", "id": 1})
        async with a2a_client(f"{url}/a2a/duo") as client:
            [reply] = [r async for r in client.send_message(question("What is 2 + 2?"))]
            again = await client.get_task(GetTaskRequest(id=reply.task.id))
        async with a2a_client(url) as client:  # the server's own card: the first team
            [first] = [r async for r in client.send_message(question("What is 2 + 2?"))]
    assert root.name == "trio" and root.supported_interfaces[0].url == url + "/a2a"
    for name, card in named.items():
        assert card.name == name and card.supported_interfaces[0].url == f"{url}/a2a/{name}"
    assert no_card.status_code == 404 and "served: duo, trio" in no_card.json()["error"]
    assert no_agent.status_code == 404 and "no team 'solo'" in no_agent.json()["error"]["message"]
    assert [p.text for p in reply.task.artifacts[0].parts] == ["7"]
    assert again.status.state == TaskState.TASK_STATE_COMPLETED
    assert [p.text for p in first.task.artifacts[0].parts] == ["4"]
    details = MessageToDict(reply.task.artifacts[0].metadata)["lmteams"]
    run = store.run(details["run_id"])
    assert run is not None and run.team == "duo" and run.kind == "ask"


async def test_a_streamed_task_reports_each_node(served: str) -> None:
    async with a2a_client(served, streaming=True) as client:
        events: list[StreamResponse] = [
            e async for e in client.send_message(question("What is 2 + 2?"))
        ]
    updates = [e.status_update for e in events if e.HasField("status_update")]
    said = [p.text for u in updates for p in u.status.message.parts]
    for node, answer in (("n0", "4"), ("n1", "4"), ("n2", "5")):
        assert f"node {node} done {answer}" in said
    assert updates[-1].status.state == TaskState.TASK_STATE_COMPLETED
    artifacts = [e.artifact_update.artifact for e in events if e.HasField("artifact_update")]
    assert [p.text for a in artifacts for p in a.parts] == ["4"]


async def test_a_message_without_text_gets_the_a2a_error(served: str, store: EventStore) -> None:
    async with a2a_client(served) as client:
        with pytest.raises(InvalidParamsError, match="no text part"):
            _ = [r async for r in client.send_message(question("   "))]
    assert store.runs() == []  # refused before any run was opened


async def test_a_too_long_question_gets_the_a2a_error(store: EventStore) -> None:
    limits = ServeLimits(max_prompt_tokens=100)
    async with serving(handler_for(store), limits) as url, a2a_client(url) as client:
        with pytest.raises(InvalidParamsError, match="above this server's limit"):
            _ = [r async for r in client.send_message(question("word " * 100))]
    assert store.runs() == []


async def test_a_team_whose_every_node_failed_is_a_failed_task(store: EventStore) -> None:
    handler = handler_for(store, lambda call: ModelUnavailable("down"))
    async with serving(handler) as url, a2a_client(url) as client:
        [reply] = [r async for r in client.send_message(question("What is 2 + 2?"))]
    assert reply.task.status.state == TaskState.TASK_STATE_FAILED
    assert "every node" in reply.task.status.message.parts[0].text


async def test_the_key_guards_the_task_api_as_it_guards_v1(store: EventStore) -> None:
    async with serving(handler_for(store), key="s3cret") as url:
        async with a2a_client(url) as client:
            with pytest.raises(A2AClientError, match="401"):
                _ = [r async for r in client.send_message(question("What is 2 + 2?"))]
        async with httpx.AsyncClient(trust_env=False) as plain:
            card = await A2ACardResolver(plain, url).get_agent_card()  # the card stays public
        assert "bearer" in card.security_schemes and card.security_requirements
        keyed = {"Authorization": "Bearer s3cret"}
        async with a2a_client(url, headers=keyed) as client:
            [reply] = [r async for r in client.send_message(question("What is 2 + 2?"))]
    assert reply.task.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_bad_body_gets_a_jsonrpc_error(store: EventStore) -> None:
    async with (
        serving(handler_for(store), ServeLimits(max_body_bytes=1024)) as url,
        httpx.AsyncClient(trust_env=False) as http,
    ):
        garbled = await http.post(url + "/a2a", content=b"not json")
        large = await http.post(url + "/a2a", content=b"x" * 2048)
    assert garbled.status_code == 200 and garbled.json()["error"]["code"] == -32700
    assert large.status_code == 413 and "1024 bytes" in large.json()["error"]["message"]


class Held(ScriptedBackend):
    """A scripted model whose calls wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__(lambda call: "Answer: 4")
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        self.started.set()
        await self.release.wait()
        return await super().complete(messages, sampling)


async def test_the_gate_is_shared_with_the_openai_endpoints(store: EventStore) -> None:
    held = Held()
    spec, _ = scripted_team(1, lambda call: "Answer: 4", name="trio")
    handler = TeamHandler([ServedTeam("trio", spec, dict.fromkeys(spec.models, held))], store)
    started, release = held.started, held.release
    async with (
        serving(handler, ServeLimits(max_concurrent=1)) as url,
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
    ):
        busy = asyncio.create_task(
            http.post(
                url + "/v1/chat/completions",
                json={"model": "trio", "messages": [{"role": "user", "content": "2 + 2?"}]},
            )
        )
        await started.wait()
        refused = await http.post(
            url + "/a2a",
            json={
                "jsonrpc": "2.0",
                "id": 7,
                "method": "SendMessage",
                "params": {
                    "message": {
                        "role": "ROLE_USER",
                        "messageId": "m-2",
                        "parts": [{"text": "What is 2 + 2?"}],
                    }
                },
            },
            headers={"A2A-Version": "1.0"},
        )
        release.set()
        assert (await busy).status_code == 200
    assert refused.status_code == 429
    assert refused.json()["id"] == 7 and "concurrent" in refused.json()["error"]["message"]


async def test_a_running_task_holds_its_slot_of_the_gate(store: EventStore) -> None:
    held = Held()
    spec, _ = scripted_team(1, lambda call: "Answer: 4", name="trio")
    handler = TeamHandler([ServedTeam("trio", spec, dict.fromkeys(spec.models, held))], store)
    async with (
        serving(handler, ServeLimits(max_concurrent=1)) as url,
        a2a_client(url) as client,
        httpx.AsyncClient(trust_env=False, timeout=30.0) as http,
    ):
        busy = asyncio.create_task(anext(client.send_message(question("What is 2 + 2?"))))
        await held.started.wait()
        refused = await http.post(
            url + "/v1/chat/completions",
            json={"model": "trio", "messages": [{"role": "user", "content": "2 + 2?"}]},
        )
        held.release.set()
        reply = await busy
    assert refused.status_code == 429
    assert reply.task.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_cancelled_task_is_a_cancelled_ask_that_resumes(store: EventStore) -> None:
    held = Held()
    spec, _ = scripted_team(1, lambda call: "Answer: 4", name="trio")
    handler = TeamHandler([ServedTeam("trio", spec, dict.fromkeys(spec.models, held))], store)
    async with serving(handler) as url, a2a_client(url, streaming=True) as client:
        events = client.send_message(question("What is 2 + 2?"))
        first = await anext(events)
        await held.started.wait()
        cancelled = await client.cancel_task(CancelTaskRequest(id=first.task.id))
        await events.aclose()
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    [run] = store.runs(kind="ask")
    assert run.status == "cancelled"
    held.release.set()
    outcome = await resume_run(store, run.run_id, backends=dict.fromkeys(spec.models, held))
    assert outcome.status == "done" and outcome.result is not None
    assert outcome.result["answer"] == "4"
