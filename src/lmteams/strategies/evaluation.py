"""Evaluation: a labeled dataset through a team, every strategy side by side, stored as a run.

Each question is answered by a single node decoding greedily (the baseline: a node of the
team's largest model, "the largest model alone"), by every strategy asked for, and by every
member alone (its own first answer, as it votes). Each strategy is compared with the best
member and with the largest model alone on the same questions (McNemar's exact test). Replies
are read the way the label is (:func:`~lmteams.consensus.scoring.item_extractor`). Strategies that start from the nodes' independent answers share them (see
:class:`~lmteams.strategies.base.FirstAnswers`) but each is charged the full cost of what it
used, so the token and call figures are those of running it alone. After each question its
label is stored for learned reliability. With ``train``, a meta-model is fitted on the
candidates of every question and saved for the team (``--consensus learned`` then uses it).

The run (kind ``eval``) holds an ``eval_item`` event per question and strategy and the summary
as its result; :func:`plot_accuracy_cost` draws accuracy against tokens from that summary.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import BaseModel, ConfigDict

from lmteams.config import TeamSpec
from lmteams.consensus import dawid_skene, meta
from lmteams.consensus.answers import Extractor, get_extractor
from lmteams.consensus.datasets import Item
from lmteams.consensus.scoring import gold_key, item_extractor, paired, wilson
from lmteams.consensus.settings import ConsensusSpec
from lmteams.models.base import ModelBackend
from lmteams.runtime.base import Runtime
from lmteams.state.events import EvalItem
from lmteams.state.reliability import ReliabilityBook
from lmteams.state.store import EventStore
from lmteams.strategies.base import Context, FirstAnswers
from lmteams.strategies.learned import ballots
from lmteams.strategies.result import AskResult, NodeAnswer
from lmteams.strategies.runners import run_strategy
from lmteams.team import Team

BASELINE = "greedy"
#: Backends that are tools, not models: they do not answer a question alone.
TOOL_BACKENDS = frozenset({"retrieval", "python"})
ItemCallback = Callable[[int, str, bool, AskResult], None]


class StrategyScore(BaseModel):
    """One strategy's figures over the dataset."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    questions: int
    correct: int
    no_answer: int
    accuracy: float
    ci_low: float
    ci_high: float
    calls: int
    prompt_tokens: int
    completion_tokens: int
    wall_s: float

    @property
    def tokens_per_question(self) -> float:
        return (self.prompt_tokens + self.completion_tokens) / max(1, self.questions)


class Comparison(BaseModel):
    """A strategy against a one-model baseline on the same questions."""

    model_config = ConfigDict(frozen=True)

    strategy: str
    against: str  # "best member" or "largest alone"
    baseline: str  # the row compared with: a member's node, or "greedy"
    difference: float  # accuracy of the strategy minus the baseline's (a fraction)
    wins: int  # questions the strategy got right and the baseline wrong
    losses: int  # questions the baseline got right and the strategy wrong
    p_value: float  # McNemar's exact test, two-sided


