"""A team behind the front, asked with the official openai client: plain, streamed, nested."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2
import openai
import pytest

from lmteams.config import Defaults, ModelSpec, NodeSpec, TeamSpec
from lmteams.errors import ModelUnavailable
from lmteams.serve.app import build_app
from lmteams.serve.limits import ServeLimits
from lmteams.serve.protocol import ApiError
from lmteams.serve.server import serve
from lmteams.serve.team import ServedTeam, TeamHandler, question_of
from lmteams.state.store import EventStore
from lmteams.testing import ScriptedCall, scripted_team


def arithmetic(call: ScriptedCall) -> str:
    """Two of three nodes are right; the third always says 5."""
    if call.node == "n2":
        return "Answer: 5"
    return "Let me add. Answer: 4" if "2 + 2" in call.prompt else "Answer: unknown"


def team_client(handler: TeamHandler, limits: ServeLimits | None = None) -> openai.AsyncOpenAI:
    app = build_app(handler, limits or ServeLimits())
    http = httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://team")
    return openai.AsyncOpenAI(
        base_url="http://team/v1", api_key="unused", http_client=http, max_retries=0
    )


def handler_for(store: EventStore, script=arithmetic, n: int = 3) -> TeamHandler:
    spec, backends = scripted_team(n, script, name="trio")
    return TeamHandler([ServedTeam("trio", spec, backends)], store)


async def test_the_team_answers_as_one_model_with_summed_usage(store: EventStore) -> None:
    client = team_client(handler_for(store))
    models = await client.models.list()
    reply = await client.chat.completions.create(
        model="trio", messages=[{"role": "user", "content": "What is 2 + 2?"}]
    )
    assert [m.id for m in models.data] == ["trio"]
    assert reply.choices[0].message.content == "4"
    assert reply.model == "trio"
    details = reply.model_extra["lmteams"]
    assert [n["answer"] for n in details["nodes"]] == ["4", "4", "5"]
    assert details["agreement"] == pytest.approx(2 / 3)
    run = store.run(details["run_id"])
    assert run is not None and run.kind == "ask"
    # Usage is the whole team's: the sum over the three node calls the run logged.
    assert reply.usage is not None and reply.usage.completion_tokens > 0
    assert reply.usage.prompt_tokens == run.result["prompt_tokens"]
    assert reply.usage.completion_tokens == run.result["completion_tokens"]
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    await client.close()


async def test_a_streamed_answer_with_progress_comments(store: EventStore) -> None:
    client = team_client(handler_for(store))
    stream = await client.chat.completions.create(
        model="trio",
        messages=[{"role": "user", "content": "What is 2 + 2?"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "4"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    await client.close()


async def test_the_raw_stream_carries_each_nodes_progress(store: EventStore) -> None:
    app = build_app(handler_for(store), ServeLimits())
    body = {"model": "trio", "messages": [{"role": "user", "content": "What is 2 + 2?"}]}
    async with httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=app), base_url="http://team"
    ) as http:
        response = await http.post("/v1/chat/completions", json={**body, "stream": True})
    lines = response.text.splitlines()
    for node, said in (("n0", "4"), ("n1", "4"), ("n2", "5")):
        assert f": node {node} done {said}" in lines
    assert lines.index(": node n0 done 4") < lines.index("data: [DONE]")


async def test_earlier_turns_reach_the_nodes_as_context(store: EventStore) -> None:
    seen: list[str] = []

    def script(call: ScriptedCall) -> str:
        seen.append(call.prompt)
        return "Answer: 4"

    client = team_client(handler_for(store, script, n=1))
    await client.chat.completions.create(
        model="trio",
        messages=[
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "What is 2 + 2?"},
        ],
    )
    assert "system: Be terse." in seen[0] and seen[0].endswith("Question: What is 2 + 2?")
    await client.close()


def test_a_conversation_must_end_with_the_user() -> None:
    with pytest.raises(ApiError, match="last message") as info:
        question_of([{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}])
    assert info.value.status == 400


async def test_the_fronts_rules_hold_for_a_team(store: EventStore) -> None:
    client = team_client(handler_for(store), ServeLimits(max_tokens=64, max_prompt_tokens=100))
    with pytest.raises(openai.NotFoundError):
        await client.chat.completions.create(
            model="gpt-9", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        await client.chat.completions.create(
            model="trio", messages=[{"role": "user", "content": "Hi"}], max_tokens=65
        )
    with pytest.raises(openai.BadRequestError, match="context_length_exceeded|prompt has"):
        await client.chat.completions.create(
            model="trio", messages=[{"role": "user", "content": "word " * 100}]
        )
    with pytest.raises(openai.BadRequestError, match="must not be empty"):
        await client.chat.completions.create(
            model="trio", messages=[{"role": "user", "content": "   "}]
        )
    assert store.runs() == []  # every refusal came before a run was opened
    await client.close()


async def test_a_team_whose_every_node_failed_is_503(store: EventStore) -> None:
    client = team_client(handler_for(store, lambda call: ModelUnavailable("down")))
    with pytest.raises(openai.InternalServerError, match="every node"):
        await client.chat.completions.create(
            model="trio", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
    await client.close()


async def test_a_team_of_teams(store: EventStore, tmp_path: Path) -> None:
    """The outer team's nodes are each the inner team, served over real loopback HTTP."""
    inner = handler_for(store)
    urls: list[str] = []
    stop = asyncio.Event()
    serving = asyncio.create_task(serve(inner, ServeLimits(), on_ready=urls.append, stop=stop))
    for _ in range(1000):
        if urls or serving.done():
            break
        await asyncio.sleep(0.01)
    assert urls, serving
    outer = TeamSpec(
        name="outer",
        models={
            "inner": ModelSpec(
                backend="openai", base_url=urls[0] + "/v1", model="trio", api_key="unused"
            )
        },
        defaults=Defaults(model="inner"),
        nodes=(NodeSpec(name="a", role="solver"), NodeSpec(name="b", role="critic")),
    )
    outer_store = EventStore(tmp_path / "outer.db")
    client = team_client(TeamHandler([ServedTeam("outer", outer)], outer_store))
    try:
        reply = await client.chat.completions.create(
            model="outer", messages=[{"role": "user", "content": "What is 2 + 2?"}]
        )
    finally:
        await client.close()
        stop.set()
        await serving
        outer_store.close()
    assert reply.choices[0].message.content == "4"
    assert [n["answer"] for n in reply.model_extra["lmteams"]["nodes"]] == ["4", "4"]
    # Each outer node's call was one whole inner ask.
    assert len([r for r in store.runs() if r.kind == "ask"]) == 2


