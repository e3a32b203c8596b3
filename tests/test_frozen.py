"""quick_init: a frozen slotted dataclass built through its slots, otherwise unchanged."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from lmteams.frozen import quick_init
from lmteams.messages import Envelope, Kind, Usage


@dataclass(frozen=True, slots=True)
class Plain:
    name: str
    tags: list[str] = field(default_factory=list)
    size: int = 3


@quick_init
@dataclass(frozen=True, slots=True)
class Quick:
    name: str
    tags: list[str] = field(default_factory=list)
    size: int = 3


def test_it_takes_the_same_arguments_as_the_dataclass_init() -> None:
    assert Quick("a") == Quick(name="a", tags=[], size=3)
    assert repr(Quick("a", ["x"], 5)) == repr(Plain("a", ["x"], 5)).replace("Plain", "Quick")
    assert list(inspect.signature(Quick).parameters) == list(inspect.signature(Plain).parameters)
    with pytest.raises(TypeError):
        Quick()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        Quick("a", wrong=1)  # type: ignore[call-arg]


def test_a_default_factory_makes_a_new_value_each_time() -> None:
    first, second = Quick("a"), Quick("b")
    assert first.tags == [] and first.tags is not second.tags


def test_the_record_stays_frozen_hashable_and_copyable() -> None:
    record = Quick("a", size=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.name = "b"  # type: ignore[misc]
    assert hash(Usage(1, 2)) == hash(Usage(1, 2))
    assert dataclasses.replace(record, size=2) == Quick("a", size=2)
    assert pickle.loads(pickle.dumps(record)) == record


def test_envelopes_are_built_this_way_and_parse_back() -> None:
    envelope = Envelope.make(
        run_id="r", sender="c", recipients=("n0",), kind=Kind.REQUEST, payload={"a": 1}
    )
    assert Envelope.__init__.__qualname__ == "Envelope.__init__"
    assert Envelope.from_json(envelope.to_json()) == envelope


@pytest.mark.parametrize(
    "decorate",
    [
        dataclass(slots=True),  # not frozen
        dataclass(frozen=True),  # not slotted
    ],
)
def test_only_frozen_slotted_dataclasses_are_taken(decorate) -> None:  # type: ignore[no-untyped-def]
    class Record:
        name: str

    with pytest.raises(TypeError, match="frozen, slotted dataclass"):
        quick_init(decorate(Record))


def test_a_post_init_is_refused_rather_than_skipped() -> None:
    @dataclass(frozen=True, slots=True)
    class Checked:
        name: str

        def __post_init__(self) -> None:
            raise AssertionError

    with pytest.raises(TypeError, match="__post_init__"):
        quick_init(Checked)
