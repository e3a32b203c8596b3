"""A frozen pydantic model that looks up the items of one of its tuples by name, cheaply.

Team files (nodes by name) and projects (tasks by id) are read on every call of a run, so the
name -> item dict is built once and kept in private state. Two things make that subtle:
``model_copy(update=...)`` copies private state too (so the cache is keyed on the tuple it was
built from), and pydantic compares private state in ``==`` (so equality compares fields only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, PrivateAttr

Item = TypeVar("Item")


class IndexedModel(BaseModel):
    _index: tuple[tuple[Any, ...], dict[str, Any]] | None = PrivateAttr(None)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, type(self)):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def _indexed(self, items: tuple[Item, ...], name: Callable[[Item], str]) -> dict[str, Item]:
        """``items`` by ``name``, built once per tuple."""
        # Through __pydantic_private__: pydantic's attribute hook costs about 1 µs a read, and
        # this runs several times per node call.
        private = self.__pydantic_private__
        assert private is not None
        cached = private["_index"]
        if cached is None or cached[0] is not items:
            cached = private["_index"] = (items, {name(item): item for item in items})
        by_name: dict[str, Item] = cached[1]
        return by_name
