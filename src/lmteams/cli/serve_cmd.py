"""`lmteams serve-model`: expose a local model as an OpenAI-compatible HTTP endpoint."""

from __future__ import annotations

from typing import Annotated

import typer

from lmteams.cli.groups import with_groups
from lmteams.cli.options import TeamOption
from lmteams.cli.serve_options import AddressFlags, LimitFlags, serve_until_stopped
from lmteams.config import load_team
from lmteams.errors import ConfigError
from lmteams.models.embedded import EmbeddedOptions, EngineKey, resolve_key


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


@with_groups
def serve_model_command(
    model: Annotated[
        str,
        typer.Option("--model", "-m", help="'embedded' (SmolLM2), or an embedded model of --team."),
    ] = "embedded",
    team: TeamOption = None,
    address: AddressFlags = AddressFlags(),
    parallel: Annotated[int, typer.Option("--parallel", min=1, max=256, help="Batched slots.")] = 8,
    limit: LimitFlags = LimitFlags(),
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

    address.check()
    limits = limit.limits()
    key, alias = embedded_model(model, team, parallel)
    handler = EngineHandler(key, alias)
    serve_until_stopped(
        handler,
        limits,
        name=alias,
        address=address,
        native_threads=lambda: handler.native_started,
    )


COMMANDS = [("serve-model", serve_model_command, 90)]
