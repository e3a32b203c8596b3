"""The event log's contract: one frozen model per event type, a union discriminated on ``type``.

Every writer builds one of these models and hands it to :meth:`Journal.event
<lmteams.state.journal.Journal.event>` (or :meth:`Team.event <lmteams.team.Team.event>`); every
reader gets them back from :attr:`EventRecord.event <lmteams.state.store.EventRecord.event>`.
Messages (request and reply envelopes) are not events: they stay slotted dataclasses on the
hot path (:mod:`lmteams.messages`) and are read as their logged dicts.

On disk an event is a row whose ``type`` column holds the model's ``type`` and whose ``data``
column holds the other fields as JSON, only those the writer set (:func:`event_json`), so a
log holds the keys and values the dict writers of earlier versions wrote (in the model's
field order). Writing is strict: a field of the wrong type fails where the event is built.
Reading is lenient:
fields a version did not write take their defaults, fields a model does not declare are kept
as extras, and a row of an unknown type (or one that no longer fits its model) is read as
:class:`UnknownEvent`, so old logs keep loading and resuming.

Adding an event type: a model here, in :data:`AnyEvent`; the test in
``tests/state/test_events.py`` fails while a writer constructs a type that is not declared.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, get_args

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmteams.errors import StoreError

if TYPE_CHECKING:
    from lmteams.scheduling.policy import Note

#: The row type of a logged envelope (not an event model).
MESSAGE = "message"


class Event(BaseModel):
    """Base of every event model (frozen; extras kept when reading an older or newer log)."""

    model_config = ConfigDict(
        frozen=True, extra="allow", validate_by_name=True, validate_by_alias=True
    )

    type: str


# -- a run and its calls (team.py) -----------------------------------------------------------


class RunStarted(Event):
    type: Literal["run_started"] = "run_started"
    kind: str = ""
    team: dict[str, Any] = {}
    runtime: str = ""
    params: dict[str, Any] = {}
    pid: int | None = None
    host: str | None = None


class RunResumed(Event):
    type: Literal["run_resumed"] = "run_resumed"
    runtime: str = ""
    committed_calls: int = 0
    logged_replies: int = 0
    pid: int | None = None
    host: str | None = None


class RunFailed(Event):
    type: Literal["run_failed"] = "run_failed"
    error: str = ""


class RunFinished(Event):
    type: Literal["run_finished"] = "run_finished"
    status: str = ""
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0


class CallReplayed(Event):
    """A call answered from the log: by its idempotency ``key``, or an unkeyed ``reply_id``."""

    type: Literal["call_replayed"] = "call_replayed"
    key: str | None = None
    reply_id: str | None = None


class CallFailed(Event):
    type: Literal["call_failed"] = "call_failed"
    request_id: str = ""
    error: str = ""  # the error's class name
    message: str = ""
    transient: bool = False


# -- the coordinator (coordinator/run.py, rounds.py, dynamic.py, planner.py) -----------------


class CoordinatorStarted(Event):
    """A coordinator segment began (``start``, or ``resume`` after a crash)."""

    type: Literal["coordinator"] = "coordinator"
    pid: int | None = None
    host: str | None = None
    segment: str = "start"


class Schedule(Event):
    type: Literal["schedule"] = "schedule"
    topology: str | None = None
    workers: list[str] = []
    lead: str | None = None
    plan: Any = None
    n: int | None = None
    c: int | None = None
    p: float | None = None
    harness: str | None = None
    max_rounds: int | None = None


class ScheduleResumed(Event):
    type: Literal["schedule_resumed"] = "schedule_resumed"
    in_flight: list[str] = []
    claims: list[str] = []
    lead_request: bool = False


class Sched(Event):
    """One input to the scheduling policy (``op`` and its arguments), replayed on resume."""

    type: Literal["sched"] = "sched"
    op: str
    task: str | None = None
    node: str | None = None
    requeue: bool | None = None
    avoid: bool | None = None
    detail: str | None = None
    pairs: list[list[str]] | None = None
    attempt: int | None = None
    until: str | None = None
    now: float | None = None
    done: bool | None = None
    raw: Any = None

    def args(self) -> dict[str, Any]:
        """The arguments the policy input was applied with (as logged)."""
        return self.model_dump(exclude_unset=True, exclude={"type", "op"})


class TaskAssigned(Event):
    type: Literal["task_assigned"] = "task_assigned"
    task: str
    round: int | None = None


class TaskDone(Event):
    type: Literal["task_done"] = "task_done"
    task: str
    attempts: int = 1


class TaskFailed(Event):
    type: Literal["task_failed"] = "task_failed"
    task: str
    error: str | None = None


class TaskParked(Event):
    """A task's check needs another task's module first: it waits for ``waiting_on``."""

    type: Literal["task_parked"] = "task_parked"
    task: str
    attempt: int = 1
    parks: int = 1
    waiting_on: str | None = None
    reason: str | None = None


class TaskInterrupted(Event):
    type: Literal["task_interrupted"] = "task_interrupted"
    task: str
    error: str | None = None
    requeue: bool = False


class BudgetStop(Event):
    type: Literal["budget_stop"] = "budget_stop"
    reason: str = ""
    task: str | None = None


class NodeLost(Event):
    type: Literal["node_lost"] = "node_lost"
    error: str = ""


class Stalled(Event):
    type: Literal["stalled"] = "stalled"
    reason: str = ""
    round: int | None = None


#: What a scheduling policy notes (:class:`lmteams.scheduling.policy.Note`'s kinds).
NoteKind: TypeAlias = Literal[
    "claim_refused",
    "assignment_rejected",
    "lead_fallback",
    "steal",
    "lease_expired",
    "late_result",
    "edit_refused",
    "graph_edit",
]


class Noted(Event):
    """A policy's note (a refused claim, a rejected assignment, a steal...), by its kind."""

    type: NoteKind
    task: str | None = None
    detail: str = ""
    round: int | None = None


