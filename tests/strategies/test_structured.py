"""consensus answer_format: json, through `ask` (scripted nodes) and on the real Qwen 0.5B."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lmteams.config import parse_team
from lmteams.consensus.settings import ConsensusSpec
from lmteams.models import scripted
from lmteams.models.scripted import ScriptedCall
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.testing import scripted_team
from tests.cli.test_cli import assert_clean_error, lmteams

JSON = ConsensusSpec(answer_format="json")
NUMBER = {
    "type": "object",
    "properties": {"answer": {"type": "number"}},
    "required": ["answer"],
    "additionalProperties": False,
}


def recording(calls: list[ScriptedCall]) -> scripted.Script:
    def script(call: ScriptedCall) -> str:
        calls.append(call)
        # n2 ignores the format: its reply is read by the text rules
        return "I think it is 4. Answer: 4" if call.node == "n2" else '{"answer": 4}'

    return script


@pytest.mark.parametrize("strategy", ["majority", "weighted", "adaptive"])
async def test_the_schema_reaches_a_backend_that_can_constrain(
    store: EventStore, monkeypatch: pytest.MonkeyPatch, strategy: str
) -> None:
    monkeypatch.setattr(scripted.ScriptedBackend, "can_json_schema", True)
    calls: list[ScriptedCall] = []
    spec, backends = scripted_team(3, recording(calls))
    result = await ask(
        spec, "What is 2 + 2?", store, consensus=strategy, options=JSON, backends=backends
    )
    assert result.answer == "4"
    answered = {n.node: n.answer for n in result.nodes if n.status == "done"}
    assert len(answered) >= 2 and set(answered.values()) == {"4"}  # adaptive may stop at 2
    assert calls and all(c.sampling.json_schema == NUMBER for c in calls)
    assert all(c.prompt.endswith('Reply with JSON only: {"answer": <the number>}') for c in calls)
    run = store.run(result.run_id)
    assert run.params["options"]["answer_format"] == "json"  # a resumed ask asks the same way


async def test_the_greedy_baseline_is_asked_the_same_way(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scripted.ScriptedBackend, "can_json_schema", True)
    calls: list[ScriptedCall] = []
    spec, backends = scripted_team(3, recording(calls))
    result = await ask(
        spec, "What is 2 + 2?", store, consensus="greedy", options=JSON, backends=backends
    )
    assert result.answer == "4" and len(calls) == 1
    assert calls[0].sampling.json_schema == NUMBER and calls[0].sampling.temperature == 0.0
    assert not calls[0].sampling.logprobs  # as before: greedy asks no logprobs


async def test_a_backend_that_cannot_constrain_gets_the_prompt_only(store: EventStore) -> None:
    calls: list[ScriptedCall] = []
    spec, backends = scripted_team(3, recording(calls))
    result = await ask(spec, "What is 2 + 2?", store, options=JSON, backends=backends)
    assert result.answer == "4" and result.agreement == 1.0  # n2's text reply read as 4 too
    assert len(calls) == 3 and all(c.sampling.json_schema is None for c in calls)
    assert all("Reply with JSON only" in c.prompt for c in calls)


async def test_text_answers_are_asked_as_before(store: EventStore) -> None:
    calls: list[ScriptedCall] = []
    spec, backends = scripted_team(2, recording(calls))
    await ask(spec, "What is 2 + 2?", store, backends=backends)
    assert [c.prompt for c in calls] == ["What is 2 + 2?"] * 2
    assert all(c.sampling.json_schema is None for c in calls)


async def test_the_teams_own_schema_is_sent(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scripted.ScriptedBackend, "can_json_schema", True)
    own = {"type": "object", "properties": {"answer": {"type": "integer", "minimum": 0}}}
    calls: list[ScriptedCall] = []
    spec, backends = scripted_team(2, recording(calls))
    options = ConsensusSpec(answer_format="json", answer_schema=own)
    result = await ask(spec, "What is 2 + 2?", store, options=options, backends=backends)
    assert result.answer == "4" and [c.sampling.json_schema for c in calls] == [own, own]


def test_a_bad_answer_schema_is_one_line(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(
        "models: {m: {backend: scripted}}\n"
        "nodes: [{name: a}]\n"
        "consensus: {answer_format: json, answer_schema: {type: array}}\n"
    )
    proc = lmteams("ask", "What is 2 + 2?", "--team", str(team), cwd=tmp_path)
    assert_clean_error(proc, "team.yaml: consensus.answer_schema: must be an object schema")
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1


QWEN_TEAM = """
name: qwen-structured
models:
  qwen: {backend: embedded, model: qwen2.5-coder-0.5b, n_parallel: 1, ctx_per_slot: 1024}
defaults: {model: qwen, max_tokens: 32, temperature: 0.0}
nodes: [{name: solver}]
consensus: {answer_format: json}
"""


@pytest.mark.model
async def test_qwen_answers_in_the_schema(store: EventStore) -> None:
    spec = parse_team(yaml.safe_load(QWEN_TEAM), source="qwen team")
    result = await ask(spec, "What is 17 + 25?", store)
    [node] = result.nodes
    assert node.reply is not None and node.reply.lstrip().startswith("{"), node.reply
    assert result.answer == "42", node.reply
