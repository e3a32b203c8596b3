"""The typed event log: every event written in src is declared, and each one round-trips."""

from __future__ import annotations

import ast
import inspect
import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest

import lmteams
from lmteams.errors import StoreError
from lmteams.faults.breaker import BreakerState, BreakerTransition
from lmteams.faults.detector import NodeState, Transition
from lmteams.state import events
from lmteams.state.events import (
    EVENT_MODELS,
    BreakerChanged,
    Event,
    MessageLogged,
    NodeHealthChanged,
    Noted,
    Rerouted,
    RoundsEnd,
    TaskDone,
    UnknownEvent,
    event_json,
    read_event,
)
from lmteams.state.journal import Journal
from lmteams.state.store import EventStore

SRC = Path(lmteams.__file__).parent
#: Models that are read, never written.
READ_ONLY = {MessageLogged, UnknownEvent}
#: Calls that log an event: the first argument must be a model, never a type name.
LOGGING_CALLS = {"event", "emit", "_emit"}


def _declared_models() -> set[type[Event]]:
    return set(EVENT_MODELS.values())


def _event_classes() -> dict[str, type[Event]]:
    """Every concrete event model the events module defines (by class name)."""
    return {
        name: value
        for name, value in vars(events).items()
        if inspect.isclass(value)
        and issubclass(value, Event)
        and value is not Event
        and not name.startswith("_")
    }


def _src_calls() -> list[tuple[Path, ast.Call]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                found.append((path, node))
    return found


def _name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return None


def test_every_model_defined_is_in_the_union() -> None:
    forgotten = set(_event_classes().values()) - _declared_models() - READ_ONLY
    assert not forgotten, (
        f"event models missing from AnyEvent: {sorted(c.__name__ for c in forgotten)}"
    )


def test_every_event_constructed_in_src_is_declared() -> None:
    classes = _event_classes()
    constructed: set[str] = set()
    for path, call in _src_calls():
        name = _name(call)
        if name in classes:
            constructed.add(name)
            model = classes[name]
            assert model not in READ_ONLY or path.name in ("events.py",), (
                f"{path}:{call.lineno}: {name} is read, never written"
            )
            for keyword in call.keywords:
                if keyword.arg == "type" and isinstance(keyword.value, ast.Constant):
                    assert EVENT_MODELS.get(keyword.value.value) is model, (
                        f"{path}:{call.lineno}: {keyword.value.value!r} is not a {name}"
                    )
    # The scan sees the writers (a scan that found nothing would prove nothing).
    assert {"TaskDone", "RunStarted", "CallFailed", "Decided", "Retried"} <= constructed


def test_no_event_is_logged_by_a_type_name() -> None:
    by_name = [
        f"{path.relative_to(SRC)}:{call.lineno}: {_name(call)}({call.args[0].value!r}, ...)"
        for path, call in _src_calls()
        if _name(call) in LOGGING_CALLS
        and call.args
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    ]
    assert not by_name, "events must be logged as models of lmteams.state.events:\n" + "\n".join(
        by_name
    )


def test_every_note_kind_in_src_is_declared() -> None:
    kinds = {
        call.args[0].value
        for _, call in _src_calls()
        if _name(call) == "Note" and call.args and isinstance(call.args[0], ast.Constant)
    }
    assert "claim_refused" in kinds  # the scan sees the policies
    assert {kind for kind in kinds if EVENT_MODELS.get(kind) is not Noted} == set()


def test_every_health_and_breaker_change_is_declared() -> None:
    for old in NodeState:
        for new in NodeState:
            change = Transition("n", old, new, "why")
            assert EVENT_MODELS[change.event] is NodeHealthChanged
    for state in BreakerState:
        change = BreakerTransition("e", BreakerState.CLOSED, state, "why")
        assert EVENT_MODELS[change.event] is BreakerChanged


def _sample(annotation: Any) -> Any:
    """A value of ``annotation`` that is not its field's default."""
    origin = get_origin(annotation)
    if origin is Literal:
        return get_args(annotation)[0]
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in get_args(annotation) if a is not type(None)))
    if origin is list:
        return [_sample(get_args(annotation)[0])]
    if origin is dict:
        return {"k": _sample(get_args(annotation)[1])}
    return {str: "x", int: 3, float: 2.5, bool: True}.get(annotation, {"any": [1, "two"]})


