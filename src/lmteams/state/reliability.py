"""The reliability store: what a team learned of its nodes, in the workspace's SQLite log.

Tables (migration ``003_consensus_reliability``): ``answer_history`` (each node's answer key to
each past question), ``answer_labels`` (true answers, from evaluation data or a user),
``node_reliability`` (the latest Dawid-Skene estimate, shown by ``lmteams nodes``) and
``meta_models`` (the trained meta-model, as JSON); and (migration ``004_question_kinds``)
``question_kinds``, each recorded question's kind, from which :meth:`ReliabilityBook.kind_table`
counts each node's labeled answers per kind for routing. Questions are identified by a hash of
their normalized text, so asking a question again updates its row instead of adding one.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from lmteams.consensus.answers import normalize_text
from lmteams.consensus.dawid_skene import Reliability
from lmteams.consensus.kinds import KindTable, classify
from lmteams.consensus.meta import LogisticModel
from lmteams.state.store import EventStore


def question_id(question: str) -> str:
    return hashlib.sha256(normalize_text(question).encode()).hexdigest()[:20]


class ReliabilityBook:
    """One team's answer history, labels, reliability estimates and meta-model."""

    def __init__(self, store: EventStore, team: str) -> None:
        self.store = store
        self.team = team

    def record(self, question: str, answers: Mapping[str, str], run_id: str | None = None) -> str:
        """Keep each node's (non-empty) answer key to ``question``; return the question's id."""
        qid = question_id(question)
        now = time.time()
        rows = [(self.team, qid, node, key, run_id, now) for node, key in answers.items() if key]
        if rows:
            self.store._execute_many(
                "INSERT OR REPLACE INTO answer_history"
                "(team, question_id, node, answer_key, run_id, created_at) VALUES (?,?,?,?,?,?)",
                rows,
            )
            self.store._execute(
                "INSERT OR IGNORE INTO question_kinds(team, question_id, kind, created_at) "
                "VALUES (?,?,?,?)",
                (self.team, qid, classify(question), now),
            )
        return qid

    def kind_table(self) -> KindTable:
        """Each node's labeled answers per question kind: (right, answered)."""
        rows = self.store.query(
            "SELECT h.node, k.kind, SUM(h.answer_key = l.answer_key), COUNT(*) "
            "FROM answer_history h "
            "JOIN answer_labels l ON l.team = h.team AND l.question_id = h.question_id "
            "JOIN question_kinds k ON k.team = h.team AND k.question_id = h.question_id "
            "WHERE h.team = ? GROUP BY h.node, k.kind",
            (self.team,),
        )
        return KindTable(
            {(node, kind): (int(right), int(seen)) for node, kind, right, seen in rows}
        )

    def label(self, question: str, answer_key: str, source: str = "user") -> None:
        """Record the true answer (its normalized key) to ``question``."""
        self.store._execute(
            "INSERT OR REPLACE INTO answer_labels(team, question_id, answer_key, source, "
            "created_at) VALUES (?,?,?,?,?)",
            (self.team, question_id(question), answer_key, source, time.time()),
        )

    def history(self, limit: int = 5000) -> tuple[list[dict[str, str]], dict[int, str], list[str]]:
        """The ``limit`` most recent questions: (answers per question, labels by index, ids)."""
        rows = self.store.query(
            "SELECT h.question_id, h.node, h.answer_key FROM answer_history h JOIN ("
            "  SELECT question_id, MAX(created_at) AS last FROM answer_history WHERE team = ?"
            "  GROUP BY question_id ORDER BY last DESC LIMIT ?"
            ") recent ON recent.question_id = h.question_id WHERE h.team = ? "
            "ORDER BY recent.last, h.question_id",
            (self.team, limit, self.team),
        )
        order: dict[str, int] = {}
        items: list[dict[str, str]] = []
        for qid, node, key in rows:
            if qid not in order:
                order[qid] = len(items)
                items.append({})
            items[order[qid]][node] = key
        labels: dict[int, str] = {}
        if order:
            for qid, key in self.store.query(
                "SELECT question_id, answer_key FROM answer_labels WHERE team = ?", (self.team,)
            ):
                if qid in order:
                    labels[order[qid]] = key
        return items, labels, list(order)

    def save(self, reliability: Reliability) -> None:
        now = time.time()
        self.store._execute_many(
            "INSERT OR REPLACE INTO node_reliability(team, node, accuracy, answered, items, "
            "labeled, updated_at) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    self.team,
                    node,
                    accuracy,
                    reliability.answered.get(node, 0),
                    reliability.items,
                    reliability.labeled,
                    now,
                )
                for node, accuracy in reliability.accuracy.items()
            ],
        )

    def estimates(self) -> dict[str, dict[str, Any]]:
        """The latest saved estimate per node: accuracy, answers seen, questions, labeled."""
        rows = self.store.query(
            "SELECT node, accuracy, answered, items, labeled, updated_at FROM node_reliability "
            "WHERE team = ?",
            (self.team,),
        )
        return {
            node: {
                "accuracy": accuracy,
                "answered": answered,
                "items": items,
                "labeled": labeled,
                "updated_at": updated_at,
            }
            for node, accuracy, answered, items, labeled, updated_at in rows
        }

    def save_meta(self, model: LogisticModel, metrics: Mapping[str, Any]) -> None:
        self.store._execute(
            "INSERT OR REPLACE INTO meta_models(team, created_at, model, metrics) VALUES (?,?,?,?)",
            (self.team, time.time(), model.model_dump_json(), json.dumps(dict(metrics))),
        )

    def meta(self) -> tuple[LogisticModel, dict[str, Any]] | None:
        """The team's trained meta-model and its training metrics, if one was saved."""
        rows = self.store.query(
            "SELECT model, metrics FROM meta_models WHERE team = ?", (self.team,)
        )
        if not rows:
            return None
        try:
            return LogisticModel.model_validate_json(rows[0][0]), json.loads(rows[0][1])
        except (ValidationError, ValueError):
            return None  # written by an incompatible version: act as if untrained
