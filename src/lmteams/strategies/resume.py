"""Resuming ``ask`` and ``eval`` runs: the same questions again on the reopened team; every
answer already logged is replayed instead of asked again.

Registers the ``ask`` and ``eval`` kinds with :mod:`lmteams.resume` when imported.
"""

from __future__ import annotations

from lmteams.consensus.settings import ConsensusSpec
from lmteams.errors import ConfigError
from lmteams.resume import ResumeContext, register_resumer
from lmteams.strategies.ask import ask_team
from lmteams.strategies.evaluation import evaluate_on, items_digest, load_dataset
from lmteams.strategies.result import AskResult


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


async def resume_eval(context: ResumeContext) -> None:
    """Resume an ``eval`` run: read its dataset file again (it must hold the same questions and
    labels, checked by digest) and evaluate again; logged answers are replayed and logged
    ``eval_item`` events are not written twice, so the result is the uninterrupted run's."""
    run = context.run
    params = run.params
    source, digest = params.get("source"), params.get("items_sha256")
    if not isinstance(source, str) or not isinstance(digest, str):
        raise ConfigError(f"run {run.run_id} did not record its dataset file", field="RUN")
    extractor = params.get("extractor")
    if not isinstance(extractor, str):
        raise ConfigError(
            f"run {run.run_id} read answers with an extractor given in Python; resume it by "
            "calling lmteams.strategies.evaluation.evaluate_on with that extractor",
            field="RUN",
        )
    items = load_dataset(source)[: int(params["questions"])]
    if items_digest(items) != digest:
        raise ConfigError(
            f"{source}: the questions or labels changed since run {run.run_id} started; "
            "start it again",
            field="RUN",
        )
    logged = {
        (int(e.data["index"]), str(e.data["strategy"]))
        for e in context.store.events(run.run_id, types=["eval_item"])
    }
    settings = params.get("settings")
    names = list(params["strategies"])
    total = len(items) * len(names)
    answered = 0

    def advanced(index: int, name: str, correct: bool, result: AskResult) -> None:
        nonlocal answered
        answered += 1
        if context.progress is not None:
            context.progress(answered, total)

    earlier_s = context.earlier_s()
    async with context.team(replay_unkeyed=True) as team:
        report = await evaluate_on(
            team,
            items,
            names,
            ConsensusSpec.model_validate(settings) if settings else team.spec.consensus,
            extractor,
            train=bool(params.get("train")),
            parallel=int(params.get("parallel", 1)),
            members=bool(params.get("members", True)),
            dataset=str(params.get("dataset", "")),
            on_item=advanced,
            logged=logged,
        )
        # the whole evaluation's time: the processes before this one and this one
        whole = report.model_copy(update={"wall_s": earlier_s + report.wall_s})
        team.result = whole.model_dump(mode="json")


register_resumer("ask", resume_ask)
register_resumer("eval", resume_eval)