class EvalReport(BaseModel):
    """What ``lmteams eval`` prints; also its ``--json`` output and the run's stored result."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    dataset: str
    team: str
    questions: int
    wall_s: float
    scores: list[StrategyScore]
    training: dict[str, Any] | None = None
    #: Each answering node alone (its first answer, sampled as it votes), in team order.
    members: list[StrategyScore] = []
    best_member: str | None = None
    #: The node the greedy baseline ran on, and its model (the team's largest).
    largest_node: str | None = None
    largest_model: str | None = None
    comparisons: list[Comparison] = []


class _Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.correct = self.no_answer = self.questions = 0
        self.calls = self.prompt = self.completion = 0
        self.wall = 0.0
        self.right: dict[int, bool] = {}  # by question index, for paired tests

    def add(self, index: int, result: AskResult, correct: bool) -> None:
        self._count(index, correct, result.answer is None, result.calls, result.wall_s)
        self.prompt += result.prompt_tokens
        self.completion += result.completion_tokens

    def add_answer(self, index: int, answer: NodeAnswer, correct: bool) -> None:
        missing = answer.status != "done" or not answer.answer_key
        self._count(index, correct, missing, 1, answer.latency_s)
        self.prompt += answer.prompt_tokens
        self.completion += answer.completion_tokens

    def _count(self, index: int, correct: bool, missing: bool, calls: int, wall_s: float) -> None:
        self.questions += 1
        self.correct += correct
        self.no_answer += missing
        self.calls += calls
        self.wall += wall_s
        self.right[index] = correct

    def vector(self, n: int) -> list[bool]:
        return [self.right.get(i, False) for i in range(n)]

    def score(self) -> StrategyScore:
        low, high = wilson(self.correct, self.questions)
        return StrategyScore(
            strategy=self.name,
            questions=self.questions,
            correct=self.correct,
            no_answer=self.no_answer,
            accuracy=self.correct / max(1, self.questions),
            ci_low=low,
            ci_high=high,
            calls=self.calls,
            prompt_tokens=self.prompt,
            completion_tokens=self.completion,
            wall_s=self.wall,
        )


async def evaluate(
    spec: TeamSpec,
    items: Sequence[Item],
    store: EventStore,
    strategies: Sequence[str],
    *,
    settings: ConsensusSpec | None = None,
    extractor: str | Extractor = "auto",
    train: bool = False,
    parallel: int = 1,
    dataset: str = "",
    baseline: bool = True,
    members: bool = True,
    on_item: ItemCallback | None = None,
    runtime: Runtime | None = None,
    backends: Mapping[str, ModelBackend] | None = None,
    source: str | Path | None = None,
) -> EvalReport:
    """Run every item through ``[greedy] + strategies`` and score them against the labels.

    ``parallel`` questions are in flight at once (their nodes' calls batch together on an
    embedded engine); within a question the strategies run one after another. With
    ``members``, every answering node's own first answer is scored too (shared with the
    strategies that used it; a node no strategy asked is asked once more).

    ``source`` is the dataset file the items were read from (best absolute): recorded, with a
    digest of the items, so that ``lmteams resume`` can read them again.
    """
    names = list(dict.fromkeys([BASELINE, *strategies] if baseline else strategies))
    params = {
        "dataset": dataset,
        "questions": len(items),
        "strategies": names,
        "train": train,
        # what `lmteams resume` needs to redo the run (lmteams.strategies.resume)
        "source": str(source) if source is not None else None,
        "items_sha256": items_digest(items),
        "settings": settings.model_dump(mode="json") if settings is not None else None,
        "extractor": extractor if isinstance(extractor, str) else None,
        "parallel": parallel,
        "members": members,
    }
    team = Team(spec, store, kind="eval", params=params, runtime=runtime, backends=backends)
    async with team:
        report = await evaluate_on(
            team,
            items,
            names,
            settings or spec.consensus,
            extractor,
            train=train,
            parallel=parallel,
            members=members,
            dataset=dataset,
            on_item=on_item,
        )
        team.result = report.model_dump(mode="json")
    return report


def items_digest(items: Sequence[Item]) -> str:
    """SHA-256 of the questions and labels, in order: a resumed run checks it against the
    dataset file it reads again."""
    digest = hashlib.sha256()
    for item in items:
        digest.update(orjson.dumps(item.model_dump(mode="json"), option=orjson.OPT_SORT_KEYS))
        digest.update(b"\n")
    return digest.hexdigest()


async def evaluate_on(
    team: Team,
    items: Sequence[Item],
    names: Sequence[str],
    options: ConsensusSpec,
    extractor: str | Extractor,
    *,
    train: bool,
    parallel: int,
    members: bool,
    dataset: str,
    on_item: ItemCallback | None = None,
    logged: Set[tuple[int, str]] = frozenset(),
) -> EvalReport:
    """The evaluation of :func:`evaluate` on an open team: ``names`` are the strategies, the
    baseline first if it is run. ``logged``: the (question index, strategy) pairs whose
    ``eval_item`` event a resumed run already holds, not logged again."""
    spec = team.spec
    baseline = BASELINE in names
    largest = options.node or largest_model_node(spec)
    greedy_options = options.model_copy(update={"node": largest})
    answering = answering_nodes(spec) if members else []
    tallies = {name: _Tally(name) for name in names}
    member_tallies = {node: _Tally(node) for node in answering}
    book = ReliabilityBook(team.store, spec.name)
    training: list[tuple[list[NodeAnswer], str, str | None]] = []
    started = time.perf_counter()
    limit = asyncio.Semaphore(max(1, parallel))

    async def one(index: int, item: Item) -> None:
        async with limit:
            extract = (
                item_extractor(item.question, item.answer, item.answer_type, extractor)
                if isinstance(extractor, str)
                else get_extractor(extractor)
            )
            gold = gold_key(item.answer, extract)
            cache = FirstAnswers(item.question)
            judge_pick: str | None = None
            for name in names:
                chosen = greedy_options if name == BASELINE else options
                result = await run_strategy(team, item.question, name, chosen, extract, cache=cache)
                correct = bool(gold) and result.answer_key == gold
                tallies[name].add(index, result, correct)
                if name == "judge" and result.detail.get("kind") == "pick":
                    judge_pick = result.answer_key
                if (index, name) not in logged:
                    team.event(
                        EvalItem(
                            index=index,
                            strategy=name,
                            answer=result.answer,
                            gold=item.answer,
                            correct=correct,
                            calls=result.calls,
                            tokens=result.total_tokens,
                            wall_s=result.wall_s,
                        ),
                    )
                if on_item:
                    on_item(index, name, correct, result)
            if answering:
                await _score_members(team, item, index, options, extract, cache, gold)
            if train:
                if set(cache.by_node) != set(spec.node_names):  # every node's answer
                    await run_strategy(
                        team, item.question, "majority", options, extract, cache=cache
                    )
                answers = [cache.by_node[n] for n in spec.node_names]
                if "learned" not in names:
                    book.record(
                        item.question,
                        {a.node: a.answer_key or "" for a in answers if a.status == "done"},
                        team.run_id,
                    )
                training.append((answers, gold, judge_pick))
            if gold:
                book.label(item.question, gold, source=f"eval:{dataset}")

    async def _score_members(
        team: Team,
        item: Item,
        index: int,
        options: ConsensusSpec,
        extract: Extractor,
        cache: FirstAnswers,
        gold: str,
    ) -> None:
        missing = [n for n in answering if n not in cache.by_node]
        if missing:
            await Context(team, item.question, options, extract, cache=cache).first_answers(missing)
        for node in answering:
            answer = cache.by_node[node]
            correct = bool(gold) and answer.status == "done" and answer.answer_key == gold
            member_tallies[node].add_answer(index, answer, correct)
            if (index, f"member:{node}") not in logged:
                team.event(
                    EvalItem(
                        index=index,
                        strategy=f"member:{node}",
                        answer=answer.answer,
                        gold=item.answer,
                        correct=correct,
                        calls=1,
                        tokens=answer.prompt_tokens + answer.completion_tokens,
                        wall_s=answer.latency_s,
                    ),
                )

    async with asyncio.TaskGroup() as group:
        for index, item in enumerate(items):
            group.create_task(one(index, item))
    trained = train_meta(spec, book, training, uses_judge="judge" in names) if train else None
    member_scores = [member_tallies[n].score() for n in answering]
    best = max(member_scores, key=lambda m: m.correct, default=None)  # first of equals
    report = EvalReport(
        run_id=team.run_id,
        dataset=dataset,
        team=spec.name,
        questions=len(items),
        wall_s=time.perf_counter() - started,
        scores=[tallies[name].score() for name in names],
        training=trained,
        members=member_scores,
        best_member=best.strategy if best else None,
        largest_node=largest if baseline else None,
        largest_model=spec.model_of(spec.node(largest)) if baseline else None,
        comparisons=_comparisons(
            names,
            tallies,
            member_tallies[best.strategy] if best else None,
            len(items),
        ),
    )
    return report


def _comparisons(
    names: Sequence[str], tallies: Mapping[str, _Tally], best: _Tally | None, n: int
) -> list[Comparison]:
    baselines = [("best member", best)] if best is not None else []
    if BASELINE in tallies:
        baselines.append(("largest alone", tallies[BASELINE]))
    out: list[Comparison] = []
    for name in names:
        if name == BASELINE:
            continue
        mine = tallies[name].vector(n)
        for against, other in baselines:
            assert other is not None
            test = paired(mine, other.vector(n))
            out.append(
                Comparison(
                    strategy=name,
                    against=against,
                    baseline=other.name,
                    difference=(sum(mine) - sum(other.vector(n))) / max(1, n),
                    wins=test.wins,
                    losses=test.losses,
                    p_value=test.p_value,
                )
            )
    return out


def answering_nodes(spec: TeamSpec) -> list[str]:
    """The nodes that answer with a model (tool nodes, retrieval and python, do not)."""
    return [
        node.name
        for node in spec.nodes
        if spec.models[spec.model_of(node)].backend not in TOOL_BACKENDS
    ]


def model_size_bytes(spec: TeamSpec, model: str) -> int | None:
    """The size of a model's weights when it is known (embedded models), else None."""
    from lmteams.models.catalog import CATALOG, DEFAULT_MODEL

    entry = spec.models[model]
    if entry.backend != "embedded":
        return None
    options = entry.options
    path = options.get("path")
    if isinstance(path, str):
        try:
            return os.path.getsize(path)
        except OSError:
            return None
    known = CATALOG.get(str(options.get("model") or DEFAULT_MODEL))
    return known.size_bytes if known else None


