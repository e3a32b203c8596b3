"""Resuming an ``ask`` run: ask again on the reopened team; logged answers are replayed.

Registers the ``ask`` kind with :mod:`lmteams.resume` when imported.
"""

from __future__ import annotations

from lmteams.consensus.settings import ConsensusSpec
from lmteams.errors import ConfigError
from lmteams.resume import ResumeContext, register_resumer
from lmteams.strategies.ask import ask_team


async def resume_ask(context: ResumeContext) -> None:
    """Resume an ``ask`` run: ask again; answers already logged are replayed, not re-asked.

    The question, strategy, consensus settings and answer extractor come from the run's
    parameters (runs logged before the settings were recorded use the team file's).
    """
    params = context.run.params
    question = params.get("question")
    if not isinstance(question, str):
        raise ConfigError(f"run {context.run.run_id} has no question to resume", field="RUN")
    options = params.get("options")
    decided = len(context.store.events(context.run.run_id, types=["decision"]))
    async with context.team(replay_unkeyed=True) as team:
        # Killed after its decision was committed: the redo replays it without logging it twice.
        team.already_logged["decision"] = decided
        result = await ask_team(
            team,
            question,
            consensus=params.get("consensus"),
            options=ConsensusSpec.model_validate(options) if options is not None else None,
            extractor=params.get("extractor", "auto"),
        )
        team.result = result.model_dump(mode="json")


register_resumer("ask", resume_ask)
