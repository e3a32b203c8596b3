"""One place that turns errors into one line on stderr, and outcomes into exit codes.

code  ask                      eval                           run
0     an answer                the evaluation finished        every task done
1     internal error (a bug in lmteams: one line; LMTEAMS_DEBUG=1 shows the traceback)
2     bad input: a file, a flag, an unknown run, an event log that cannot be opened or written
3     no consensus             no strategy answered any item  (not used)
4     every node failed        every node call failed         tasks failed, stalled or stopped
130   interrupted (Ctrl-C): the run is marked cancelled
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, NoReturn

from rich.console import Console
from rich.markup import escape

from lmteams.errors import (
    BudgetExceeded,
    ConfigError,
    LMTeamsError,
    ModelError,
    RunNotFound,
    SandboxUnavailable,
    StoreError,
)

if TYPE_CHECKING:
    from lmteams.coordinator.settings import RunResult
    from lmteams.strategies.evaluation import EvalReport
    from lmteams.strategies.result import AskResult

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_CONSENSUS = 3
EXIT_FAILED = 4
EXIT_INTERRUPTED = 130

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code(exc: LMTeamsError) -> int:
    # bad input: what the user gave (or must change, as a sandbox that cannot isolate code)
    if isinstance(exc, ConfigError | RunNotFound | StoreError | SandboxUnavailable):
        return EXIT_USAGE
    if isinstance(exc, ModelError | BudgetExceeded):
        return EXIT_FAILED
    return EXIT_ERROR


def ask_exit_code(result: AskResult) -> int:
    """0 with an answer; 4 when no node answered at all; 3 when nodes answered but none won."""
    if result.answer is not None:
        return EXIT_OK
    if not any(node.status == "done" for node in result.nodes):
        return EXIT_FAILED
    return EXIT_NO_CONSENSUS


def eval_exit_code(report: EvalReport, *, any_node_answered: bool) -> int:
    """0 when the evaluation has results; a question left unanswered is a result (scored wrong).

    3 when no strategy compared answered any question (the greedy baseline, one node's answer,
    is not a strategy the user asked for unless it is the only one).
    """
    if not any_node_answered:
        return EXIT_FAILED
    scores = [s for s in report.scores if s.strategy != "greedy"] or report.scores
    if all(score.no_answer == score.questions for score in scores):
        return EXIT_NO_CONSENSUS
    return EXIT_OK


def run_exit_code(result: RunResult) -> int:
    """0 when every task is done; 4 for a run that failed, stalled or stopped at its budget."""
    return EXIT_OK if result.status == "done" else EXIT_FAILED


def fail(exc: LMTeamsError) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False)
    sys.exit(exit_code(exc))


def leaf_errors(exc: BaseException) -> list[BaseException]:
    """The exceptions inside (nested) exception groups, or ``[exc]`` itself."""
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in leaf_errors(inner)]
    return [exc]


def internal(exc: Exception) -> NoReturn:
    """An exception lmteams did not raise on purpose: one line, exit 1 (a traceback on request).

    A task group that failed with one of our own errors inside is that error, not a bug.
    """
    leaves = leaf_errors(exc)
    ours = [leaf for leaf in leaves if isinstance(leaf, LMTeamsError)]
    if ours:
        fail(ours[0])
    if os.environ.get("LMTEAMS_DEBUG"):
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    cause = leaves[0]  # what went wrong, not the task group that carried it
    first = (str(cause).strip().splitlines() or [""])[0]
    detail = f"{type(cause).__name__}: {first}" if first else type(cause).__name__
    _stderr.print(
        f"[bold red]error:[/] internal error (a bug in lmteams): {escape(detail)}"
        + ("" if os.environ.get("LMTEAMS_DEBUG") else " · LMTEAMS_DEBUG=1 shows the traceback"),
        markup=True,
        highlight=False,
    )
    sys.exit(EXIT_ERROR)


def interrupted() -> NoReturn:
    _stderr.print("[yellow]interrupted[/]: the run was stopped and marked cancelled", markup=True)
    sys.exit(EXIT_INTERRUPTED)