def largest_model_node(spec: TeamSpec) -> str:
    """The first answering node of the team's largest model (the first node when no size is
    known): the node "the largest model alone" is measured on."""
    nodes = answering_nodes(spec) or spec.node_names
    sizes = {n: model_size_bytes(spec, spec.model_of(spec.node(n))) or 0 for n in nodes}
    return max(nodes, key=lambda n: sizes[n])  # max keeps the first of equals


def train_meta(
    spec: TeamSpec,
    book: ReliabilityBook,
    examples: Sequence[tuple[Sequence[NodeAnswer], str, str | None]],
    *,
    uses_judge: bool,
    folds: int = 5,
) -> dict[str, Any]:
    """Fit and save the team's meta-model; report its question-level accuracy.

    Accuracy is measured by ``folds``-fold cross-validation over questions (a question whose
    right answer no node gave cannot be won by any candidate ranking and counts as wrong).
    """
    items, labels, _ = book.history()
    reliability = dawid_skene.fit(items, labels, nodes=spec.node_names)
    book.save(reliability)
    groups = []
    for answers, gold, pick in examples:
        candidates = meta.candidate_features(ballots(list(answers)), reliability, pick)
        groups.append([(row, int(answer.key == gold)) for answer, _, row in candidates])
    rows = [row for group in groups for row, _ in group]
    targets = [label for group in groups for _, label in group]
    if not rows or len(set(targets)) < 2:
        return {
            "trained": False,
            "reason": "training needs candidates that are right and candidates that are wrong",
            "questions": len(examples),
        }
    model = meta.fit_logistic(rows, targets, uses_judge=uses_judge)
    cv = _cross_validated(groups, folds, uses_judge)
    metrics = {
        "trained": True,
        "questions": len(examples),
        "candidates": len(rows),
        "cv_accuracy": cv,
        "train_accuracy": _question_accuracy(model, groups),
        "uses_judge": uses_judge,
        "weights": dict(zip(model.features, model.weights, strict=True)),
    }
    book.save_meta(model, metrics)
    return metrics


