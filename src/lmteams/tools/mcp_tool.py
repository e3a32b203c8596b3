"""The ``mcp`` backend: a node that calls one tool of an MCP server and answers with its text.

The server is reached over stdio (``command`` + ``args``: a subprocess) or Streamable HTTP
(``url``). The session is opened when the team starts (:meth:`McpToolBackend.check_ready`,
which also checks that the tool exists) and closed at :meth:`McpToolBackend.aclose`.

The MCP SDK's transports are anyio task groups that must be entered and left by one task, but a
team starts its backends in one task and closes them in another. So the backend owns one task
that opens everything on a single :class:`~contextlib.AsyncExitStack`, holds the session until
``aclose`` asks it to stop, then unwinds the stack; ``aclose`` awaits that task, so none is left
behind. Calls use the session from any task of the same loop.

The node's last user message becomes the tool's input: either put whole into one argument
(``argument: NAME``), or through an ``arguments`` template whose strings have ``{message}``
replaced by it. A tool error result (``isError``) is a transient
:class:`~lmteams.errors.ModelUnavailable` (retries and breakers apply, as for a failing model);
a protocol error such as invalid arguments is a permanent
:class:`~lmteams.errors.InvalidRequest`. The reply is the tool's text content; usage is zero.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from contextlib import AsyncExitStack
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from lmteams.errors import (
    ConfigError,
    InvalidRequest,
    ModelTimeout,
    ModelUnavailable,
)
from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
from lmteams.tools.reply import last_user_message, tool_completion

if TYPE_CHECKING:
    from mcp import ClientSession
    from mcp.types import CallToolResult, Tool

MESSAGE_PLACEHOLDER = "{message}"
MISSING_EXTRA = "the mcp backend needs the 'mcp' extra: pip install 'lmteams[mcp]'"


class McpToolOptions(BaseModel):
    """Settings of an ``mcp`` model in a team file: which server, which tool, which input."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    transport: Literal["stdio", "http"] = Field(
        "stdio", description="stdio: start `command` as a subprocess; http: Streamable HTTP `url`."
    )
    command: str | None = Field(None, min_length=1, description="Server program (stdio).")
    args: tuple[str, ...] = Field((), description="Its arguments (stdio).")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="Extra environment of the server process (stdio); the rest of the "
        "environment is the SDK's safe default, so secrets are not passed on.",
    )
    cwd: str | None = Field(None, description="Working directory of the server process (stdio).")
    url: str | None = Field(None, min_length=1, description="Server endpoint, e.g. .../mcp (http).")
    tool: str = Field(min_length=1, description="Name of the tool this node calls.")
    argument: str | None = Field(
        None, min_length=1, description="Put the whole message into this one argument."
    )
    arguments: dict[str, Any] | None = Field(
        None,
        description="Template of the tool's input; '{message}' in any string is replaced by "
        "the message. Other values are passed as they are.",
    )
    timeout_s: float = Field(30.0, gt=0, le=3600, description="Longest wait for one call.")
    start_timeout_s: float = Field(
        60.0, gt=0, le=3600, description="Longest wait to start the server and open the session."
    )

    @model_validator(mode="after")
    def _consistent(self) -> McpToolOptions:
        if self.transport == "stdio":
            if self.command is None:
                raise PydanticCustomError("mcp_command", "transport stdio needs 'command'")
            if self.url is not None:
                raise PydanticCustomError("mcp_url", "'url' is for transport http")
        else:
            if self.url is None:
                raise PydanticCustomError("mcp_url", "transport http needs 'url'")
            if self.command is not None or self.args or self.env or self.cwd:
                raise PydanticCustomError(
                    "mcp_command", "'command', 'args', 'env' and 'cwd' are for transport stdio"
                )
            if not self.url.startswith(("http://", "https://")):
                raise PydanticCustomError("mcp_url", "'url' must start with http:// or https://")
        if self.argument is not None and self.arguments is not None:
            raise PydanticCustomError("mcp_arguments", "set 'argument' or 'arguments', not both")
        return self


