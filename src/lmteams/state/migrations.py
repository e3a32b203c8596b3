"""Schema of the event log as an append-only list of named migrations.

The store applies missing migrations once, when it opens. Never edit an applied migration: add a
new one at the end.
"""

from __future__ import annotations

import sqlite3
import time

from lmteams.errors import StoreError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "001_runs_events",
        """
        CREATE TABLE runs (
            run_id      TEXT PRIMARY KEY,
            kind        TEXT NOT NULL,
            status      TEXT NOT NULL,
            created_at  REAL NOT NULL,
            ended_at    REAL,
            team        TEXT,
            params      TEXT NOT NULL DEFAULT '{}',
            result      TEXT
        );
        CREATE INDEX runs_created ON runs(created_at);
        CREATE TABLE events (
            seq     INTEGER PRIMARY KEY,
            run_id  TEXT NOT NULL,
            ts      REAL NOT NULL,
            t       REAL NOT NULL,
            type    TEXT NOT NULL,
            node    TEXT,
            data    TEXT NOT NULL
        );
        CREATE INDEX events_run ON events(run_id, seq);
        """,
    ),
    (
        "002_call_results",
        """
        CREATE TABLE call_results (
            key         TEXT PRIMARY KEY,
            run_id      TEXT NOT NULL,
            node        TEXT,
            created_at  REAL NOT NULL,
            result      TEXT NOT NULL
        );
        CREATE INDEX call_results_run ON call_results(run_id);
        """,
    ),
    (
        "003_consensus_reliability",
        """
        CREATE TABLE answer_history (
            team        TEXT NOT NULL,
            question_id TEXT NOT NULL,
            node        TEXT NOT NULL,
            answer_key  TEXT NOT NULL,
            run_id      TEXT,
            created_at  REAL NOT NULL,
            PRIMARY KEY (team, question_id, node)
        );
        CREATE INDEX answer_history_recent ON answer_history(team, created_at);
        CREATE TABLE answer_labels (
            team        TEXT NOT NULL,
            question_id TEXT NOT NULL,
            answer_key  TEXT NOT NULL,
            source      TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (team, question_id)
        );
        CREATE TABLE node_reliability (
            team        TEXT NOT NULL,
            node        TEXT NOT NULL,
            accuracy    REAL NOT NULL,
            answered    INTEGER NOT NULL,
            items       INTEGER NOT NULL,
            labeled     INTEGER NOT NULL,
            updated_at  REAL NOT NULL,
            PRIMARY KEY (team, node)
        );
        CREATE TABLE meta_models (
            team        TEXT PRIMARY KEY,
            created_at  REAL NOT NULL,
            model       TEXT NOT NULL,
            metrics     TEXT NOT NULL DEFAULT '{}'
        );
        """,
    ),
    (
        "004_question_kinds",
        """
        CREATE TABLE question_kinds (
            team        TEXT NOT NULL,
            question_id TEXT NOT NULL,
            kind        TEXT NOT NULL,
            created_at  REAL NOT NULL,
            PRIMARY KEY (team, question_id)
        );
        """,
    ),
    (
        "005_blobs",
        # Long prompt texts, stored once by SHA-256 and referred to by logged envelopes
        # (lmteams.state.blobs).
        """
        CREATE TABLE blobs (
            hash    TEXT PRIMARY KEY,
            text    TEXT NOT NULL
        );
        """,
    ),
    (
        "006_event_ranges",
        # Where each run's events lie in the log (every event of a run has a seq from its
        # first_seq to its last_seq, NULL while it runs), in place of the index on (run_id,
        # seq): that index cost a B-tree insert per event and 2.3 of a commit's 5.8 WAL frames.
        # Events are never deleted, so a new event's seq is above every seq before it.
        """
        ALTER TABLE runs ADD COLUMN first_seq INTEGER;
        ALTER TABLE runs ADD COLUMN last_seq INTEGER;
        UPDATE runs SET
            first_seq = coalesce(
                (SELECT min(seq) FROM events WHERE events.run_id = runs.run_id),
                (SELECT coalesce(max(seq), 0) + 1 FROM events)
            ),
            last_seq = CASE WHEN status = 'running' THEN NULL
                ELSE (SELECT coalesce(max(seq), 0) FROM events WHERE events.run_id = runs.run_id)
            END;
        DROP INDEX events_run;
        """,
    ),
]


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet recorded; return the names applied."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT name FROM _migrations")}
    unknown = sorted(done - {name for name, _ in MIGRATIONS})
    if unknown:  # written by a newer lmteams: writing it with this schema could corrupt it
        raise StoreError(
            f"the event log was written by a newer lmteams (migration {unknown[-1]} is unknown "
            "here); upgrade lmteams to open it"
        )
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        # One script, one transaction: the schema change and its record land together.
        conn.executescript(
            f"BEGIN;\n{sql}\nINSERT INTO _migrations(name, applied_at) "
            f"VALUES ('{name}', {time.time()!r});\nCOMMIT;"
        )
        applied.append(name)
    return applied
