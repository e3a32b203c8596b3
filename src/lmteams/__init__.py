"""lmteams: teams of language models run as distributed systems.

``ask`` and ``run_project`` block until the run ends (in a script or a notebook alike);
``ask_async`` and ``run_project_async`` are the same calls to ``await`` (see lmteams.sync).
A command's flags are a request model: ``simulate(SimulationRequest(...))``,
``recommend(AdviceRequest(...))``, ``await run_request(RunRequest(...), store)``.
"""

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
