"""`lmteams mcp-serve`: ask, run, runs and show as MCP tools, for an assistant to drive a team."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Literal

import typer
from rich.console import Console

from lmteams.cli.options import DbOption, TeamOption
from lmteams.cli.serve_options import ApiKeyOption, HostOption, check_address


def mcp_serve_command(
    transport: Annotated[
        Literal["stdio", "http"],
        typer.Option("--transport", help="stdio (for an assistant that starts it) or http."),
    ] = "stdio",
    host: HostOption = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="http: 0 picks a free port.")
    ] = 8765,
    api_key: ApiKeyOption = None,
    team: TeamOption = None,
    db: DbOption = None,
) -> None:
    """Serve lmteams as an MCP server with the tools ask, run, runs and show.

    Each tool calls the library as the command of the same name does and returns JSON;
    --team and --db are the tools' defaults. stdio by default: an MCP client starts
    `lmteams mcp-serve` and talks over its stdin and stdout. With --transport http it serves
    Streamable HTTP at http://HOST:PORT/mcp, on 127.0.0.1 by default; a non-loopback --host is
    refused unless --api-key is set (clients then send Authorization: Bearer KEY).

    Example (an assistant's MCP settings): command lmteams, args [mcp-serve, --team, my.yaml].
    """
    from lmteams.runtime.pool import BackendPool
    from lmteams.serve.mcp import build_server, closing, serve_http, serve_stdio

    if transport == "http":
        check_address(host, api_key)
    pool = BackendPool()  # the tools' runs share its backends: a model loads once, not per call
    server = build_server(team=team, db=db, host=host, port=port, pool=pool)
    if transport == "stdio":
        asyncio.run(closing(serve_stdio(server), pool))
        return

    def ready(url: str) -> None:
        Console().print(f"serving MCP at {url}; Ctrl-C stops", highlight=False)
        if api_key:
            Console().print("clients must send: Authorization: Bearer <your --api-key>")
        sys.stdout.flush()

    try:
        serving = serve_http(server, host=host, port=port, api_key=api_key, on_ready=ready)
        asyncio.run(closing(serving, pool))
    except KeyboardInterrupt:
        pass


COMMANDS = [("mcp-serve", mcp_serve_command, 92)]
