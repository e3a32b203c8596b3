"""One place that turns errors into one line on stderr and an exit code."""

from __future__ import annotations

import sys
from typing import NoReturn

from rich.console import Console

from lmteams.errors import ConfigError, LMTeamsError, RunNotFound

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def exit_code(exc: LMTeamsError) -> int:
    return EXIT_USAGE if isinstance(exc, ConfigError | RunNotFound) else EXIT_ERROR


def fail(exc: LMTeamsError) -> NoReturn:
    _stderr.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    sys.exit(exit_code(exc))


def interrupted() -> NoReturn:
    _stderr.print("[yellow]interrupted[/]: the run was stopped and marked cancelled", markup=True)
    sys.exit(EXIT_INTERRUPTED)
