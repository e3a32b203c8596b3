"""Usage errors (a bad flag value, an unknown option or command) as one line and exit code 2.

Click draws these as a usage banner and a boxed message; every other bad input is one
``error: ...`` line (:mod:`lmteams.cli.errors`), so these are too. ``lmteams`` with no
arguments still prints the help.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

from lmteams.cli.errors import fail
from lmteams.errors import ConfigError

# The click that typer parses with (its own vendored copy in newer typer releases, the click
# package in older ones): its UsageError is the base of typer.BadParameter.
UsageError: type[Exception] = next(
    kind for kind in typer.BadParameter.__mro__ if kind.__name__ == "UsageError"
)


def usage_failed(exc: Exception) -> NoReturn:
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "lmteams"
    fail(ConfigError(f"{' '.join(str(message).split())} (see {path} -h)"))


def _help_instead(exc: Exception) -> bool:
    """``lmteams`` alone raises a usage error whose message is the help: show it as it is."""
    return any(kind.__name__ == "NoArgsIsHelpError" for kind in type(exc).__mro__)


class OneLineUsage(TyperGroup):
    """The root command group: parsing errors, its own or a command's, end as one line."""

    def make_context(
        self,
        info_name: str | None,
        args: Sequence[str] | list[str],
        parent: Any = None,
        **extra: Any,
    ) -> Any:
        try:
            return super().make_context(info_name, list(args), parent=parent, **extra)
        except UsageError as exc:
            if _help_instead(exc):
                raise
            usage_failed(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:  # a command's own flags are parsed in here
            if _help_instead(exc):
                raise
            usage_failed(exc)