def _question_accuracy(model: meta.LogisticModel, groups: Sequence[Sequence[Any]]) -> float:
    right = 0
    for group in groups:
        if not group:
            continue
        probs = model.probabilities([row for row, _ in group])
        right += group[int(np.argmax(probs))][1]
    return right / max(1, len(groups))


def _cross_validated(groups: Sequence[Sequence[Any]], folds: int, uses_judge: bool) -> float | None:
    if len(groups) < folds * 2:
        return None
    right = 0
    for fold in range(folds):
        train = [g for i, g in enumerate(groups) if i % folds != fold]
        test = [g for i, g in enumerate(groups) if i % folds == fold]
        rows = [row for g in train for row, _ in g]
        targets = [label for g in train for _, label in g]
        if len(set(targets)) < 2:
            return None
        model = meta.fit_logistic(rows, targets, uses_judge=uses_judge)
        right += round(_question_accuracy(model, test) * len(test))
    return right / len(groups)


def load_dataset(path: str | Path) -> list[Item]:
    from lmteams.consensus.datasets import parse_dataset
    from lmteams.limits import MAX_DATASET_BYTES, read_text

    return parse_dataset(read_text(path, max_bytes=MAX_DATASET_BYTES), source=str(path))


def plot_accuracy_cost(report: Mapping[str, Any], path: str | Path) -> Path:
    """Accuracy (with its 95% interval) against tokens per question, one point per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = report["scores"]
    figure, axes = plt.subplots(figsize=(8, 4.5))
    markers = "osD^vP*Xh<>"
    for index, score in enumerate(scores):
        tokens = (score["prompt_tokens"] + score["completion_tokens"]) / max(1, score["questions"])
        accuracy = score["accuracy"]
        axes.errorbar(
            tokens,
            accuracy,
            yerr=[[accuracy - score["ci_low"]], [score["ci_high"] - accuracy]],
            fmt=markers[index % len(markers)],
            capsize=3,
            label=f"{score['strategy']} ({accuracy:.0%})",
        )
    axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    axes.set_xscale("log")
    axes.set_xlabel("tokens per question (log scale)")
    axes.set_ylabel("accuracy (95% CI)")
    axes.set_ylim(0, 1)
    axes.set_title(f"{report.get('team', '')} on {report.get('dataset', '')}: accuracy vs cost")
    axes.grid(True, alpha=0.3)
    figure.tight_layout()
    out = Path(path)
    figure.savefig(out, dpi=120)
    plt.close(figure)
    return out