def note_event(note: Note, *, round: int | None = None) -> Noted:
    """The logged form of a policy's note (``round``: the rounds harness's round)."""
    fields: dict[str, Any] = {"type": note.kind, "task": note.task, "detail": note.detail}
    if round is not None:
        fields["round"] = round
    return Noted.model_validate(fields)


class TaskGraphEdited(Event):
    type: Literal["task_graph"] = "task_graph"
    tasks: dict[str, list[str]] = {}


class DynamicSummary(Event):
    type: Literal["dynamic_summary"] = "dynamic_summary"
    edits: int = 0
    edits_refused: int = 0
    leases_expired: int = 0


class PlanRejected(Event):
    type: Literal["plan_rejected"] = "plan_rejected"
    attempt: int = 0
    problem: str | None = None


class PlanAccepted(Event):
    type: Literal["plan_accepted"] = "plan_accepted"
    attempt: int = 0
    project: dict[str, Any] = {}


# -- the rounds harness (coordinator/rounds.py) ----------------------------------------------


class RoundStart(Event):
    type: Literal["round_start"] = "round_start"
    round: int = 0
    agents: list[str] = []


class RoundEnd(Event):
    type: Literal["round_end"] = "round_end"
    round: int = 0


class ActionRefused(Event):
    type: Literal["action_refused"] = "action_refused"
    round: int = 0
    action: str | None = None
    reason: str = ""


class ActionImplied(Event):
    type: Literal["action_implied"] = "action_implied"
    round: int = 0
    task: str | None = None


class Claimed(Event):
    type: Literal["claim"] = "claim"
    task: str | None = None
    round: int = 0


class RoundTestsRun(Event):
    type: Literal["tests_run"] = "tests_run"
    round: int = 0
    task: str | None = None
    ok: bool = False
    summary: str = ""


class MaxRounds(Event):
    type: Literal["max_rounds"] = "max_rounds"
    rounds: int = 0


class RoundsEnd(Event):
    """The harness stopped; the extras are its counters (refused actions, notes...)."""

    type: Literal["rounds_end"] = "rounds_end"
    rounds: int = 0
    status: str = ""


# -- task attempts, files and checks (coordinator/tasks.py) ----------------------------------


class SandboxWeak(Event):
    type: Literal["sandbox_weak"] = "sandbox_weak"
    missing: list[str] = []


class TaskAttempt(Event):
    type: Literal["task_attempt"] = "task_attempt"
    task: str
    attempt: int
    feedback: str | None = None
    spent: int = 0


class OutputInvalid(Event):
    type: Literal["output_invalid"] = "output_invalid"
    task: str
    attempt: int = 0
    problem: str = ""


class UndeclaredWrite(Event):
    type: Literal["undeclared_write"] = "undeclared_write"
    task: str
    attempt: int = 0
    path: str = ""
    status: str = ""


class _Write(Event):
    task: str
    attempt: int = 0
    path: str = ""
    status: str = ""
    version: int = 0
    expected: int = 0


