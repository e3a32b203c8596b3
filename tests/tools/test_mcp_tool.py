"""The ``mcp`` backend against a tiny MCP server of the tests' own, over stdio and loopback HTTP."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from lmteams.config import parse_team
from lmteams.errors import ConfigError, ModelTimeout, ModelUnavailable
from lmteams.models.base import ChatMessage, Sampling
from lmteams.models.registry import validate_options
from lmteams.state.store import EventStore
from lmteams.strategies.ask import ask
from lmteams.tools.mcp_tool import (
    McpToolBackend,
    McpToolOptions,
    fill_template,
    sole_argument,
    tool_input,
)

SERVER = str(Path(__file__).with_name("mcp_fixture_server.py"))


def stdio(**options: Any) -> dict[str, Any]:
    return {"backend": "mcp", "command": sys.executable, "args": [SERVER], **options}


def backend(**options: Any) -> McpToolBackend:
    raw = {k: v for k, v in stdio(**options).items() if k != "backend"}
    return McpToolBackend(McpToolOptions.model_validate(raw), name="tool")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def http_url() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, SERVER, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("the fixture MCP server did not start")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        process.wait(10)


def team(tool_model: dict[str, Any], **sections: Any) -> Any:
    return parse_team(
        {
            "models": {
                "tool": tool_model,
                "m": {"backend": "scripted", "default": "Answer: 5"},
            },
            "nodes": [
                {"name": "a", "role": "solver", "model": "m"},
                {"name": "b", "role": "solver", "model": "m"},
                {"name": "calc", "role": "calculator", "model": "tool"},
            ],
            **sections,
        },
        source="t.yaml",
    )


def test_templates_and_default_argument() -> None:
    assert fill_template({"q": "say {message}", "n": 3, "l": ["{message}"]}, "hi") == {
        "q": "say hi",
        "n": 3,
        "l": ["hi"],
    }
    # braces in the message are text, not a format string
    assert fill_template("{message}", '{"x": 1}') == '{"x": 1}'
    options = McpToolOptions.model_validate({"command": "x", "tool": "t", "argument": "query"})
    assert tool_input(options, "m", default_argument=None) == {"query": "m"}
    plain = McpToolOptions.model_validate({"command": "x", "tool": "t"})
    assert tool_input(plain, "m", default_argument="text") == {"text": "m"}
    schema = {"properties": {"a": {}, "b": {}}, "required": ["a", "b"]}
    assert sole_argument(schema) is None
    assert sole_argument({"properties": {"text": {}}}) == "text"


@pytest.mark.parametrize(
    ("raw", "field", "problem"),
    [
        ({"tool": "add"}, None, "transport stdio needs 'command'"),
        ({"transport": "http", "tool": "add"}, None, "transport http needs 'url'"),
        ({"transport": "http", "url": "ftp://x", "tool": "add"}, None, "must start with http"),
        ({"command": "x"}, "tool", "Field required"),
        ({"command": "x", "tool": "t", "argument": "a", "arguments": {}}, None, "not both"),
        ({"command": "x", "tool": "t", "timeout": 3}, "timeout", "Extra inputs"),
        ({"command": "x", "tool": "t", "timeout_s": 0}, "timeout_s", "greater than 0"),
    ],
)
def test_bad_options_are_one_clear_error(
    raw: dict[str, Any], field: str | None, problem: str
) -> None:
    with pytest.raises(ConfigError) as info:
        validate_options("mcp", raw)
    assert info.value.field == field and problem in str(info.value)


async def test_calls_a_tool_over_stdio_with_a_template() -> None:
    b = backend(tool="add", arguments={"a": 2, "b": 3})
    try:
        await b.check_ready()
        assert {"add", "fail", "sum_numbers"} <= set(b.tools)
        reply = await b.complete([ChatMessage("user", "anything")], Sampling())
        assert reply.text == "5" and reply.usage.total_tokens == 0
    finally:
        await b.aclose()
    with pytest.raises(ModelUnavailable, match="closed"):
        await b.complete([ChatMessage("user", "x")], Sampling())


async def test_a_tool_error_result_is_a_transient_model_error() -> None:
    b = backend(tool="fail")
    try:
        await b.check_ready()
        with pytest.raises(ModelUnavailable, match="failed on purpose"):
            await b.complete([ChatMessage("user", "x")], Sampling())
    finally:
        await b.aclose()


async def test_a_call_past_its_timeout_is_a_model_timeout_and_the_session_lives_on() -> None:
    b = backend(tool="sleep", arguments={"seconds": "{message}"}, timeout_s=1)
    try:
        await b.check_ready()
        with pytest.raises(ModelTimeout, match="timed out after 1 s"):
            await b.complete([ChatMessage("user", "30")], Sampling())
        reply = await b.complete([ChatMessage("user", "0")], Sampling())
        assert reply.text == "awake"
    finally:
        await b.aclose()


async def test_an_unknown_tool_is_one_line_listing_the_servers_tools() -> None:
    b = backend(tool="multiply")
    with pytest.raises(ConfigError) as info:
        await b.check_ready()
    message = str(info.value)
    assert "\n" not in message and "no tool 'multiply'" in message
    assert "add, fail, sleep, sum_numbers" in message and info.value.field == "tool"


async def test_a_tool_of_several_arguments_needs_a_mapping() -> None:
    with pytest.raises(ConfigError, match="set 'argument'"):
        await backend(tool="add").check_ready()


async def test_without_the_mcp_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "mcp", None)
    with pytest.raises(ConfigError, match=r"needs the 'mcp' extra: pip install 'lmteams\[mcp\]'"):
        await backend(tool="add").check_ready()


async def test_a_server_that_cannot_start_is_one_line() -> None:
    b = McpToolBackend(
        McpToolOptions.model_validate(
            {"command": sys.executable, "args": ["-c", "pass"], "tool": "add"}
        )
    )
    with pytest.raises(ConfigError) as info:
        await b.check_ready()
    assert "cannot open MCP session" in str(info.value) and info.value.field == "command"


async def test_the_mcp_node_votes_in_an_ask_over_stdio(store: EventStore) -> None:
    result = await ask(team(stdio(tool="sum_numbers")), "What is 2 + 3?", store)
    calc = next(n for n in result.nodes if n.node == "calc")
    assert calc.reply == "5" and result.answer == "5" and result.valid_votes == 3
    senders = {m.node for m in store.events(result.run_id, types=["message"])}
    assert "calc" in senders


async def test_the_mcp_node_votes_over_streamable_http(store: EventStore, http_url: str) -> None:
    model = {"backend": "mcp", "transport": "http", "url": http_url, "tool": "sum_numbers"}
    result = await ask(team(model), "What is 2 + 3?", store)
    calc = next(n for n in result.nodes if n.node == "calc")
    assert calc.reply == "5" and result.answer == "5"


async def test_a_failing_tool_is_retried_and_breaks_like_any_node(store: EventStore) -> None:
    resilience = {
        "retries": {"max_attempts": 2, "base_s": 0},
        "breaker": {"failure_threshold": 2, "reset_s": 600},
        "reroute": {"same_role_only": True},  # no other calculator: the retry hits it again
    }
    spec = team(stdio(tool="fail"), resilience=resilience)
    result = await ask(spec, "What is 2 + 3?", store)
    calc = next(n for n in result.nodes if n.node == "calc")
    assert calc.status == "failed" and "failed on purpose" in (calc.error or "")
    assert result.answer == "5" and result.valid_votes == 2
    kinds = [e.type for e in store.events(result.run_id) if e.node == "calc"]
    assert kinds.count("call_failed") == 2 and "retry" in kinds
    assert "breaker_opened" in [e.type for e in store.events(result.run_id)]


async def test_an_unknown_tool_stops_the_team_with_the_field(store: EventStore) -> None:
    with pytest.raises(ConfigError) as info:
        await ask(team(stdio(tool="nope")), "What is 2 + 3?", store)
    assert str(info.value).startswith("models.tool.tool: the MCP server has no tool 'nope'")


def test_lmteams_ask_with_an_unknown_tool_is_one_line_and_exit_2(tmp_path: Path) -> None:
    import yaml

    team_file = tmp_path / "team.yaml"
    model = stdio(tool="nope")
    team_file.write_text(
        yaml.safe_dump(
            {"models": {"tool": model}, "nodes": [{"name": "calc", "role": "x", "model": "tool"}]}
        )
    )
    args = ["ask", "What is 2 + 3?", "--team", str(team_file), "--db", str(tmp_path / "log.db")]
    done = subprocess.run(
        [sys.executable, "-m", "lmteams.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "models.tool.tool: the MCP server has no tool 'nope'" in lines[0]
    assert "its tools: add, fail, sleep, sum_numbers" in lines[0]
