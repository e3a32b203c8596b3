from __future__ import annotations

import sqlite3

from lmteams.consensus.dawid_skene import Reliability
from lmteams.consensus.meta import fit_logistic
from lmteams.state.reliability import ReliabilityBook, question_id
from lmteams.state.store import EventStore


def test_history_labels_and_estimates_round_trip(store: EventStore) -> None:
    book = ReliabilityBook(store, "team")
    other = ReliabilityBook(store, "other-team")
    assert question_id("What is 2+2?") == question_id("  what is 2+2? ")
    book.record("q1", {"a": "1", "b": "2", "c": ""}, "run-1")
    book.record("q2", {"a": "3", "b": "3"})
    other.record("q9", {"z": "0"})
    book.label("q2", "3", source="eval")
    items, labels, ids = book.history()
    assert items == [{"a": "1", "b": "2"}, {"a": "3", "b": "3"}]
    assert labels == {1: "3"} and ids == [question_id("q1"), question_id("q2")]
    assert len(book.history(limit=1)[0]) == 1
    book.save(Reliability({"a": 0.8, "b": 0.6}, items=2, labeled=1, answered={"a": 2, "b": 2}))
    assert book.estimates()["a"]["accuracy"] == 0.8
    assert other.estimates() == {}


def test_meta_model_is_kept_per_team(store: EventStore) -> None:
    book = ReliabilityBook(store, "team")
    assert book.meta() is None
    model = fit_logistic([[0.0], [1.0]], [0, 1], features=("x",))
    book.save_meta(model, {"cv_accuracy": 0.7})
    loaded = book.meta()
    assert loaded is not None and loaded[0] == model and loaded[1] == {"cv_accuracy": 0.7}
    with sqlite3.connect(store.path) as other:  # written by another (incompatible) version
        other.execute("UPDATE meta_models SET model = 'garbage'")
    assert book.meta() is None  # unreadable: treated as untrained


def test_history_survives_reopening(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with EventStore(tmp_path / "w.db") as first:
        ReliabilityBook(first, "t").record("q", {"a": "x"})
    with EventStore(tmp_path / "w.db") as second:
        assert ReliabilityBook(second, "t").history()[0] == [{"a": "x"}]
