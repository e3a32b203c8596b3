"""`lmteams mcp-serve`: the library's ask, run, runs and show as tools of an MCP server.

An assistant that speaks MCP (over stdio, or Streamable HTTP on a loopback address) can then
drive a team. Each tool is a thin call into the same library functions the CLI commands use,
and returns JSON-able data: an ask's :class:`~lmteams.strategies.result.AskResult`, a project run's
:class:`~lmteams.coordinator.settings.RunResult`, rows of the event log. An error of the
library (a bad team file, an unknown run) reaches the client as the tool's one-line error.
"""

from __future__ import annotations

import hmac
import io
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lmteams.errors import ConfigError

if TYPE_CHECKING:
    from mcp.server.fastmcp import FastMCP

    from lmteams.runtime.pool import BackendPool
    from lmteams.state.store import EventStore, RunRecord

MISSING_EXTRA = "mcp-serve needs the 'mcp' extra: pip install 'lmteams[mcp]'"
INSTRUCTIONS = (
    "Drive a team of language models (lmteams). `ask` puts a question to the team and "
    "returns its consensus answer; `run` runs a project (a file or a shipped name such as "
    "tiny-math); `runs` lists recent runs; `show` returns one run with its events."
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _status(store: EventStore, run: RunRecord) -> str:
    # as `lmteams runs`: a run still marked running whose coordinator died is interrupted
    from lmteams.state.liveness import STAMPED, effective_status

    if run.status != "running":
        return run.status
    started = store.events(run.run_id, types=list(STAMPED))
    return effective_status(run.status, started)


def _project_path(name: str) -> Path:
    """A project file, or the shipped project of that name (as `lmteams run` resolves it)."""
    from lmteams.scheduling.project import builtin_project

    path = Path(name)
    if not path.exists() and builtin_project(name).exists():
        return builtin_project(name)
    return path


def build_server(
    *,
    team: str | None = None,
    db: Path | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
    pool: BackendPool | None = None,
) -> FastMCP:
    """The MCP server; ``team`` and ``db`` are the defaults of its tools.

    The tools' runs take their backends from ``pool``, so each embedded model loads once for
    the server's life (its owner closes it: :func:`closing`); without one, each run opens its
    own."""
    try:
        from mcp.server.fastmcp import FastMCP
    except ImportError:
        raise ConfigError(MISSING_EXTRA) from None

    from lmteams.state.store import EventStore

    server = FastMCP(
        "lmteams", instructions=INSTRUCTIONS, host=host, port=port, log_level="WARNING"
    )
    default_team = team  # the tools' own `team` argument shadows it
    stores: list[EventStore] = []

    def store() -> EventStore:
        if not stores:  # opened at the first call: listing the tools needs no event log
            stores.append(EventStore(db))
        return stores[0]

    @server.tool()
    async def ask(
        question: str, team: str | None = None, consensus: str | None = None
    ) -> dict[str, Any]:
        """Ask the team a question; returns the answer, the agreement and every node's reply.

        team: a team file or shipped team name (default: the server's). consensus: majority,
        weighted, confidence, quorum, judge, debate, moa, learned, adaptive or cascade
        (default: the team file's).
        """
        from lmteams.config import load_team
        from lmteams.models.embedded import prepare_engines
        from lmteams.strategies.ask import ask as ask_team

        spec = load_team(team or default_team)
        prepare_engines(spec, None)
        backends = pool.backends_for(spec) if pool is not None else None
        result = await ask_team(spec, question, store(), consensus=consensus, backends=backends)
        return result.model_dump(mode="json")

    @server.tool()
    async def run(
        project: str,
        team: str | None = None,
        topology: str = "steal",
        workers: int = 3,
    ) -> dict[str, Any]:
        """Run a project (a project file, or a shipped one: tiny-math) with a team of coders.

        Returns the run id, its status and each task's outcome. topology: steal, static,
        leader, pipeline... (as `lmteams run --topology`).
        """
        from lmteams.config import load_team
        from lmteams.coordinator.run import run_project
        from lmteams.coordinator.settings import RunSettings
        from lmteams.models.embedded import prepare_engines
        from lmteams.scheduling.project import load_project

        spec_project = load_project(_project_path(project))
        spec = load_team(team or default_team, default="coders")
        prepare_engines(spec, None)
        settings = RunSettings(topology=topology, workers=workers)
        backends = pool.backends_for(spec) if pool is not None else None
        result = await run_project(spec, spec_project, store(), settings, backends=backends)
        return result.model_dump(mode="json")

    @server.tool()
    def runs(limit: int = 20) -> list[dict[str, Any]]:
        """The most recent runs of the event log, newest first, with their status."""
        if not 1 <= limit <= 1000:
            raise ConfigError("must be between 1 and 1000", field="limit")
        log = store()
        return [
            {**r.model_dump(mode="json"), "status": _status(log, r)} for r in log.runs(limit=limit)
        ]

    @server.tool()
    def show(run_id: str) -> dict[str, Any]:
        """One run (an id or a unique prefix of one) with every event of its log, in order."""
        log = store()
        record = log.run(run_id)
        out: dict[str, Any] = record.model_dump(mode="json")
        out["status"] = _status(log, record)
        out["events"] = [e.model_dump(mode="json") for e in log.events(record.run_id)]
        return out

    return server


async def closing(serving: Awaitable[None], pool: BackendPool) -> None:
    """Serve until done or cancelled, then close the backends the server's runs shared."""
    try:
        await serving
    finally:
        await pool.aclose()


async def serve_stdio(server: FastMCP) -> None:
    """Serve on stdin/stdout. The protocol gets its own copy of stdout and file descriptor 1
    is pointed at stderr, so nothing else printed (a native library's log) can corrupt it."""
    import anyio
    from mcp.server.stdio import stdio_server

    sys.stdout.flush()
    protocol = os.dup(1)
    os.dup2(2, 1)
    out = anyio.wrap_file(io.TextIOWrapper(os.fdopen(protocol, "wb"), encoding="utf-8"))
    sys.stdout = sys.stderr
    lowlevel = server._mcp_server  # FastMCP.run_stdio_async, with our stdout
    async with stdio_server(stdout=out) as (read, write):
        await lowlevel.run(read, write, lowlevel.create_initialization_options())


def require_key(app: App, api_key: str) -> App:
    """``app`` behind ``Authorization: Bearer <api_key>`` (401 otherwise)."""
    expected = f"Bearer {api_key}".encode()

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, expected):
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                body = b'{"error": "missing or wrong bearer key"}'
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


async def serve_http(
    server: FastMCP,
    *,
    host: str,
    port: int,
    api_key: str | None,
    on_ready: Callable[[str], None],
) -> None:
    """Serve Streamable HTTP at ``http://HOST:PORT/mcp`` until cancelled."""
    import asyncio

    import uvicorn

    app: App = server.streamable_http_app()
    if api_key:
        app = require_key(app, api_key)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    web = uvicorn.Server(config)
    task = asyncio.create_task(web.serve())
    # uvicorn has no event for "listening": poll its flag
    while not web.started and not task.done():  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if web.started:
        bound = web.servers[0].sockets[0].getsockname()[1] if web.servers else port
        on_ready(f"http://{host}:{bound}{server.settings.streamable_http_path}")
    await task