class FileWritten(_Write):
    type: Literal["file_written"] = "file_written"
    content: str = ""


class WriteConflict(_Write):
    type: Literal["write_conflict"] = "write_conflict"


class WriteRefused(_Write):
    type: Literal["write_refused"] = "write_refused"
    holder: str | None = None  # a lease held by another node (absent: a read-only file)


class FileRewritten(Event):
    type: Literal["file_rewritten"] = "file_rewritten"
    task: str
    path: str = ""
    finished_task: str | None = None


class LeaseAcquired(Event):
    type: Literal["lease_acquired"] = "lease_acquired"
    task: str
    path: str = ""


class LeaseRefused(Event):
    type: Literal["lease_refused"] = "lease_refused"
    task: str
    path: str = ""
    holder: str | None = None


class ProjectFiles(Event):
    """The project's brought files, copied into the workspace (read-only ones listed)."""

    type: Literal["project_files"] = "project_files"
    folder: str | None = None
    paths: list[str] = []
    read_only: list[str] = []


class CheckRun(Event):
    type: Literal["check_run"] = "check_run"
    task: str
    attempt: int = 0
    ok: bool = False
    returncode: int | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    summary: str = ""
    sandbox: str | None = None
    recheck: int = 0


class SuiteRun(Event):
    """The project's whole suite, once at the end (:class:`~lmteams.coordinator.settings.SuiteResult`)."""

    type: Literal["suite_run"] = "suite_run"
    command: str = ""
    ok: bool = False
    returncode: int | None = None
    passed: int | None = None
    failed: int | None = None
    errors: int | None = None
    skipped: int | None = None
    summary: str = ""


# -- fault handling (faults/) and the Ray runtime --------------------------------------------


class Retried(Event):
    type: Literal["retry"] = "retry"
    request_id: str = ""
    attempt: int = 0
    error: str = ""
    message: str = ""
    delay_s: float = 0.0
    feedback: bool = False  # retried with feedback on what was wrong with the output


class Rerouted(Event):
    type: Literal["rerouted"] = "rerouted"
    from_: str = Field("", alias="from")
    to: str = ""
    reason: str = ""


class HedgeSent(Event):
    type: Literal["hedge_sent"] = "hedge_sent"
    request_id: str = ""
    hedge_id: str = ""
    to: str = ""
    after_s: float = 0.0


class HedgeCancelled(Event):
    """A hedge's losing copy, cancelled before its reply: what it spent (estimated)."""

    type: Literal["hedge_cancelled"] = "hedge_cancelled"
    request_id: str = ""
    estimated_tokens: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int = 0


class HedgeWon(Event):
    type: Literal["hedge_won"] = "hedge_won"
    request_id: str = ""
    by: str = ""  # hedge | primary
    winner: str = ""
    extra_tokens: int = 0


class OutputRejected(Event):
    type: Literal["output_rejected"] = "output_rejected"
    request_id: str = ""
    reply_id: str = ""
    problem: str = ""
    attempt: int = 1


class RateLimitWait(Event):
    type: Literal["rate_limit_wait"] = "rate_limit_wait"
    endpoint: str = ""
    limit: str = ""
    wait_s: float = 0.0


class ServerRateLimited(Event):
    type: Literal["rate_limited"] = "rate_limited"
    endpoint: str = ""
    retry_after_s: float | None = None


class BudgetSpent(Event):
    """The budget ran out; the extras are the budget's statistics."""

    type: Literal["budget_exceeded"] = "budget_exceeded"
    reason: str = ""


class NodeHealthChanged(Event):
    """The failure detector moved a node: ``node_suspect``, ``node_dead``, ``node_recovered``."""

    type: Literal["node_suspect", "node_dead", "node_recovered"]
    from_: str = Field("", alias="from")
    to: str = ""
    reason: str = ""


class BreakerChanged(Event):
    """An endpoint's circuit breaker opened, half-opened or closed."""

    type: Literal["breaker_opened", "breaker_half_open", "breaker_closed"]
    endpoint: str = ""
    from_: str = Field("", alias="from")
    reason: str = ""


class FaultInjected(Event):
    """A fault the team file asked for; the extras say what it was (request, delay...)."""

    type: Literal["fault_injected"] = "fault_injected"
    fault: str = ""


class Routed(Event):
    """A balanced call was placed on the node this event names (lmteams.routing.dispatch)."""

    type: Literal["route"] = "route"
    role: str | None = ""  # None: work sent to any role
    policy: str = ""
    queue_depth: int = 0
    utilization: float = 0.0
    outstanding: dict[str, int] = {}
    skills: list[str] | None = None
    task: str | None = None
    key: str | None = None
    #: The node the call was addressed to, when a replica group's policy picked who serves it.
    addressed: str | None = None


