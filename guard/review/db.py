"""A small blocking database layer over sqlite3 and psycopg 3, so the store's SQL is written once.

SQL uses ``:name`` placeholders (sqlite3's style); they are rewritten to ``%(name)s`` for psycopg.
Rows come back as plain dicts. Connections live in a small thread-safe pool because the async
store runs each call in a worker thread: ``Database.run``, a thread pool of the database's own.
Not asyncio's default pool, which anything may fill (checks that outlived their deadline once
held every default worker and a review look-up waited 13 s behind them).

URL forms:
- ``sqlite:///relative/or/absolute/path.sqlite3`` (``sqlite:////abs`` also works), ``sqlite://:memory:``
  is refused because every pooled connection would see a different database;
- ``postgresql://user@host:5432/db[?schema=name]``: ``schema`` (not a libpq option) puts the
  tables in that schema, created if missing, which keeps test runs and deployments apart.
"""

from __future__ import annotations

import asyncio
import queue
import re
import sqlite3
import time
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Dialect = Literal["sqlite", "postgresql"]
_PLACEHOLDER = re.compile(r"(?<!:):([A-Za-z_][A-Za-z0-9_]*)")
_SCHEMA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Conn(Protocol):
    """What store and migrations use: one connection, checked out of the pool."""

    dialect: Dialect
    schema: str | None

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> int: ...

    def fetchall(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def fetchone(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Target:
    dialect: Dialect
    dsn: str  # a file path for sqlite, a libpq URL for postgresql
    schema: str | None = None


def parse_url(url: str) -> Target:
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
        path = path[1:] if path.startswith("/") else path  # sqlite:///rel -> rel, sqlite:////abs -> /abs
        if not path or path == ":memory:":
            raise ValueError("the review store needs a file: sqlite:///path/to/file.sqlite3")
        return Target("sqlite", path)
    if url.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        schema = next((v for k, v in query if k == "schema"), None)
        if schema is not None and not _SCHEMA_NAME.match(schema):
            raise ValueError(f"invalid schema name {schema!r}")
        rest = urlencode([(k, v) for k, v in query if k != "schema"])
        return Target("postgresql", urlunsplit(parts._replace(query=rest)), schema)
    raise ValueError(f"unsupported review store URL {url!r} (use sqlite:///... or postgresql://...)")


def _set_wal(raw: sqlite3.Connection, attempts: int = 100) -> None:
    """Switch to WAL. The switch needs the database to itself, and SQLite answers "database is
    locked" at once (without its busy handler) while another process is switching a new file
    too, as replicas starting together do; so try again for a few seconds."""
    for attempt in range(attempts):
        try:
            raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or attempt == attempts - 1:
                raise
            time.sleep(0.05)


class _SqliteConn:
    dialect: Dialect = "sqlite"
    schema: str | None = None

    def __init__(self, path: str) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, so a write transaction takes
        # the lock up front instead of failing half-way when a reader upgrades.
        self.raw = sqlite3.connect(path, timeout=10, isolation_level=None, check_same_thread=False)
        self.raw.row_factory = _dict_row
        self.raw.execute("PRAGMA busy_timeout=10000")
        _set_wal(self.raw)
        self.raw.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return self.raw.execute(sql, params or {}).rowcount

    def fetchall(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.raw.execute(sql, params or {}).fetchall()

    def fetchone(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return self.raw.execute(sql, params or {}).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.raw.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.raw.execute("ROLLBACK")
            raise
        self.raw.execute("COMMIT")

    def close(self) -> None:
        self.raw.close()


def _dict_row(cursor: sqlite3.Cursor, row: tuple) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row)}


class _PgConn:
    dialect: Dialect = "postgresql"

    def __init__(self, dsn: str, schema: str | None) -> None:
        import psycopg
        from psycopg.rows import dict_row

        self.schema = schema
        self.raw = psycopg.connect(dsn, autocommit=True, row_factory=dict_row, connect_timeout=10)
        if schema:  # the schema itself is created by the migrations, under their lock
            self.raw.execute(f'SET search_path TO "{schema}"')

    def execute(self, sql: str, params: dict[str, Any] | None = None) -> int:
        return self.raw.execute(_to_pyformat(sql), params or {}).rowcount

    def fetchall(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self.raw.execute(_to_pyformat(sql), params or {}).fetchall()

    def fetchone(self, sql: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        return self.raw.execute(_to_pyformat(sql), params or {}).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.raw.transaction():
            yield

    def close(self) -> None:
        self.raw.close()


def _to_pyformat(sql: str) -> str:
    return _PLACEHOLDER.sub(r"%(\1)s", sql.replace("%", "%%"))


class Database:
    """A pool of connections to one database. ``read()`` for queries, ``write()`` for a transaction."""

    def __init__(self, target: Target, max_idle: int = 8, workers: int = 8) -> None:
        self.target = target
        self.dialect: Dialect = target.dialect
        self._idle: queue.LifoQueue[_SqliteConn | _PgConn] = queue.LifoQueue(maxsize=max_idle)
        self._closed = False
        self._lock = threading.Lock()
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None  # made on first use, in the loop's thread

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` in this database's own worker threads, off the event loop."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="guard-store")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _connect(self) -> _SqliteConn | _PgConn:
        if self.dialect == "sqlite":
            return _SqliteConn(self.target.dsn)
        return _PgConn(self.target.dsn, self.target.schema)

    @contextmanager
    def _checkout(self) -> Iterator[_SqliteConn | _PgConn]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._connect()
        healthy = False
        try:
            yield conn
            healthy = True
        finally:
            self._checkin(conn, healthy)

    def _checkin(self, conn: _SqliteConn | _PgConn, healthy: bool) -> None:
        broken = isinstance(conn, _PgConn) and (conn.raw.closed or conn.raw.info.transaction_status != 0)
        with self._lock:
            keep = healthy and not broken and not self._closed
            if keep:
                try:
                    self._idle.put_nowait(conn)
                    return
                except queue.Full:
                    pass
        conn.close()

    @contextmanager
    def read(self) -> Iterator[Conn]:
        with self._checkout() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Conn]:
        with self._checkout() as conn, conn.transaction():
            yield conn

    def close(self) -> None:
        with self._lock:
            self._closed = True
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
