"""What `serve-model` and `serve-team` share: address, key and limit flags, and the serving loop."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console

from lmteams.cli.errors import fail
from lmteams.cli.groups import option_group
from lmteams.errors import ConfigError, LMTeamsError
from lmteams.serve.limits import ServeLimits

if TYPE_CHECKING:
    from lmteams.serve.protocol import CompletionHandler

_DEFAULTS = ServeLimits()
_FLAGS = {
    "max_body_bytes": "--max-body-bytes",
    "max_prompt_tokens": "--max-prompt-tokens",
    "max_tokens": "--max-tokens",
    "max_concurrent": "--max-concurrent",
}

HostOption = Annotated[str, typer.Option("--host", help="Address to bind.")]
PortOption = Annotated[
    int, typer.Option("--port", "-p", min=0, max=65535, help="0 picks a free port.")
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="LMTEAMS_SERVE_API_KEY",
        show_default=False,
        help="Require this bearer key. Mandatory for a non-loopback --host.",
    ),
]
MaxBodyOption = Annotated[
    int, typer.Option("--max-body-bytes", help="Larger request bodies are answered 413.")
]
MaxPromptOption = Annotated[
    int, typer.Option("--max-prompt-tokens", help="Longer prompts (chat template included): 400.")
]
MaxTokensOption = Annotated[
    int,
    typer.Option(
        "--max-tokens", help="Largest max_tokens a request may ask (400 above); the default."
    ),
]
MaxConcurrentOption = Annotated[
    int, typer.Option("--max-concurrent", help="Requests served at once; one more is answered 429.")
]
DEFAULT_BODY = _DEFAULTS.max_body_bytes
DEFAULT_PROMPT = _DEFAULTS.max_prompt_tokens
DEFAULT_TOKENS = _DEFAULTS.max_tokens
DEFAULT_CONCURRENT = _DEFAULTS.max_concurrent


@option_group
class AddressFlags:
    """Where a server listens and the key it asks for (`serve-model`, `serve-team`)."""

    host: HostOption = "127.0.0.1"
    port: PortOption = 8080
    api_key: ApiKeyOption = None

    def check(self) -> None:
        """A non-loopback --host without --api-key is refused before anything loads."""
        check_address(self.host, self.api_key)


@option_group
class LimitFlags:
    """The request limits of `serve-model` and `serve-team` (docs/serving.md)."""

    max_body_bytes: MaxBodyOption = DEFAULT_BODY
    max_prompt_tokens: MaxPromptOption = DEFAULT_PROMPT
    max_tokens: MaxTokensOption = DEFAULT_TOKENS
    max_concurrent: MaxConcurrentOption = DEFAULT_CONCURRENT

    def limits(self) -> ServeLimits:
        return serve_limits(**dataclasses.asdict(self))


def serve_limits(**values: int) -> ServeLimits:
    """The limits from the flags; a value out of range is a one-line error naming the flag."""
    try:
        return ServeLimits(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = _FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigError(str(first["msg"]).lower(), field=flag) from None


def check_address(host: str, api_key: str | None) -> None:
    from lmteams.serve.server import is_loopback

    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to serve on non-loopback address {host} without --api-key", field="--host"
        )


def serve_until_stopped(
    handler: CompletionHandler,
    limits: ServeLimits,
    *,
    name: str,
    address: AddressFlags,
    native_threads: Callable[[], bool] = lambda: False,
) -> None:
    """Serve until Ctrl-C or SIGTERM, printing "serving NAME at URL/v1" once it answers.

    ``native_threads`` says whether native threads were started (a loaded llama.cpp engine):
    they do not all join, so the process then exits without waiting for them.
    """
    from lmteams.serve.server import serve  # starlette, uvicorn: only when serving

    api_key = address.api_key
    console = Console()

    def loading(url: str) -> None:
        # No URL yet: whoever scrapes the output for one must find it only once it answers.
        Console(stderr=True).print(f"loading {name} ...", highlight=False)

    def ready(url: str) -> None:
        console.print(
            f"serving {name} at {url}/v1 (model name: {name}); Ctrl-C stops", highlight=False
        )
        if api_key:
            console.print("clients must send: Authorization: Bearer <your --api-key>")
        sys.stdout.flush()

    code = 0
    try:
        asyncio.run(
            serve(
                handler,
                limits,
                host=address.host,
                port=address.port,
                api_key=SecretStr(api_key) if api_key else None,
                on_ready=ready,
                on_loading=loading,
            )
        )
    except LMTeamsError as exc:
        if not native_threads():
            raise
        try:
            fail(exc)
        except SystemExit as done:
            code = int(done.code or 0)
    if native_threads():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