async def test_concurrent_requests_are_separate_ask_runs(store: EventStore) -> None:
    client = team_client(handler_for(store))
    replies = await asyncio.gather(
        *(
            client.chat.completions.create(
                model="trio", messages=[{"role": "user", "content": "What is 2 + 2?"}]
            )
            for _ in range(5)
        )
    )
    await client.close()
    assert [r.choices[0].message.content for r in replies] == ["4"] * 5
    run_ids = {r.model_extra["lmteams"]["run_id"] for r in replies}
    assert len(run_ids) == 5
    assert {r.run_id for r in store.runs(kind="ask")} == run_ids
    assert all(r.status == "done" for r in store.runs(kind="ask"))


async def test_the_models_loaded_at_start_are_closed_with_the_handler(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    class Warm:
        async def check_ready(self) -> None:
            events.append("loaded")

        async def aclose(self) -> None:
            events.append("closed")

    monkeypatch.setattr("lmteams.runtime.base.create_backend", lambda kind, options, name: Warm())
    spec = TeamSpec(
        name="t",
        models={"m": ModelSpec(backend="embedded")},
        nodes=[NodeSpec(name="a", model="m")],
    )
    handler = TeamHandler([ServedTeam("t", spec)], store)
    await handler.wait_ready()
    assert events == ["loaded"]  # held for the server's life: its engine stays loaded
    await handler.aclose()
    assert events == ["loaded", "closed"]
