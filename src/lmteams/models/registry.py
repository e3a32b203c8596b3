"""Backend registry: backend kind name -> its options model and its constructor.

Built-in kinds are listed here; third-party packages add kinds through the ``lmteams.backends``
entry-point group, each entry pointing at a :class:`BackendType`. Backend modules are imported
only when a team uses them, so ``lmteams --help`` stays fast.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from pydantic import BaseModel, ValidationError

from lmteams.errors import ConfigError
from lmteams.models.base import ModelBackend

ENTRY_POINT_GROUP = "lmteams.backends"


@dataclass(frozen=True, slots=True)
class BackendType:
    """How to validate a kind's settings and build a backend from them.

    ``module`` and ``options`` / ``factory`` are attribute names in that module, so that the
    module is imported only when used.
    """

    kind: str
    module: str
    options: str
    factory: str
    description: str = ""

    def options_model(self) -> type[BaseModel]:
        return getattr(importlib.import_module(self.module), self.options)  # type: ignore[no-any-return]

    def factory_callable(self) -> Callable[..., ModelBackend]:
        return getattr(importlib.import_module(self.module), self.factory)  # type: ignore[no-any-return]


BUILTIN: dict[str, BackendType] = {
    t.kind: t
    for t in (
        BackendType(
            "embedded",
            "lmteams.models.embedded",
            "EmbeddedOptions",
            "EmbeddedBackend",
            "GGUF model served in-process by xllamacpp: smollm2-135m (default), "
            "qwen2.5-coder-0.5b, qwen2.5-coder-1.5b (`lmteams models`) or a file",
        ),
        BackendType(
            "openai",
            "lmteams.models.openai",
            "OpenAIOptions",
            "OpenAIBackend",
            "any OpenAI-compatible HTTP endpoint",
        ),
        BackendType(
            "scripted",
            "lmteams.models.scripted",
            "ScriptedOptions",
            "from_options",
            "deterministic answers for tests and benchmarks",
        ),
        BackendType(
            "oracle",
            "lmteams.models.oracle",
            "OracleOptions",
            "from_options",
            "reference solutions from a folder, by file name (acceptance runs)",
        ),
        BackendType(
            "retrieval",
            "lmteams.tools.retrieval",
            "RetrievalOptions",
            "RetrievalBackend",
            "BM25 search over a local document index (SQLite FTS5)",
        ),
        BackendType(
            "python",
            "lmteams.tools.python_tool",
            "PythonToolOptions",
            "PythonToolBackend",
            "runs a short Python program in the sandbox",
        ),
        BackendType(
            "mcp",
            "lmteams.tools.mcp_tool",
            "McpToolOptions",
            "McpToolBackend",
            "calls one tool of an MCP server (stdio or Streamable HTTP; extra 'mcp')",
        ),
    )
}


@cache
def backend_types() -> dict[str, BackendType]:
    """Every known backend kind: built-ins first, then entry-point plugins."""
    types = dict(BUILTIN)
    for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            loaded = entry.load()
        except Exception:  # a broken plugin must not break every team
            continue
        if isinstance(loaded, BackendType) and loaded.kind not in types:
            types[loaded.kind] = loaded
    return types


def backend_type(kind: str) -> BackendType:
    types = backend_types()
    if kind not in types:
        raise ConfigError(f"unknown backend {kind!r}; known: {', '.join(sorted(types))}")
    return types[kind]


def validate_options(kind: str, raw: dict[str, Any]) -> BaseModel:
    """Validate a model's settings against its backend's options model."""
    try:
        return backend_type(kind).options_model().model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(first["msg"], field=where or None) from None


def create_backend(kind: str, options: BaseModel, name: str) -> ModelBackend:
    return backend_type(kind).factory_callable()(options, name=name)


async def check_backend_ready(name: str, backend: ModelBackend) -> None:
    """``backend.check_ready()`` for the team's model ``name``: its errors name
    ``models.NAME``."""
    try:
        await backend.check_ready()
    except ConfigError as exc:
        raise exc.under(f"models.{name}") from None
