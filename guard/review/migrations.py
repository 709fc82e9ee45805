"""The review schema, as ordered migration steps recorded in ``schema_version``.

One schema for SQLite and PostgreSQL: the column types are spelled per dialect through a few
placeholders, and the append-only guard on ``review_events`` is a trigger in each dialect's
syntax. Steps are only ever appended; an applied step is never edited.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from guard.review.db import Conn, Database, Dialect

log = structlog.get_logger()

_TYPES: dict[Dialect, dict[str, str]] = {
    "sqlite": {"float": "REAL", "event_pk": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgresql": {"float": "DOUBLE PRECISION", "event_pk": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"},
}


@dataclass(frozen=True)
class Step:
    version: int
    description: str
    common: list[str] = field(default_factory=list)  # may use {float} and {event_pk}
    sqlite: list[str] = field(default_factory=list)
    postgresql: list[str] = field(default_factory=list)

    def statements(self, dialect: Dialect) -> list[str]:
        own = self.sqlite if dialect == "sqlite" else self.postgresql
        return [s.format(**_TYPES[dialect]) for s in self.common] + own


STEPS: list[Step] = [
    Step(
        1,
        "review items and their event log",
        common=[
            """CREATE TABLE review_items (
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                status TEXT NOT NULL,
                policy TEXT NOT NULL,
                tenant TEXT NOT NULL,
                model TEXT NOT NULL,
                key_id TEXT NOT NULL,
                request_json TEXT NOT NULL,
                answer TEXT NOT NULL,
                reasoning TEXT,
                annotation_json TEXT NOT NULL,
                reasons_json TEXT NOT NULL,
                risk {float} NOT NULL,
                created_at {float} NOT NULL,
                deadline {float},
                on_expire TEXT NOT NULL,
                fallback_answer TEXT,
                response_id TEXT,
                reviewer TEXT,
                lease_until {float},
                decided_at {float},
                final_answer TEXT,
                reject_reason TEXT,
                webhook_url TEXT,
                webhook_secret_env TEXT
            )""",
            "CREATE INDEX review_items_queue ON review_items (status, risk, created_at)",
            "CREATE INDEX review_items_deadline ON review_items (deadline)",
            "CREATE INDEX review_items_response ON review_items (response_id)",
            "CREATE INDEX review_items_decided ON review_items (decided_at)",
            """CREATE TABLE review_events (
                id {event_pk},
                item_id TEXT,
                actor TEXT NOT NULL,
                action TEXT NOT NULL,
                detail_json TEXT NOT NULL,
                at {float} NOT NULL
            )""",
            "CREATE INDEX review_events_item ON review_events (item_id, id)",
        ],
    ),
    Step(
        2,
        "review_events is append-only",
        sqlite=[
            """CREATE TRIGGER review_events_no_update BEFORE UPDATE ON review_events
               BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END""",
            """CREATE TRIGGER review_events_no_delete BEFORE DELETE ON review_events
               BEGIN SELECT RAISE(ABORT, 'review_events is append-only'); END""",
        ],
        postgresql=[
            """CREATE OR REPLACE FUNCTION review_events_append_only() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION 'review_events is append-only'; END; $$ LANGUAGE plpgsql""",
            """CREATE TRIGGER review_events_no_change BEFORE UPDATE OR DELETE ON review_events
               FOR EACH ROW EXECUTE FUNCTION review_events_append_only()""",
        ],
    ),
    Step(
        3,
        "the request id a held caller can look its review up by",
        common=[
            "ALTER TABLE review_items ADD COLUMN request_id TEXT",
            "CREATE INDEX review_items_request ON review_items (request_id)",
        ],
    ),
    Step(
        4,
        "the request documents a held answer was checked against",
        common=["ALTER TABLE review_items ADD COLUMN documents_json TEXT"],
    ),
    Step(
        5,
        "server-side reviewer sessions, so log-out and the idle timeout end every copy of a cookie",
        common=[
            """CREATE TABLE review_sessions (
                sid_hash TEXT PRIMARY KEY,
                username TEXT NOT NULL,
                created_at {float} NOT NULL,
                seen_at {float} NOT NULL,
                ended_at {float}
            )""",
            "CREATE INDEX review_sessions_user ON review_sessions (username)",
        ],
    ),
]

LATEST = STEPS[-1].version


def migrate(db: Database) -> int:
    """Apply the steps not yet recorded; safe when several processes start at once."""
    with db.write() as conn:
        _lock(conn)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
            f"description TEXT NOT NULL, applied_at {_TYPES[conn.dialect]['float']} NOT NULL)"
        )
        current = current_version(conn)
        for step in STEPS:
            if step.version <= current:
                continue
            for sql in step.statements(conn.dialect):
                conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_version (version, description, applied_at) VALUES (:v, :d, :at)",
                {"v": step.version, "d": step.description, "at": time.time()},
            )
            log.info("review_store.migrated", version=step.version, description=step.description)
            current = step.version
    return current


def current_version(conn: Conn) -> int:
    row = conn.fetchone("SELECT MAX(version) AS v FROM schema_version")
    return int(row["v"]) if row and row["v"] is not None else 0


def _lock(conn: Conn) -> None:  # and make sure the schema exists
    # SQLite: BEGIN IMMEDIATE already holds the write lock. PostgreSQL: DDL does not lock a
    # table that does not exist yet, so replicas starting together serialize on an advisory lock.
    if conn.dialect == "postgresql":
        conn.execute("SELECT pg_advisory_xact_lock(7306204118)")
        if conn.schema:
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{conn.schema}"')  # name checked by parse_url
