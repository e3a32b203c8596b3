"""`lmteams serve-model`: expose a local model as an OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer
from pydantic import SecretStr, ValidationError
from rich.console import Console

from lmteams.cli.errors import fail
from lmteams.cli.options import TeamOption
from lmteams.config import load_team
from lmteams.errors import ConfigError, LMTeamsError
from lmteams.models.embedded import EmbeddedOptions, EngineKey, resolve_key
from lmteams.serve.limits import ServeLimits

_DEFAULTS = ServeLimits()
_FLAGS = {
    "max_body_bytes": "--max-body-bytes",
    "max_prompt_tokens": "--max-prompt-tokens",
    "max_tokens": "--max-tokens",
    "max_concurrent": "--max-concurrent",
}


def serve_limits(**values: int) -> ServeLimits:
    """The limits from the flags; a value out of range is a one-line error naming the flag."""
    try:
        return ServeLimits(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        flag = _FLAGS.get(str(first["loc"][0]), str(first["loc"][0]))
        raise ConfigError(str(first["msg"]).lower(), field=flag) from None


def embedded_model(model: str, team: str | None, parallel: int) -> tuple[EngineKey, str]:
    """The engine settings and the name clients use, for ``--model`` (and ``--team``)."""
    if model == "embedded":
        return resolve_key(EmbeddedOptions(n_parallel=parallel)), "smollm2"
    spec = load_team(team)
    if model not in spec.models:
        raise ConfigError(
            f"unknown model {model!r}; team defines: {', '.join(spec.models)}", field="--model"
        )
    if spec.models[model].backend != "embedded":
        raise ConfigError(f"model {model!r} is not an embedded model", field="--model")
    options = EmbeddedOptions.model_validate({**spec.models[model].options, "n_parallel": parallel})
    return resolve_key(options), model


def serve_model_command(
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="'embedded' (SmolLM2), or an embedded model of --team."),
    ] = "embedded",
    team: TeamOption = None,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", min=0, max=65535, help="0 picks a free port.")
    ] = 8080,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="LMTEAMS_SERVE_API_KEY",
            show_default=False,
            help="Require this bearer key. Mandatory for a non-loopback --host.",
        ),
    ] = None,
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Batched slots.")] = 8,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Larger request bodies are answered 413.")
    ] = _DEFAULTS.max_body_bytes,
    max_prompt_tokens: Annotated[
        int,
        typer.Option("--max-prompt-tokens", help="Longer prompts (chat template included): 400."),
    ] = _DEFAULTS.max_prompt_tokens,
    max_tokens: Annotated[
        int,
        typer.Option(
            "--max-tokens", help="Largest max_tokens a request may ask (400 above); the default."
        ),
    ] = _DEFAULTS.max_tokens,
    max_concurrent: Annotated[
        int,
        typer.Option("--max-concurrent", help="Requests served at once; one more is answered 429."),
    ] = _DEFAULTS.max_concurrent,
) -> None:
    """Serve a local model over HTTP at /v1/chat/completions (OpenAI-compatible).

    Binds to 127.0.0.1 by default, and then serves without a key unless --api-key is given.
    A non-loopback --host is refused unless --api-key is set, so the model is never open to
    the network by accident. "serving ... at URL" is printed once the model is loaded and
    the server answers. Requests past the limits get OpenAI-style errors (413, 400, 404,
    429). Stop with Ctrl-C.

    Example: lmteams serve-model --port 8080, then use a team model with
    backend: openai and base_url: http://127.0.0.1:8080/v1.
    """
    from lmteams.serve.engine import EngineHandler  # starlette, uvicorn: only when serving
    from lmteams.serve.server import is_loopback, serve

    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to serve on non-loopback address {host} without --api-key", field="--host"
        )
    limits = serve_limits(
        max_body_bytes=max_body_bytes,
        max_prompt_tokens=max_prompt_tokens,
        max_tokens=max_tokens,
        max_concurrent=max_concurrent,
    )
    key, alias = embedded_model(model, team, parallel)
    console = Console()

    def loading(url: str) -> None:
        # No URL yet: whoever scrapes the output for one must find it only once it answers.
        Console(stderr=True).print(f"loading {alias} ...", highlight=False)

    def ready(url: str) -> None:
        console.print(
            f"serving {alias} at {url}/v1 (model name: {alias}); Ctrl-C stops", highlight=False
        )
        if api_key:
            console.print("clients must send: Authorization: Bearer <your --api-key>")
        sys.stdout.flush()

    handler = EngineHandler(key, alias)
    code = 0
    try:
        asyncio.run(
            serve(
                handler,
                limits,
                host=host,
                port=port,
                api_key=SecretStr(api_key) if api_key else None,
                on_ready=ready,
                on_loading=loading,
            )
        )
    except LMTeamsError as exc:
        if not handler.loaded:
            raise
        try:
            fail(exc)
        except SystemExit as done:
            code = int(done.code or 0)
    sys.stdout.flush()
    # The native server's threads do not all join once a model was loaded: exit without them.
    os._exit(code)


COMMANDS = [("serve-model", serve_model_command, 90)]