ActorEventKind: TypeAlias = Literal["actor_lost", "actor_restarted", "actor_dead"]


class ActorEvent(Event):
    """A Ray actor hosting nodes was lost (with its calls in flight), restarted (its calls
    resent) or given up (its calls failed)."""

    type: ActorEventKind
    actor: str = ""
    machine: str | None = None
    nodes: list[str] = []
    reason: str | None = None
    in_flight: int | None = None
    resent: int | None = None
    failed: int | None = None


# -- asking: strategies and eval (strategies/) -----------------------------------------------


class Decided(Event):
    """One question's decision: :class:`~lmteams.strategies.result.AskResult` without its
    nodes, with each answering node's vote."""

    type: Literal["decision"] = "decision"
    run_id: str = ""
    question: str = ""
    answer: str | None = None
    agreement: float = 0.0
    support: float = 0.0
    valid_votes: float = 0.0
    tie: bool = False
    tied: list[str] = []
    decided_by: str = ""
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    wall_s: float = 0.0
    consensus: str = "majority"
    answer_key: str | None = None
    split: dict[str, float] = {}
    detail: dict[str, Any] = {}
    votes: dict[str, str | None] = {}


class _Wave(Event):
    asked: list[str] = []
    answers: dict[str, str | None] = {}
    stop: bool = False
    why: str | None = None


class AdaptiveWave(_Wave):
    type: Literal["adaptive_wave"] = "adaptive_wave"


class RoutedWave(_Wave):
    type: Literal["routed_wave"] = "routed_wave"
    kind: str = ""


class CascadeTier(Event):
    type: Literal["cascade_tier"] = "cascade_tier"
    tier: int = 0
    nodes: list[str] = []
    answers: dict[str, str | None] = {}
    escalate: bool = False


class _Round(Event):
    round: int = 0
    answers: dict[str, str | None] = {}
    leader: str | None = None
    support: float = 0.0


class DebateRound(_Round):
    type: Literal["debate_round"] = "debate_round"
    quorum: int = 0
    agreed: bool = False


class MoaLayer(_Round):
    type: Literal["moa_layer"] = "moa_layer"


class JudgeVerdict(Event):
    type: Literal["judge_verdict"] = "judge_verdict"
    attempt: int = 0
    shown: list[str] = []
    reply: str = ""
    valid: bool = False
    problem: str | None = None
    refused: str | None = None
    kind: str | None = None
    choice: int | None = None
    answer: str | None = None


class ProgramRun(Event):
    type: Literal["program_run"] = "program_run"
    attempt: int = 0
    of: int = 0
    ok: bool = False
    problem: str | None = None
    reply: str | None = None
    program: str | None = None
    returncode: int | None = None
    timed_out: bool = False
    stdout: str = ""
    stderr: str = ""
    duration_s: float = 0.0
    vote: str | None = None


class GentestInputs(Event):
    type: Literal["gentest_inputs"] = "gentest_inputs"
    inputs: list[str] = []  # calls the team wrote to try the candidates on
    tests: str = ""  # the question's own asserts
    candidates: int = 0


class GentestRun(Event):
    type: Literal["gentest_run"] = "gentest_run"
    index: int = 0
    passed: bool = False
    problem: str | None = None
    program: str | None = None
    outputs: list[Any] = []
    returncode: int | None = None
    stderr: str = ""


class CandidateChecked(Event):
    """One candidate of a project task's attempt (``candidates: N``), checked in its own
    scratch copy of the workspace; ``cluster`` is the digest of its check's output lines."""

    type: Literal["candidate_checked"] = "candidate_checked"
    task: str
    attempt: int = 0
    index: int = 0
    passed: bool = False
    returncode: int | None = None
    timed_out: bool = False
    problem: str | None = None
    summary: str = ""
    cluster: str | None = None


class CandidateChosen(Event):
    """The candidate whose files reached the shared workspace: the first of the largest
    cluster of passing candidates that agree on their check's output."""

    type: Literal["candidate_chosen"] = "candidate_chosen"
    task: str
    attempt: int = 0
    index: int = 0
    candidates: int = 0
    passed: int = 0
    agreeing: int = 0


