"""`lmteams eval`, `lmteams eval-plot`, `lmteams dataset`: score strategies on labeled questions."""

from __future__ import annotations

import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lmteams.cli.consensus_options import ConsensusFlags
from lmteams.cli.errors import eval_exit_code
from lmteams.cli.groups import with_groups
from lmteams.cli.options import DbOption, JsonOption, TeamOption, out_option
from lmteams.cli.render import eval_table, line_due, write_json
from lmteams.cli.session import open_store, run_async
from lmteams.config import load_team
from lmteams.consensus.catalog import STRATEGIES, parse_strategies
from lmteams.consensus.datasets import generate, parse_kinds, to_jsonl
from lmteams.consensus.questions import QUESTION_SETS
from lmteams.errors import ConfigError
from lmteams.strategies.ask import resolve
from lmteams.strategies.result import AskResult

if TYPE_CHECKING:
    from lmteams.strategies.evaluation import EvalReport


@with_groups
def eval_command(
    dataset: Annotated[
        Path, typer.Argument(help='JSON Lines of {"question": ..., "answer": ...}.')
    ],
    team: TeamOption = None,
    consensus: Annotated[
        str,
        typer.Option(
            "--consensus",
            "-c",
            help=f"Comma-separated strategies to compare: {', '.join(STRATEGIES)}.",
        ),
    ] = "majority",
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Fit the learned meta-model on this data and save it for the team.",
        ),
    ] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", "-l", min=1, help="Only the first N questions.")
    ] = None,
    parallel: Annotated[
        int, typer.Option("--parallel", "-p", min=1, max=256, help="Questions in flight at once.")
    ] = 1,
    nodes: Annotated[
        int | None, typer.Option("--nodes", "-n", min=1, max=4096, help="Use N nodes.")
    ] = None,
    answer: Annotated[
        str, typer.Option("--answer", "-a", help="Answer extractor (a line's answer_type wins).")
    ] = "auto",
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw accuracy against tokens to this PNG.")
    ] = None,
    flags: ConsensusFlags = ConsensusFlags(),
    json_output: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Score consensus strategies on a labeled dataset, side by side with one greedy node.

    For each strategy: accuracy with a 95% confidence interval, tokens, calls and wall time per
    question. The evaluation is stored as a run (`lmteams show RUN`) and the labels feed the
    team's learned reliability (`lmteams nodes`); --train also fits the meta-model that
    `--consensus learned` then uses. No dataset at hand? `lmteams dataset -n 100 -o data.jsonl`.

    Example: lmteams eval data.jsonl --consensus majority,judge,debate,learned --plot cost.png

    Exit codes: 0 the evaluation finished (questions left unanswered are scored, not errors), 3
    no strategy answered any question, 4 every node call failed, 2 bad input, 1 internal error,
    130 interrupted.
    """
    from lmteams.strategies.evaluation import evaluate, load_dataset, plot_accuracy_cost

    strategies = parse_strategies(consensus)
    spec = load_team(team)
    if nodes is not None:
        spec = spec.resized(nodes)
    given = flags.overrides()
    _, settings = resolve(spec, strategies[0], given)
    items = load_dataset(dataset)[:limit]
    store = open_store(db)
    names = list(dict.fromkeys(["greedy", *strategies]))
    answered = False  # did any node answer anything? (a team that never answers exits 4)
    # Progress goes to stderr (stdout keeps the table or the JSON): a live bar on a terminal,
    # else a plain line about every 5% of the answers.
    console = Console(stderr=True, highlight=False)
    total = len(items) * len(names)
    right: dict[str, list[int]] = {name: [0, 0] for name in names}
    started = time.monotonic()
    progress: Progress | None = None
    if console.is_terminal:
        progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[accuracy]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        task = progress.add_task("evaluating", total=total, accuracy="")

    done = 0

    def shown(index: int, name: str, correct: bool, result: AskResult) -> None:
        nonlocal done
        right[name][0] += correct
        right[name][1] += 1
        done += 1
        if progress is None and not line_due(done, total):
            return  # a plain line only about every 5%
        tally = "  ".join(f"{n} {r[0]}/{r[1]}" for n, r in right.items() if r[1])
        if progress is not None:
            progress.update(task, advance=1, accuracy=tally)
        else:
            elapsed = time.monotonic() - started
            console.print(
                f"evaluating: {done}/{total} answers, {elapsed:.0f}s · right: {tally}", markup=False
            )

    def advance(index: int, name: str, correct: bool, result: AskResult) -> None:
        nonlocal answered
        answered = answered or any(n.status == "done" for n in result.nodes)
        shown(index, name, correct, result)

    with progress if progress is not None else nullcontext():
        report: EvalReport = run_async(
            evaluate(
                spec,
                items,
                store,
                strategies,
                settings=settings,
                extractor=answer,
                train=train,
                parallel=parallel,
                dataset=dataset.name,
                on_item=advance,
                source=dataset.resolve(),
            )
        )
    if plot is not None:
        plot_accuracy_cost(report.model_dump(mode="json"), plot)
    if json_output:
        write_json(report)
    else:
        console = Console()
        eval_table(console, report)
        if plot is not None:
            console.print(f"plot: {plot}")
    code = eval_exit_code(report, any_node_answered=answered)
    if code:
        raise typer.Exit(code)


def eval_plot_command(
    run_id: Annotated[str, typer.Argument(help="An eval run id, or a unique prefix of one.")],
    output: Annotated[Path, out_option("PNG file to write.")] = Path("eval.png"),
    db: DbOption = None,
) -> None:
    """Plot a stored evaluation: accuracy (95% CI) against tokens per question, per strategy.

    Example: lmteams eval-plot eval-2026 -o cost.png
    """
    from lmteams.strategies.evaluation import plot_accuracy_cost

    store = open_store(db, read_only=True)
    run = store.run(run_id)
    if run.kind != "eval" or not run.result or "scores" not in run.result:
        raise ConfigError(f"run {run.run_id} is not a finished evaluation", field="RUN")
    plot_accuracy_cost(run.result, output)
    Console().print(f"wrote {output}")


def dataset_command(
    question_set: Annotated[
        str,
        typer.Option(
            "--set",
            "-s",
            help="basic: arithmetic, units, ordering. mixed: knowledge, arithmetic, dates, "
            "strings, logic (the teamwork set of bench/teamwork.py).",
        ),
    ] = "basic",
    kinds: Annotated[
        str | None,
        typer.Option(
            "--kinds", "-k", help="Comma-separated kinds of the set. Default: all of them."
        ),
    ] = None,
    count: Annotated[int, typer.Option("-n", "--count", min=1, help="Questions.")] = 100,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same questions.")] = 0,
    output: Annotated[Path | None, out_option("Write here instead of stdout.")] = None,
) -> None:
    """Generate self-checking questions as JSON Lines, each with its kind and one exact answer.

    The answers are computed by the generator (knowledge questions come from a fixed table of
    one-word facts), so a team can be scored with no download.

    Example: lmteams dataset --set mixed -n 200 -o mixed.jsonl
    """
    generators = QUESTION_SETS.get(question_set)
    if generators is None:
        raise ConfigError(
            f"unknown question set {question_set!r}; one of: {', '.join(QUESTION_SETS)}",
            field="--set",
        )
    chosen = parse_kinds(kinds, generators) if kinds is not None else list(generators)
    text = to_jsonl(generate(chosen, count, seed=seed, generators=generators))
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text)
    Console(stderr=True).print(f"wrote {count} questions to {output}")


COMMANDS = [
    ("eval", eval_command, 20),
    ("eval-plot", eval_plot_command, 21),
    ("dataset", dataset_command, 22),
]
