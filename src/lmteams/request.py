"""Request models: what a command's flags ask for, as the one argument of a library call.

A request is a frozen pydantic model whose fields are the command's flags (choices as
``Literal`` types, ranges as constraints). Building one from Python or from the CLI validates it
the same way, and a bad value is the one-line error the CLI prints (``--harness: unknown harness
'x'; one of: lmteams, rounds``): this module is the one place that turns a validation error into
a :class:`~lmteams.errors.ConfigError` naming the flag and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from lmteams.errors import ConfigError


def flag_error(exc: ValidationError, flags: Mapping[str, str] | None = None) -> ConfigError:
    """The first problem of ``exc`` as ``--flag: problem``; ``flags`` maps a field to its flag
    where the flag is not ``--`` plus the field's name with dashes."""
    error = exc.errors()[0]
    name = str(error["loc"][0]) if error["loc"] else ""
    flag = (flags or {}).get(name) or ("--" + name.replace("_", "-") if name else None)
    kind = error["type"]
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str((error.get("ctx") or {}).get("expected", "")))
        label = flag.lstrip("-") if flag else "value"
        problem = f"unknown {label} {error['input']!r}; one of: {', '.join(choices)}"
    elif kind == "extra_forbidden":
        problem = "unknown field"
    elif kind == "missing":
        problem = "required field is missing"
    else:
        problem = str(error["msg"]).removeprefix("Value error, ")
    return ConfigError(problem, field=flag)


def comma_separated(what: str) -> BeforeValidator:
    """A list flag's text ("a, b") as a list of names; a list passes as it is; none is refused
    (``no WHAT given``)."""

    def split(value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple) and not value:
            raise ValueError(f"no {what} given")
        return value

    return BeforeValidator(split)


class Request(BaseModel):
    """Base of the request models: frozen, no unknown fields, errors named by flag."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: field -> flag, where the flag is not ``--`` plus the field's name with dashes
    flags: ClassVar[Mapping[str, str]] = {}

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise flag_error(exc, type(self).flags) from None

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Self:
        try:
            return super().model_validate(obj, *args, **kwargs)
        except ValidationError as exc:
            raise flag_error(exc, cls.flags) from None


__all__ = ["Request", "comma_separated", "flag_error"]