class EvalItem(Event):
    type: Literal["eval_item"] = "eval_item"
    index: int = 0
    strategy: str = ""
    answer: str | None = None
    gold: str | None = None
    correct: bool = False
    calls: int = 0
    tokens: int = 0
    wall_s: float = 0.0


class MessageLogged(Event):
    """A message row (a request or reply envelope, as logged); read, never written."""

    type: Literal["message"] = "message"
    envelope: dict[str, Any] = {}


class UnknownEvent(Event):
    """A logged row no model here declares (an older or newer version's), or one that no
    longer fits its model; ``data`` is the row as logged. Never written."""

    data: dict[str, Any] = {}
    problem: str | None = None


AnyEvent: TypeAlias = Annotated[
    RunStarted
    | RunResumed
    | RunFailed
    | RunFinished
    | CallReplayed
    | CallFailed
    | CoordinatorStarted
    | Schedule
    | ScheduleResumed
    | Sched
    | TaskAssigned
    | TaskDone
    | TaskFailed
    | TaskParked
    | TaskInterrupted
    | BudgetStop
    | NodeLost
    | Stalled
    | Noted
    | TaskGraphEdited
    | DynamicSummary
    | PlanRejected
    | PlanAccepted
    | RoundStart
    | RoundEnd
    | ActionRefused
    | ActionImplied
    | Claimed
    | RoundTestsRun
    | MaxRounds
    | RoundsEnd
    | SandboxWeak
    | TaskAttempt
    | OutputInvalid
    | UndeclaredWrite
    | FileWritten
    | WriteConflict
    | WriteRefused
    | FileRewritten
    | LeaseAcquired
    | LeaseRefused
    | ProjectFiles
    | CheckRun
    | SuiteRun
    | Retried
    | Rerouted
    | HedgeSent
    | HedgeCancelled
    | HedgeWon
    | OutputRejected
    | RateLimitWait
    | ServerRateLimited
    | BudgetSpent
    | NodeHealthChanged
    | BreakerChanged
    | FaultInjected
    | Routed
    | ActorEvent
    | Decided
    | AdaptiveWave
    | RoutedWave
    | CascadeTier
    | DebateRound
    | MoaLayer
    | JudgeVerdict
    | ProgramRun
    | GentestInputs
    | GentestRun
    | CandidateChecked
    | CandidateChosen
    | EvalItem,
    Field(discriminator="type"),
]


def _declared() -> dict[str, type[Event]]:
    models: dict[str, type[Event]] = {}
    for model in get_args(get_args(AnyEvent)[0]):
        for name in get_args(model.model_fields["type"].annotation):
            if name in models or name == MESSAGE:
                raise TypeError(f"event type {name!r} is declared twice")
            models[name] = model
    return models


#: How a layer below the team logs an event of the run: (event, the node it concerns).
Emit: TypeAlias = Callable[[Event, str | None], None]

#: Every declared event type and its model.
EVENT_MODELS: dict[str, type[Event]] = _declared()

#: Fields logged under another name (``from`` is a Python keyword).
_ALIASES: dict[str, str] = {"from_": "from"}


def event_json(event: Event) -> str:
    """The ``data`` column of ``event``: the fields its writer set (and its extras), as JSON.

    Raises :class:`~lmteams.errors.StoreError` for an event whose type no model declares.
    """
    if EVENT_MODELS.get(event.type) is not type(event):
        raise StoreError(
            f"event type {event.type!r} ({type(event).__name__}) is not declared in "
            "lmteams.state.events: add a model for it to AnyEvent"
        )
    # What model_dump_json(exclude_unset=True, by_alias=True) gives, at a fifth of its cost:
    # the values are already validated JSON types.
    written = event.__pydantic_fields_set__
    data = {
        _ALIASES.get(name, name): value
        for name, value in event.__dict__.items()
        if name in written and name != "type"
    }
    extra = event.__pydantic_extra__
    if extra:
        data.update(extra)
    return dumps(data)


def dumps(data: Any) -> str:
    """JSON for the log (keys that are not strings written as strings, as before)."""
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # a type orjson does not know: the json module's rules, as before
        return json.dumps(data, default=str)


def read_event(type: str, data: dict[str, Any]) -> Event:
    """The typed event of a logged row (:class:`UnknownEvent` when no model fits it)."""
    model = EVENT_MODELS.get(type)
    if model is None:
        if type == MESSAGE:
            return MessageLogged.model_construct(envelope=data)
        return UnknownEvent(type=type, data=data)
    try:
        return model.model_validate({**data, "type": type})
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return UnknownEvent(type=type, data=data, problem=problem)
