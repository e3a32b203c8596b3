"""Option groups: flags several commands share, declared once and given to a command as one object.

A group is a class made a frozen dataclass by :func:`option_group`, each field an
``Annotated[type, typer.Option(...)]`` with its default. A command decorated with
:func:`with_groups` declares a parameter of the group's type; Typer sees the group's flags in
its place (same order, same help), and the command receives them as one group object::

    @option_group
    class ServeFlags:
        host: Annotated[str, typer.Option("--host")] = "127.0.0.1"

    @with_groups
    def serve_command(name: NameOption, serve: ServeFlags = ServeFlags()) -> None:
        print(serve.host)

Typer has no option groups of its own (click's come as a plugin); this keeps each shared flag's
declaration, default and help in one place.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform

_MARK = "__lmteams_option_group__"
T = TypeVar("T")
R = TypeVar("R")


@dataclass_transform(frozen_default=True)
def option_group(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass of flags for :func:`with_groups`."""
    group = dataclasses.dataclass(frozen=True)(cls)
    setattr(group, _MARK, True)
    return group


def _is_group(annotation: object) -> bool:
    return isinstance(annotation, type) and getattr(annotation, _MARK, False)


def with_groups(command: Callable[..., R]) -> Callable[..., R]:
    """The command with each option-group parameter spread into the group's own flags."""
    hints = typing.get_type_hints(command, include_extras=True)
    parameters: list[inspect.Parameter] = []
    groups: dict[str, tuple[type[Any], list[str]]] = {}
    for parameter in inspect.signature(command).parameters.values():
        kind = hints.get(parameter.name, parameter.annotation)
        if not _is_group(kind):
            parameters.append(parameter.replace(annotation=kind))
            continue
        fields = typing.get_type_hints(kind, include_extras=True)
        names = [f.name for f in dataclasses.fields(kind)]
        groups[parameter.name] = (kind, names)
        parameters.extend(
            inspect.Parameter(f.name, parameter.kind, default=f.default, annotation=fields[f.name])
            for f in dataclasses.fields(kind)
        )

    @functools.wraps(command)
    def expanded(**values: Any) -> R:
        for name, (kind, names) in groups.items():
            values[name] = kind(**{field: values.pop(field) for field in names})
        return command(**values)

    signature = inspect.Signature(parameters, return_annotation=hints.get("return", None))
    expanded.__signature__ = signature  # type: ignore[attr-defined]
    expanded.__annotations__ = {p.name: p.annotation for p in parameters}
    return expanded


__all__ = ["option_group", "with_groups"]
