"""`lmteams serve-team`: a whole team as one OpenAI-compatible model."""

from __future__ import annotations

from typing import Annotated

import typer

from lmteams.cli.consensus_options import ConsensusOption
from lmteams.cli.groups import with_groups
from lmteams.cli.options import DbOption, TeamOption
from lmteams.cli.serve_options import AddressFlags, LimitFlags, serve_until_stopped
from lmteams.cli.session import open_store
from lmteams.config import load_team
from lmteams.consensus.answers import get_extractor
from lmteams.models.embedded import check_embedded_models
from lmteams.strategies.ask import resolve


@with_groups
def serve_team_command(
    team: TeamOption = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name",
            help="The model name clients use. Default: the team's name.",
            show_default=False,
        ),
    ] = None,
    consensus: ConsensusOption = None,
    answer: Annotated[
        str, typer.Option("--answer", "-a", help="How to read each node's final answer.")
    ] = "auto",
    db: DbOption = None,
    address: AddressFlags = AddressFlags(),
    limit: LimitFlags = LimitFlags(),
) -> None:
    """Serve a team as one model at /v1/chat/completions (OpenAI-compatible).

    Each request is one `ask` run with the team's consensus strategy (or --consensus): the
    reply's content is the team's answer, usage sums every node's tokens, and the `lmteams`
    field of the reply names the run, the agreement and each node's answer. Streamed replies
    send each node's progress as SSE comments, then the answer. Runs are logged as asks
    (`lmteams show RUN`). Same keys and limits as serve-model. With the a2a extra the
    same server is an A2A agent: its card at /.well-known/agent-card.json, its tasks (each
    an ask run) at /a2a.

    Example: lmteams serve-team --team coders.yaml --port 8081, then ask it with any OpenAI
    client at http://127.0.0.1:8081/v1, model name: the team's name.
    """
    from lmteams.serve.team import ServedTeam, TeamHandler  # starlette, uvicorn: when serving

    address.check()
    limits = limit.limits()
    spec = load_team(team)
    check_embedded_models(spec)
    resolve(spec, consensus, None)  # an unknown strategy fails before the server opens
    get_extractor(answer)
    served = name or spec.name
    handler = TeamHandler(
        [ServedTeam(served, spec)],
        open_store(db),
        consensus=consensus,
        extractor=answer,
        owns_store=True,
    )
    serve_until_stopped(
        handler,
        limits,
        name=served,
        address=address,
        native_threads=lambda: any(m.backend == "embedded" for m in spec.models.values()),
    )


COMMANDS = [("serve-team", serve_team_command, 91)]
