"""lmteams: teams of language models run as distributed systems.

``ask`` and ``run_project`` block until the run ends (in a script or a notebook alike);
``ask_async`` and ``run_project_async`` are the same calls to ``await`` (see lmteams.sync).
A command's flags are a request model: ``simulate(SimulationRequest(...))``,
``recommend(AdviceRequest(...))``, ``await run_request(RunRequest(...), store)``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below, for type checkers and editors
    from lmteams.config import ModelSpec, NodeSpec, TeamSpec, load_team, parse_team
    from lmteams.coordinator.request import (
        RunReport,
        RunRequest,
        SweepReport,
        SweepRequest,
        run_request,
        sweep_request,
    )
    from lmteams.coordinator.settings import RunResult, RunSettings
    from lmteams.errors import (
        AuthenticationFailed,
        BadOutput,
        BudgetExceeded,
        ConfigError,
        InvalidRequest,
        LMTeamsError,
        ModelError,
        ModelTimeout,
        ModelUnavailable,
        PermanentModelError,
        RateLimited,
        RunNotFound,
        StoreError,
        TransientModelError,
    )
    from lmteams.messages import Envelope, Kind, Usage
    from lmteams.models.base import ChatMessage, Completion, ModelBackend, Sampling
    from lmteams.models.scripted import ScriptedBackend, ScriptedCall, ScriptedReply
    from lmteams.runtime.base import Runtime
    from lmteams.runtime.factory import make_runtime
    from lmteams.runtime.local import LocalRuntime
    from lmteams.scheduling.project import ProjectSpec, TaskSpec, load_project
    from lmteams.sim.request import AdviceRequest, SimulationRequest, recommend, simulate
    from lmteams.state.store import EventStore
    from lmteams.strategies.ask import ask_team
    from lmteams.strategies.result import AskResult, NodeAnswer
    from lmteams.sync import ask, ask_async, run_project, run_project_async
    from lmteams.team import Reply, Team

__version__ = "0.1.0"

#: Each public name, by the module it lives in. A name is imported on first use, so that
#: importing one part of lmteams (the store, a policy, a worker process) does not load it all
#: (half a second, numpy included).
EXPORTS: dict[str, tuple[str, ...]] = {
    "lmteams.config": ("ModelSpec", "NodeSpec", "TeamSpec", "load_team", "parse_team"),
    "lmteams.coordinator.request": (
        "RunReport",
        "RunRequest",
        "SweepReport",
        "SweepRequest",
        "run_request",
        "sweep_request",
    ),
    "lmteams.coordinator.settings": ("RunResult", "RunSettings"),
    "lmteams.errors": (
        "AuthenticationFailed",
        "BadOutput",
        "BudgetExceeded",
        "ConfigError",
        "InvalidRequest",
        "LMTeamsError",
        "ModelError",
        "ModelTimeout",
        "ModelUnavailable",
        "PermanentModelError",
        "RateLimited",
        "RunNotFound",
        "StoreError",
        "TransientModelError",
    ),
    "lmteams.messages": ("Envelope", "Kind", "Usage"),
    "lmteams.models.base": ("ChatMessage", "Completion", "ModelBackend", "Sampling"),
    "lmteams.models.scripted": ("ScriptedBackend", "ScriptedCall", "ScriptedReply"),
    "lmteams.runtime.base": ("Runtime",),
    "lmteams.runtime.factory": ("make_runtime",),
    "lmteams.runtime.local": ("LocalRuntime",),
    "lmteams.scheduling.project": ("ProjectSpec", "TaskSpec", "load_project"),
    "lmteams.sim.request": ("AdviceRequest", "SimulationRequest", "recommend", "simulate"),
    "lmteams.state.store": ("EventStore",),
    "lmteams.strategies.ask": ("ask_team",),
    "lmteams.strategies.result": ("AskResult", "NodeAnswer"),
    "lmteams.sync": ("ask", "ask_async", "run_project", "run_project_async"),
    "lmteams.team": ("Reply", "Team"),
}

_HOME = {name: module for module, names in EXPORTS.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'lmteams' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: the next lookup finds it without this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOME})


__all__ = [
    "AdviceRequest",
    "AskResult",
    "AuthenticationFailed",
    "BadOutput",
    "BudgetExceeded",
    "ChatMessage",
    "Completion",
    "ConfigError",
    "Envelope",
    "EventStore",
    "InvalidRequest",
    "Kind",
    "LMTeamsError",
    "LocalRuntime",
    "ModelBackend",
    "ModelError",
    "ModelSpec",
    "ModelTimeout",
    "ModelUnavailable",
    "NodeAnswer",
    "NodeSpec",
    "PermanentModelError",
    "ProjectSpec",
    "RateLimited",
    "Reply",
    "RunNotFound",
    "RunReport",
    "RunRequest",
    "RunResult",
    "RunSettings",
    "Runtime",
    "Sampling",
    "ScriptedBackend",
    "ScriptedCall",
    "ScriptedReply",
    "SimulationRequest",
    "StoreError",
    "SweepReport",
    "SweepRequest",
    "TaskSpec",
    "Team",
    "TeamSpec",
    "TransientModelError",
    "Usage",
    "__version__",
    "ask",
    "ask_async",
    "ask_team",
    "load_project",
    "load_team",
    "make_runtime",
    "parse_team",
    "recommend",
    "run_project",
    "run_project_async",
    "run_request",
    "simulate",
    "sweep_request",
]
