"""`lmteams resume` of an evaluation killed part-way: the same report, no answer asked twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from lmteams.config import TeamSpec
from lmteams.errors import ConfigError
from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
from lmteams.resume import resume_run
from lmteams.state.store import EventStore
from lmteams.strategies.evaluation import EvalReport, evaluate, load_dataset
from lmteams.testing import VirtualClock, scripted_team

QUESTIONS = [("What is 2 + 2?", "4"), ("What is 3 + 3?", "6"), ("What is 5 + 4?", "9")] * 2


def answer(call: ScriptedCall) -> ScriptedReply:
    """n0 and n1 answer right, n2 says 7; every call takes 1 s of virtual time."""
    right = next(a for q, a in QUESTIONS if q in call.prompt)
    return ScriptedReply(f"Answer: {'7' if call.node == 'n2' else right}", latency_s=1.0)


def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "questions.jsonl"
    lines = [json.dumps({"question": q, "answer": a}) for q, a in QUESTIONS]
    path.write_text("\n".join(lines) + "\n")
    return path


def team() -> tuple[TeamSpec, ScriptedBackend]:
    spec, backends = scripted_team(3, answer)
    backend = backends["scripted"]
    assert isinstance(backend, ScriptedBackend)
    return spec, backend


async def evaluation(
    store: EventStore, path: Path, backend: ScriptedBackend, parallel: int = 1
) -> EvalReport:
    spec, _ = scripted_team(3, answer)
    return await evaluate(
        spec,
        load_dataset(path),
        store,
        ["majority"],
        dataset=path.name,
        source=path,
        parallel=parallel,
        backends={"scripted": backend},
    )


async def interrupted(
    store: EventStore, path: Path, backend: ScriptedBackend, parallel: int = 1
) -> str:
    """Kill the evaluation's coordinator part-way: a question takes about 2 s, and the six go
    ``parallel`` at a time."""
    task = asyncio.ensure_future(evaluation(store, path, backend, parallel))
    await asyncio.sleep(5.5 if parallel == 1 else 3.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [run] = store.runs()
    return run.run_id


@pytest.mark.parametrize("parallel", [1, 3])
async def test_an_interrupted_evaluation_resumes_to_the_uninterrupted_report(
    store: EventStore, tmp_path: Path, parallel: int
) -> None:
    path = dataset(tmp_path)
    _, backend = team()
    with VirtualClock():
        run_id = await interrupted(store, path, backend, parallel)
        asked_before = backend.calls
        assert store.run(run_id).status == "cancelled" and 0 < asked_before < 24
        worked_before = max(e.t for e in store.events(run_id))  # virtual seconds, as logged
        seen: list[tuple[int, int]] = []
        outcome = await resume_run(
            store, run_id, backends={"scripted": backend}, progress=lambda *p: seen.append(p)
        )
    assert outcome.kind == "eval" and outcome.status == "done"
    # progress counts the strategies' answers, replayed ones too: 6 questions x 2 strategies
    assert [d for d, _ in seen] == list(range(1, 13)) and {t for _, t in seen} == {12}
    assert outcome.replayed > 0 and outcome.new_calls == backend.calls - asked_before
    _, fresh = team()
    with VirtualClock():
        whole = await evaluation(EventStore(":memory:"), path, fresh, parallel)
    # Only what never reached the log was asked again: the calls of both runs add up to the
    # uninterrupted run's plus those cut off in flight (at most a vote per question in flight).
    assert fresh.calls <= backend.calls <= fresh.calls + 3 * parallel
    assert outcome.result is not None
    resumed = EvalReport.model_validate(outcome.result)
    # its time is the whole evaluation's: the killed process's (virtual, here) and the resumed
    # one's (real: a replayed answer takes no virtual time)
    assert worked_before > 1.0 and resumed.wall_s >= worked_before
    assert [(s.strategy, s.correct, s.questions) for s in resumed.scores] == [
        (s.strategy, s.correct, s.questions) for s in whole.scores
    ]
    assert [(m.strategy, m.correct) for m in resumed.members] == [
        (m.strategy, m.correct) for m in whole.members
    ]
    # Every (question, strategy) is logged once, the ones before the kill and after it.
    items = Counter(
        (e.data["index"], e.data["strategy"]) for e in store.events(run_id, types=["eval_item"])
    )
    assert set(items.values()) == {1}
    assert len(items) == len(QUESTIONS) * (2 + 3)  # greedy, majority and each member alone


async def test_a_dataset_that_changed_is_not_resumed(store: EventStore, tmp_path: Path) -> None:
    path = dataset(tmp_path)
    _, backend = team()
    with VirtualClock():
        run_id = await interrupted(store, path, backend)
    path.write_text(path.read_text().replace('"answer": "6"', '"answer": "5"'))
    with pytest.raises(ConfigError) as refused:
        await resume_run(store, run_id, backends={"scripted": backend})
    message = str(refused.value)
    assert message.startswith(f"RUN: {path}: the questions or labels changed since run {run_id}")
    assert "\n" not in message


async def test_a_dataset_file_that_is_gone_is_one_line(store: EventStore, tmp_path: Path) -> None:
    path = dataset(tmp_path)
    _, backend = team()
    with VirtualClock():
        run_id = await interrupted(store, path, backend)
    path.unlink()
    with pytest.raises(ConfigError) as refused:
        await resume_run(store, run_id, backends={"scripted": backend})
    assert str(path) in str(refused.value) and "\n" not in str(refused.value)


async def test_an_evaluation_without_its_dataset_file_is_refused(
    store: EventStore, tmp_path: Path
) -> None:
    spec, backend = team()
    task = asyncio.ensure_future(
        evaluate(
            spec,
            load_dataset(dataset(tmp_path)),
            store,
            ["majority"],
            backends={"scripted": backend},
        )
    )
    with VirtualClock():
        await asyncio.sleep(3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    [run] = store.runs()
    with pytest.raises(ConfigError, match="did not record its dataset file"):
        await resume_run(store, run.run_id, backends={"scripted": backend})
