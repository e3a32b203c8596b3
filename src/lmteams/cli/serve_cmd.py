"""`lmteams serve-model`: expose a local model as an OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

import ipaddress
import os
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console

from lmteams.cli.options import TeamOption
from lmteams.config import load_team
from lmteams.errors import ConfigError
from lmteams.models.embedded import EmbeddedEngine, EmbeddedOptions, resolve_key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
) -> None:
    """Serve a local model over HTTP at /v1/chat/completions (OpenAI-compatible).

    Binds to 127.0.0.1 by default. A non-loopback --host is refused unless --api-key is set,
    so the model is never open to the network by accident. Stop with Ctrl-C.

    Example: lmteams serve-model --port 8080, then use a team model with
    backend: openai and base_url: http://127.0.0.1:8080/v1.
    """
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to serve on non-loopback address {host} without --api-key", field="--host"
        )
    if model == "embedded":
        options = EmbeddedOptions(n_parallel=parallel)
        alias = "smollm2"
    else:
        spec = load_team(team)
        if model not in spec.models:
            raise ConfigError(
                f"unknown model {model!r}; team defines: {', '.join(spec.models)}", field="--model"
            )
        if spec.models[model].backend != "embedded":
            raise ConfigError(f"model {model!r} is not an embedded model", field="--model")
        options = EmbeddedOptions.model_validate(
            {**spec.models[model].options, "n_parallel": parallel}
        )
        alias = model
    key = resolve_key(options)
    engine = EmbeddedEngine(key, host=host, port=port, api_key=api_key, alias=alias)
    address = engine.listening_address
    console = Console()
    console.print(
        f"serving {alias} at {address}/v1 (model name: {alias}); Ctrl-C stops", highlight=False
    )
    if api_key:
        console.print("clients must send: Authorization: Bearer <your --api-key>")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    engine.close()
    os._exit(0)  # the native server's threads do not all join; exit without waiting for them


COMMANDS = [("serve-model", serve_model_command, 90)]
