"""`lmteams mcp-serve` driven by the MCP SDK's own client over stdio."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from lmteams.serve.mcp import require_key

TEAM = """
name: scripted-three
models:
  m: {backend: scripted, default: "Answer: 5"}
nodes:
  - {name: a, role: solver, model: m}
  - {name: b, role: solver, model: m}
  - {name: c, role: solver, model: m}
"""
LMTEAMS = "import sys; from lmteams.cli.app import main; sys.argv[0] = 'lmteams'; main()"


def lmteams(*args: str, cwd: Path | None = None, **env: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=sys.executable, args=["-c", LMTEAMS, *args], cwd=cwd, env=env or None
    )


def payload(result: CallToolResult) -> Any:
    assert not result.isError, result.content
    if result.structuredContent is not None:
        content = result.structuredContent
        return content.get("result", content) if list(content) == ["result"] else content
    text = result.content[0]
    assert isinstance(text, TextContent)
    return json.loads(text.text)


def error_text(result: CallToolResult) -> str:
    assert result.isError
    text = result.content[0]
    assert isinstance(text, TextContent)
    return text.text


async def test_an_mcp_client_asks_lists_and_shows_runs(tmp_path: Path) -> None:
    team = tmp_path / "team.yaml"
    team.write_text(TEAM)
    params = lmteams(
        "mcp-serve",
        "--team",
        str(team),
        "--db",
        str(tmp_path / "log.db"),
        cwd=tmp_path,
        LMTEAMS_ORACLE_SOLUTIONS=str(tmp_path),  # none: the oracle's tasks fail, quickly
    )
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        tools = {t.name: t for t in (await session.list_tools()).tools}
        assert set(tools) == {"ask", "run", "runs", "show"}
        assert set(tools["ask"].inputSchema["properties"]) == {"question", "team", "consensus"}
        assert set(tools["run"].inputSchema["properties"]) == {
            "project",
            "team",
            "topology",
            "workers",
        }

        asked = payload(await session.call_tool("ask", {"question": "What is 2 + 3?"}))
        assert asked["answer"] == "5" and asked["valid_votes"] == 3
        run_id = asked["run_id"]

        listed = payload(await session.call_tool("runs", {"limit": 5}))
        assert [r["run_id"] for r in listed] == [run_id]
        assert listed[0]["status"] == "done" and listed[0]["kind"] == "ask"

        shown = payload(await session.call_tool("show", {"run_id": run_id[:12]}))
        assert shown["run_id"] == run_id
        types = [e["type"] for e in shown["events"]]
        assert types[0] == "run_started" and "decision" in types

        missing = error_text(await session.call_tool("show", {"run_id": "nope"}))
        assert "nope" in missing and "\n" not in missing.strip()
        bad_team = error_text(
            await session.call_tool("ask", {"question": "hi", "team": str(tmp_path / "x.yaml")})
        )
        assert "x.yaml" in bad_team and "Traceback" not in bad_team
        ran = payload(await session.call_tool("run", {"project": "tiny-math", "team": "oracle"}))
        assert ran["status"] == "partial" and ran["tasks"]["add"] == "failed"
        kinds = [r["kind"] for r in payload(await session.call_tool("runs", {}))]
        assert kinds == ["run", "ask"]

        bad_limit = error_text(await session.call_tool("runs", {"limit": 0}))
        assert "limit: must be between 1 and 1000" in bad_limit


def test_without_the_mcp_extra_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from lmteams.errors import ConfigError
    from lmteams.serve.mcp import build_server

    monkeypatch.setitem(sys.modules, "mcp.server.fastmcp", None)
    with pytest.raises(ConfigError, match=r"needs the 'mcp' extra: pip install 'lmteams\[mcp\]'"):
        build_server()


def test_a_non_loopback_host_without_a_key_is_refused() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LMTEAMS, "mcp-serve", "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: --host: refusing to serve on non-loopback address 0.0.0.0 without --api-key"
    ]
    assert "Traceback" not in done.stderr


async def test_the_http_key_guard_answers_401_without_the_key() -> None:
    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    guarded = require_key(app, "s3cret")
    headers = [(b"authorization", b"Bearer wrong")]
    await guarded({"type": "http", "path": "/mcp", "headers": headers}, receive, send)
    assert sent[0]["status"] == 401 and reached == []
    good = [(b"authorization", b"Bearer s3cret")]
    await guarded({"type": "http", "path": "/mcp", "headers": good}, receive, send)
    assert reached == ["/mcp"]


async def test_mcp_serve_over_streamable_http_on_loopback(tmp_path: Path) -> None:
    import httpx
    from mcp.client.streamable_http import streamable_http_client

    args = ["mcp-serve", "--transport", "http", "--port", "0", "--db", str(tmp_path / "l.db")]
    process = subprocess.Popen(
        [sys.executable, "-c", LMTEAMS, *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("serving MCP at http://127.0.0.1:"), line
        url = line.split()[3].rstrip(";")
        async with (
            httpx.AsyncClient(trust_env=False) as client,
            streamable_http_client(url, http_client=client) as (read, write, _),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            names = {t.name for t in (await session.list_tools()).tools}
            assert names == {"ask", "run", "runs", "show"}
            assert payload(await session.call_tool("runs", {})) == []
    finally:
        process.terminate()
        process.wait(20)