@pytest.mark.parametrize("type_name", sorted(EVENT_MODELS))
def test_each_declared_event_round_trips(type_name: str) -> None:
    model = EVENT_MODELS[type_name]
    fields = {
        name: _sample(field.annotation)
        for name, field in model.model_fields.items()
        if name != "type"
    }
    event = model.model_validate({**fields, "type": type_name, "extra_count": 7})
    data = json.loads(event_json(event))
    assert "type" not in data and data["extra_count"] == 7
    back = read_event(type_name, data)
    assert type(back) is model and back == event


def test_only_the_fields_a_writer_set_are_logged() -> None:
    # A log reads as the dict writers of earlier versions wrote it: no defaults added.
    assert json.loads(event_json(TaskDone(task="a"))) == {"task": "a"}
    assert json.loads(event_json(Rerouted(from_="a", to="b", reason="dead"))) == {
        "from": "a",
        "to": "b",
        "reason": "dead",
    }
    counters = json.loads(event_json(RoundsEnd(rounds=3, status="done", claim_refused=2)))
    assert counters == {"rounds": 3, "status": "done", "claim_refused": 2}
    note = events.Noted(type="steal", task="t", detail="from n1")
    assert json.loads(event_json(note)) == {"task": "t", "detail": "from n1"}


def test_rows_of_older_logs_still_read() -> None:
    # Fields a version did not write take their defaults; fields it wrote that are no longer
    # declared are kept as extras.
    done = read_event("task_done", {"task": "a", "worker_hint": "n1"})
    assert isinstance(done, TaskDone) and done.attempts == 1
    assert done.model_extra == {"worker_hint": "n1"}
    gone = read_event("retired_event", {"x": 1})
    assert isinstance(gone, UnknownEvent) and gone.data == {"x": 1} and gone.problem is None
    broken = read_event("task_done", {"attempts": 2})
    assert isinstance(broken, UnknownEvent) and broken.problem is not None
    assert "task" in broken.problem
    message = read_event("message", {"id": "m1", "kind": "request"})
    assert isinstance(message, MessageLogged) and message.envelope["id"] == "m1"


class _MadeUp(Event):
    type: Literal["made_up"] = "made_up"


class _Impostor(Event):
    type: Literal["task_done"] = "task_done"


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (_MadeUp(), "'made_up' (_MadeUp)"),
        (_Impostor(), "'task_done' (_Impostor)"),
        (UnknownEvent(type="retired_event"), "'retired_event' (UnknownEvent)"),
    ],
)
async def test_the_journal_refuses_an_undeclared_event_type(
    store: EventStore, event: Event, named: str
) -> None:
    journal = Journal(store, store.new_run("x"))
    journal.start_clock()
    with pytest.raises(StoreError) as refused:
        journal.event(event)
    assert str(refused.value) == (
        f"event type {named} is not declared in lmteams.state.events: add a model for it to "
        "AnyEvent"
    )
    assert store.pending == 0


async def test_the_store_returns_typed_events(store: EventStore) -> None:
    run_id = store.new_run("x")
    journal = Journal(store, run_id)
    journal.start_clock()
    journal.event(TaskDone(task="a", attempts=2), node="n0")
    journal.event(events.Noted(type="claim_refused", task="b", detail="held"), node="n1")
    await journal.wait_durable()
    done, refused = store.events(run_id)
    assert done.event == TaskDone(task="a", attempts=2) and done.node == "n0"
    assert done.data == {"task": "a", "attempts": 2}  # the row as logged, beside its model
    assert isinstance(refused.event, Noted) and refused.event.type == "claim_refused"
