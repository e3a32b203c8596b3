from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lmteams.messages import (
    ENVELOPE_ADAPTER,
    Envelope,
    Kind,
    Usage,
    from_log_row,
    new_id,
    validate_envelope,
)


def make_request() -> Envelope:
    return Envelope.make(
        run_id="r1",
        sender="coordinator",
        recipients=("a",),
        kind=Kind.REQUEST,
        payload={"messages": [{"role": "user", "content": "hi"}]},
    )


def test_envelope_round_trips_through_json() -> None:
    env = make_request()
    back = Envelope.from_json(env.to_json())
    assert back == env
    assert back.kind is Kind.REQUEST


def test_reply_points_back_at_request() -> None:
    req = make_request()
    rep = req.reply({"text": "yo"}, usage=Usage(3, 4))
    assert rep.parent_id == req.id
    assert rep.sender == "a"
    assert rep.recipients == ("coordinator",)
    assert rep.kind is Kind.REPLY
    assert rep.usage is not None and rep.usage.total_tokens == 7
    assert rep.run_id == req.run_id


def test_ids_are_unique() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000


def test_usage_adds() -> None:
    assert Usage(1, 2) + Usage(3, 4) == Usage(4, 6)


def test_invalid_envelope_is_rejected() -> None:
    data = make_request().__dict__ if hasattr(make_request(), "__dict__") else {}
    with pytest.raises(ValidationError):
        validate_envelope(
            {"id": "x", "run_id": "r", "sender": "s", "recipients": ["a"], "kind": "shout"}
        )
    assert data == {}  # slotted dataclass: no per-instance dict


def test_envelope_is_immutable() -> None:
    env = make_request()
    with pytest.raises(AttributeError):
        env.sender = "mallory"  # type: ignore[misc]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(
    payload=st.dictionaries(st.text(), JSON_VALUES, max_size=5),
    usage=st.none() | st.builds(Usage, st.integers(0, 10**9), st.integers(0, 10**9)),
    created_at=st.floats(0, 4e9),
)
def test_fast_json_matches_pydantics_serializer(
    payload: dict[str, Any], usage: Usage | None, created_at: float
) -> None:
    envelope = Envelope(
        "m-1", "r", "n1", ("coordinator", "n2"), Kind.REPLY, payload, "m-0", created_at, usage
    )
    assert envelope.to_json() == ENVELOPE_ADAPTER.dump_json(envelope)
    assert Envelope.from_json(envelope.to_json()) == envelope


def test_payload_values_orjson_does_not_know_still_serialize() -> None:
    envelope = Envelope.make(
        run_id="r",
        sender="a",
        recipients=("b",),
        kind=Kind.BROADCAST,
        payload={"s": {1}, "t": (2, 3)},
    )
    assert json.loads(envelope.to_json())["payload"] == {"s": [1], "t": [2, 3]}


@given(
    payload=st.dictionaries(st.text(), JSON_VALUES, max_size=5),
    usage=st.none() | st.builds(Usage, st.integers(0, 10**9), st.integers(0, 10**9)),
    parent_id=st.none() | st.just("m-0"),
    created_at=st.floats(0, 4e9),
)
def test_the_log_form_leaves_out_what_the_row_holds_and_comes_back_whole(
    payload: dict[str, Any], usage: Usage | None, parent_id: str | None, created_at: float
) -> None:
    envelope = Envelope(
        "m-1", "r", "n1", ("n2",), Kind.REPLY, payload, parent_id, created_at, usage
    )
    logged = json.loads(envelope.log_json())
    assert not {"run_id", "sender", "created_at"} & logged.keys()
    assert ("parent_id" in logged) is (parent_id is not None)
    assert ("usage" in logged) is (usage is not None)
    from_log_row(logged, "r", "n1", created_at)
    assert validate_envelope(logged) == envelope
    assert logged == json.loads(envelope.to_json())  # what a reader sees: the whole envelope


def test_the_log_form_of_values_orjson_does_not_know() -> None:
    envelope = Envelope.make(
        run_id="r", sender="a", recipients=("b",), kind=Kind.BROADCAST, payload={"s": {1}}
    )
    logged = json.loads(envelope.log_json())
    assert logged == {
        "id": envelope.id,
        "recipients": ["b"],
        "kind": "broadcast",
        "payload": {"s": [1]},
    }


def test_a_row_written_whole_is_read_as_it_is() -> None:
    whole = json.loads(make_request().to_json())
    data = dict(whole)
    from_log_row(data, "other-run", "other-sender", 1.0)
    assert data == whole
