"""A tiny MCP server for the tests: stdio by default, Streamable HTTP with ``--http PORT``."""

from __future__ import annotations

import asyncio
import re
import sys

from mcp.server.fastmcp import FastMCP

server = FastMCP("fixture", host="127.0.0.1", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def sum_numbers(text: str) -> str:
    """Add up the integers found in the text."""
    return str(sum(int(n) for n in re.findall(r"-?\d+", text)))


@server.tool()
async def sleep(seconds: float) -> str:
    """Answer after a while."""
    await asyncio.sleep(seconds)
    return "awake"


@server.tool()
def fail(text: str = "") -> str:
    """Always fails."""
    raise RuntimeError("the fixture tool failed on purpose")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.settings.port = int(sys.argv[2])
        server.run("streamable-http")
    else:
        server.run("stdio")