def fill_template(template: Any, message: str) -> Any:
    """``template`` with ``{message}`` replaced in every string (nested mappings and lists too).

    Plain replacement, not ``str.format``: braces of JSON in the message or template are text.
    """
    if isinstance(template, str):
        return template.replace(MESSAGE_PLACEHOLDER, message)
    if isinstance(template, Mapping):
        return {k: fill_template(v, message) for k, v in template.items()}
    if isinstance(template, list | tuple):
        return [fill_template(v, message) for v in template]
    return template


def tool_input(
    options: McpToolOptions, message: str, *, default_argument: str | None
) -> dict[str, Any]:
    """The arguments of one call for ``message`` (pure)."""
    if options.arguments is not None:
        filled = fill_template(options.arguments, message)
        assert isinstance(filled, dict)
        return filled
    name = options.argument or default_argument
    return {name: message} if name else {}


def sole_argument(schema: Mapping[str, Any]) -> str | None:
    """The tool's one input property (required or not), if it has exactly one."""
    properties = schema.get("properties") or {}
    required = schema.get("required") or []
    if len(required) == 1:
        return str(required[0])
    if len(properties) == 1:
        return str(next(iter(properties)))
    return None


def reply_text(result: CallToolResult) -> str:
    """The text content of a tool result; its structured content as JSON when it has no text."""
    from mcp.types import TextContent

    texts = [c.text for c in result.content if isinstance(c, TextContent)]
    if texts:
        return "\n".join(texts)
    if result.structuredContent is not None:
        return json.dumps(result.structuredContent, ensure_ascii=False)
    return ""


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the exception groups of anyio task groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class McpToolBackend(ModelBackend):
    """Calls one tool of one MCP server; one session serves many nodes concurrently."""

    kind = "mcp"

    def __init__(self, options: McpToolOptions, *, name: str = "mcp") -> None:
        self.options = options
        self.name = name
        self.tools: tuple[str, ...] = ()
        self._session: ClientSession | None = None
        self._default_argument: str | None = None
        self._holder: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self._closed = False

    def _where(self) -> str:
        o = self.options
        return " ".join([o.command or "", *o.args]) if o.transport == "stdio" else o.url or ""

    async def check_ready(self) -> None:
        """Open the session, list the server's tools and check that ``tool`` is one of them."""
        if self._holder is not None:
            return
        try:
            import mcp  # noqa: F401
        except ImportError:
            raise ConfigError(MISSING_EXTRA) from None
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._holder = asyncio.create_task(self._hold(ready), name=f"mcp session {self.name}")
        try:
            await ready
        except BaseException:
            await self.aclose()
            raise

    async def _hold(self, ready: asyncio.Future[None]) -> None:
        assert self._stop is not None
        problem: BaseException | None = None
        try:
            async with AsyncExitStack() as stack:
                try:
                    # asyncio.timeout, not wait_for: wait_for would enter the transports in
                    # a task of its own, and anyio requires they be left by the one that
                    # entered them.
                    async with asyncio.timeout(self.options.start_timeout_s):
                        session = await self._open(stack)
                        listed = await session.list_tools()
                    problem = self._adopt(session, listed.tools)
                except Exception as exc:  # reported to check_ready, the stack still unwinds
                    problem = exc
                if problem is None:
                    ready.set_result(None)
                    await self._stop.wait()
        except Exception as exc:
            problem = problem or exc
        finally:
            self._session = None
        if not ready.done():
            ready.set_exception(self._start_error(problem))

    def _start_error(self, problem: BaseException | None) -> ConfigError:
        leaf = _leaf(problem) if problem is not None else None
        if isinstance(leaf, ConfigError):
            return leaf
        field = "command" if self.options.transport == "stdio" else "url"
        if isinstance(leaf, TimeoutError):
            why = f"no answer within {self.options.start_timeout_s:g} s"
        else:
            why = str(leaf) or type(leaf).__name__ if leaf is not None else "session ended"
        return ConfigError(f"cannot open MCP session with {self._where()}: {why}", field=field)

    async def _open(self, stack: AsyncExitStack) -> ClientSession:
        from mcp import ClientSession, StdioServerParameters

        o = self.options
        if o.transport == "stdio":
            from mcp.client.stdio import stdio_client

            assert o.command is not None
            params = StdioServerParameters(
                command=o.command, args=list(o.args), env=dict(o.env) or None, cwd=o.cwd
            )
            read, write = await stack.enter_async_context(stdio_client(params))
        else:
            import httpx
            from mcp.client.streamable_http import streamable_http_client

            assert o.url is not None
            # trust_env=False: a proxy from the environment must not see the tool's traffic.
            client = await stack.enter_async_context(
                httpx.AsyncClient(trust_env=False, timeout=httpx.Timeout(o.timeout_s))
            )
            read, write, _ = await stack.enter_async_context(
                streamable_http_client(o.url, http_client=client)
            )
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        return session

    def _adopt(self, session: ClientSession, tools: Sequence[Tool]) -> ConfigError | None:
        self.tools = tuple(t.name for t in tools)
        wanted = self.options.tool
        found = next((t for t in tools if t.name == wanted), None)
        if found is None:
            listed = ", ".join(sorted(self.tools)) or "none"
            return ConfigError(
                f"the MCP server has no tool {wanted!r}; its tools: {listed}", field="tool"
            )
        o = self.options
        if o.arguments is None and o.argument is None:
            self._default_argument = sole_argument(found.inputSchema)
            properties = found.inputSchema.get("properties") or {}
            if self._default_argument is None and properties:
                return ConfigError(
                    f"tool {wanted!r} takes {', '.join(properties)}: set 'argument' (the one "
                    "the message goes into) or 'arguments' (a template)",
                    field="tool",
                )
        self._session = session
        return None

    async def complete(self, messages: Sequence[ChatMessage], sampling: Sampling) -> Completion:
        if self._holder is None and not self._closed:
            await self.check_ready()  # a runtime that did not start the backend
        session = self._session
        if session is None:
            raise ModelUnavailable(f"MCP session with {self._where()} is closed", model=self.name)
        from mcp.shared.exceptions import McpError

        started = time.perf_counter()
        arguments = tool_input(
            self.options, last_user_message(messages), default_argument=self._default_argument
        )
        try:
            result = await session.call_tool(
                self.options.tool,
                arguments,
                read_timeout_seconds=timedelta(seconds=self.options.timeout_s),
            )
        except McpError as exc:
            error = exc.error
            if error.code == 408 or "timed out" in error.message.lower():
                raise ModelTimeout(
                    f"MCP tool {self.options.tool!r} timed out after {self.options.timeout_s:g} s",
                    model=self.name,
                ) from None
            if "connection closed" in error.message.lower():
                raise ModelUnavailable(
                    f"MCP server {self._where()} closed the session", model=self.name
                ) from None
            raise InvalidRequest(
                f"MCP tool {self.options.tool!r} refused the call: {error.message}",
                model=self.name,
            ) from None
        except (OSError, EOFError) as exc:
            raise ModelUnavailable(
                f"MCP server {self._where()} is unreachable: {exc}", model=self.name
            ) from None
        text = reply_text(result)
        if result.isError:
            first = " ".join(text.split())[:300] or "no message"
            raise ModelUnavailable(
                f"MCP tool {self.options.tool!r} failed: {first}", model=self.name
            )
        return tool_completion(text, started, self.name)

    async def aclose(self) -> None:
        self._closed = True
        holder, self._holder = self._holder, None
        if holder is None:
            return
        if self._stop is not None:
            self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(holder), timeout=self.options.start_timeout_s)
        except TimeoutError:
            holder.cancel()
            try:
                await holder
            except BaseException:  # the session is being abandoned
                pass
        except Exception:  # closing must not fail a finished run
            pass
