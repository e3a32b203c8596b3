"""The program strategy with scripted coders and the real sandbox."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from lmteams.config import ModelSpec, NodeSpec, TeamSpec
from lmteams.consensus.settings import ConsensusSpec
from lmteams.models.base import ModelBackend
from lmteams.models.scripted import ScriptedCall
from lmteams.sandbox import network_isolation_available
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.strategies.program import coders_of, runnable
from lmteams.testing import scripted_team


def fence(code: str) -> str:
    return f"Here is my program:\n```python\n{code}\n```"


def team(
    replies: dict[str, Callable[[ScriptedCall], str]],
) -> tuple[TeamSpec, dict[str, ModelBackend], list[ScriptedCall]]:
    calls: list[ScriptedCall] = []

    def script(call: ScriptedCall) -> str:
        calls.append(call)
        return replies[call.node or ""](call)

    spec, backends = scripted_team(len(replies), script)
    return spec, backends, calls


def always(text: str) -> Callable[[ScriptedCall], str]:
    return lambda call: text


def fixed_after_feedback(call: ScriptedCall) -> str:
    if "Your program failed" in call.prompt:
        return fence("print(6 * 7)")
    return fence("print(6 * 7 / 0)")


async def test_printed_results_are_votes_and_a_failing_program_is_no_answer(
    store: EventStore,
) -> None:
    spec, backends, calls = team(
        {
            "n0": always(fence("x = 6 * 7\nprint('working')\nprint(x)")),
            "n1": always(fence("6 * 7")),  # a bare last expression is printed
            "n2": always(fence("raise SystemExit(3)")),
        }
    )
    result = await ask(
        spec,
        "What is 6 x 7?",
        store,
        backends=backends,
        consensus="program",
        options={"program_retries": 0},
    )
    assert result.answer == "42" and result.consensus == "program"
    assert result.decided_by.startswith("program: ")
    assert [n.status for n in result.nodes] == ["done", "done", "failed"]
    assert result.nodes[2].answer is None and "exit code 3" in (result.nodes[2].error or "")
    assert result.valid_votes == 2 and result.calls == 3
    assert "Python program" in calls[0].prompt and "What is 6 x 7?" in calls[0].prompt
    runs = store.events(result.run_id, types=["program_run"])
    by_node = {e.node: e.data for e in runs}
    assert by_node["n0"]["program"].endswith("print(x)") and by_node["n0"]["vote"] == "42"
    assert by_node["n0"]["stdout"] == "working\n42" and by_node["n0"]["ok"]
    assert by_node["n1"]["program"] == "print(6 * 7)"
    assert not by_node["n2"]["ok"] and by_node["n2"]["returncode"] == 3


async def test_a_failed_program_is_sent_back_to_be_fixed(store: EventStore) -> None:
    replies = {"n0": fixed_after_feedback, "n1": always(fence("print(41)"))}
    spec, backends, calls = team(replies)
    fixed = await ask(spec, "q", store, backends=backends, consensus="program")
    assert [n.answer for n in fixed.nodes] == ["42", "41"]
    assert fixed.detail["attempts"] == {"n0": 2, "n1": 1} and fixed.calls == 3
    retry = next(c for c in calls if "Your program failed" in c.prompt)
    assert "ZeroDivisionError" in retry.prompt
    assert [m.role for m in retry.messages if m.role != "system"] == ["user", "assistant", "user"]
    spec, backends, _ = team(replies)
    once = await ask(
        spec, "q", store, backends=backends, consensus="program", options={"program_retries": 0}
    )
    assert once.nodes[0].status == "failed" and once.answer == "41" and once.calls == 2
    assert "ZeroDivisionError" in (once.nodes[0].error or "")


async def test_no_code_block_and_no_output_are_failed_votes(store: EventStore) -> None:
    spec, backends, _ = team(
        {
            "n0": always("The answer is 42."),
            "n1": always(fence("x = 42")),
            "n2": always(fence("print('')")),
        }
    )
    result = await ask(
        spec, "q", store, backends=backends, consensus="program", options={"program_retries": 0}
    )
    assert result.answer is None and result.decided_by == "no program printed an answer"
    errors = [n.error or "" for n in result.nodes]
    assert "no Python code block" in errors[0]
    assert "printed nothing" in errors[1] and "printed nothing" in errors[2]


async def test_the_time_limit_stops_a_program(store: EventStore) -> None:
    spec, backends, _ = team({"n0": always(fence("while True:\n    pass"))})
    result = await ask(
        spec,
        "q",
        store,
        backends=backends,
        consensus="program",
        options={"program_retries": 0, "run_time_limit_s": 0.5},
    )
    assert result.answer is None and "timed out after 0.5 s" in (result.nodes[0].error or "")
    (run,) = store.events(result.run_id, types=["program_run"])
    assert run.data["timed_out"] is True


@pytest.mark.skipif(not network_isolation_available(), reason="no network namespaces here")
async def test_programs_cannot_reach_the_network(store: EventStore) -> None:
    with socket.socket() as server:  # reachable from this process, not from the sandbox
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        code = (
            "import socket\n"
            "try:\n"
            f"    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
            "    print('connected')\n"
            "except OSError:\n"
            "    print('isolated')"
        )
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        spec, backends, _ = team({"n0": always(fence(code))})
        result = await ask(spec, "q", store, backends=backends, consensus="program")
    assert result.answer == "isolated"


async def test_only_the_coders_write_programs(store: EventStore) -> None:
    spec, backends, calls = team({"n0": always(fence("print(1)")), "n1": always(fence("print(2)"))})
    result = await ask(
        spec, "q", store, backends=backends, consensus="program", options={"coders": ["n1"]}
    )
    assert result.answer == "2" and {c.node for c in calls} == {"n1"}


def test_who_codes_by_default() -> None:
    spec, _ = scripted_team(3, roles=["planner", "coder", "reviewer"])
    assert coders_of(spec, ConsensusSpec()) == ["n1"]
    assert coders_of(spec, ConsensusSpec(coders=("n0", "n2"))) == ["n0", "n2"]
    skilled = spec.model_copy(
        update={"nodes": (*spec.nodes, NodeSpec(name="py", skills=("Python",)))}
    )
    assert coders_of(skilled, ConsensusSpec()) == ["n1", "py"]
    plain, _ = scripted_team(2)
    tools = plain.model_copy(
        update={
            "models": {**plain.models, "calc": ModelSpec(backend="python")},
            "nodes": (*plain.nodes, NodeSpec(name="calc", model="calc", skills=("python",))),
        }
    )
    assert coders_of(tools, ConsensusSpec()) == ["n0", "n1"]  # a tool node writes no code


def test_runnable_prints_the_last_expression() -> None:
    assert runnable("x = 2\nx * 3") == "x = 2\nprint(x * 3)"
    assert runnable("print(1)") == "print(1)"
    assert runnable("def (:") == "def (:"  # left for the sandbox to report
