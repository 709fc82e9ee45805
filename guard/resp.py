"""A minimal asyncio Redis client (RESP2) for the shared per-key limits: one pipelined connection.

Why not redis-py: each call through ``redis.asyncio`` checks a connection out of a pool and
back, packs the command and parses the reply through several layers and wraps the read in a
timeout, and that Python overhead was most of what shared limits added to a request (issue 15).
The limits need a handful of commands (EVALSHA/EVAL, ZREM, and AUTH/SELECT on connecting), so
this is one connection on an ``asyncio.Protocol``: Redis answers a connection's commands in
order, so a FIFO of futures matches the replies; commands sent in one turn of the event loop
leave in one write. A command nobody waits for (``send``: releasing a slot) costs that write and
a place in the FIFO, no task.

A connection that drops fails the commands in flight with ``ConnectionLost``; the next call
connects again. A call without a reply within ``timeout_s`` fails with ``TimeoutError`` and
drops the connection too: a half-open socket (a Redis host gone without a reset) would
otherwise keep every later call waiting.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
from collections import deque
from collections.abc import Sequence
from typing import Any

from guard.redis_url import parse_url

Arg = bytes | str | int | float
CRLF = b"\r\n"


class RespError(Exception):
    """An error reply from Redis (``ERR ...``, ``NOSCRIPT ...``, ``WRONGPASS ...``)."""


class ConnectionLost(ConnectionError):
    """The connection closed before Redis answered this command."""


class ProtocolError(ConnectionError):
    """Redis sent something that is not a RESP2 reply to a command of ours."""


# ---------------------------------------------------------------------------------- wire format


def pack(args: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"a Redis argument must be bytes, str, int or float, not {type(arg).__name__}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


INCOMPLETE: Any = object()  # parse(): the reply has not fully arrived yet


def parse(buf: bytes | bytearray, pos: int = 0) -> tuple[Any, int]:
    """The reply starting at ``pos`` and the position after it, or ``(INCOMPLETE, pos)``.

    Integers come back as ``int``, simple strings as ``str``, bulk strings as ``bytes``, nil as
    ``None``, arrays as lists and error replies as ``RespError`` values (raised only for a
    whole reply, by the connection)."""
    end = buf.find(CRLF, pos)
    if end < 0:
        return INCOMPLETE, pos
    kind, line, after = buf[pos], buf[pos + 1 : end], end + 2
    if kind == 58:  # ':'
        return int(line), after
    if kind == 36:  # '$'
        size = int(line)
        if size < 0:
            return None, after
        if len(buf) < after + size + 2:
            return INCOMPLETE, pos
        return bytes(buf[after : after + size]), after + size + 2
    if kind == 42:  # '*'
        count = int(line)
        if count < 0:
            return None, after
        items = []
        for _ in range(count):
            item, after = parse(buf, after)
            if item is INCOMPLETE:
                return INCOMPLETE, pos
            items.append(item)
        return items, after
    if kind == 43:  # '+'
        return line.decode(), after
    if kind == 45:  # '-'
        return RespError(line.decode(errors="replace")), after
    raise ProtocolError(f"unexpected RESP reply type {chr(kind)!r}")


# ---------------------------------------------------------------------------------- connection


class Connection(asyncio.Protocol):
    """One socket to Redis: commands out, replies matched to the FIFO of waiting futures."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: deque[asyncio.Future | None] = deque()  # None: a reply nobody awaits
        self._out: list[bytes] = []
        self._in = bytearray()
        self._lost = False

    @property
    def open(self) -> bool:
        return self.transport is not None and not self._lost and not self.transport.is_closing()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def write(self, command: bytes, future: asyncio.Future | None) -> None:
        """Queue one command; everything queued in this turn of the loop goes out in one write."""
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(command)
        self.waiting.append(future)

    def _flush(self) -> None:
        data, self._out = b"".join(self._out), []
        if self.open:
            self.transport.write(data)  # type: ignore[union-attr]

    def data_received(self, data: bytes) -> None:
        buf = self._in
        buf += data
        pos = 0
        try:
            while pos < len(buf):
                reply, pos_after = parse(buf, pos)
                if reply is INCOMPLETE:
                    break
                pos = pos_after
                future = self.waiting.popleft()
                if future is not None and not future.done():
                    if isinstance(reply, RespError):
                        future.set_exception(reply)
                    else:
                        future.set_result(reply)
        except (ProtocolError, ValueError, IndexError) as e:  # garbage, or a reply to nothing
            self.abort(f"bad reply from Redis: {e!r}")
            return
        del buf[:pos]

    def close(self, reason: str) -> None:
        """Send what is queued, then close; what is still unanswered fails."""
        if self._out and self.open:
            self._flush()
        self._fail(reason)
        if self.transport is not None:
            self.transport.close()

    def abort(self, reason: str) -> None:
        """Drop the connection at once; the commands in flight fail with ``ConnectionLost``."""
        self._fail(reason)
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"the connection to Redis closed ({exc!r})" if exc else "Redis closed the connection")

    def _fail(self, reason: str) -> None:
        self._lost = True
        while self.waiting:
            future = self.waiting.popleft()
            if future is not None and not future.done():
                future.set_exception(ConnectionLost(reason))


# ---------------------------------------------------------------------------------- client


class Script:
    """A Lua script called by its SHA1 (EVALSHA), sent whole only when Redis lacks it."""

    __slots__ = ("source", "sha")

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


class RespClient:
    """Commands to one Redis over one pipelined connection, opened on first use and after a drop."""

    def __init__(self, url: str, *, timeout_s: float = 0.25) -> None:
        self.address = parse_url(url)
        self.timeout_s = timeout_s
        self._conn: Connection | None = None
        self._opening: asyncio.Future[Connection] | None = None

    async def call(self, *args: Arg) -> Any:
        """Send one command and return its reply; an error reply raises ``RespError``."""
        conn = self._conn
        if conn is None or not conn.open:
            conn = await self._connection()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        conn.write(pack(args), future)
        timer = loop.call_later(self.timeout_s, self._expire, conn, future)
        try:
            return await future
        finally:
            timer.cancel()

    def send(self, *args: Arg) -> bool:
        """Send one command without waiting for its reply (which is read and dropped).

        False when there is no open connection to send it on: nothing was sent."""
        conn = self._conn
        if conn is None or not conn.open:
            return False
        conn.write(pack(args), None)
        return True

    async def evalsha(self, script: Script, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run ``script``; after a ``NOSCRIPT`` (Redis restarted, SCRIPT FLUSH) by EVAL, which
        also loads it for the next EVALSHA."""
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RespError as e:
            if not str(e).startswith("NOSCRIPT"):
                raise
        return await self.call("EVAL", script.source, len(keys), *keys, *args)

    async def close(self) -> None:
        """Close the connection (what is in flight fails with ``ConnectionLost``); a later call
        would open a new one."""
        if self._opening is not None and not self._opening.done():
            self._opening.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close("the client was closed")

    def _expire(self, conn: Connection, future: asyncio.Future) -> None:
        if not future.done():
            future.set_exception(TimeoutError(f"no reply from Redis within {self.timeout_s} s"))
            conn.abort("an earlier command timed out")

    async def _connection(self) -> Connection:
        """The open connection, or one attempt to open it shared by every caller waiting now."""
        if self._opening is None or self._opening.done():
            self._opening = asyncio.ensure_future(self._open())
            self._opening.add_done_callback(_retrieve)
        return await asyncio.shield(self._opening)

    async def _open(self) -> Connection:
        try:
            conn = await asyncio.wait_for(self._connect_and_log_in(), self.timeout_s)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            raise TimeoutError(f"could not connect to Redis within {self.timeout_s} s") from None
        self._conn = conn
        return conn

    async def _connect_and_log_in(self) -> Connection:
        """A new connection, AUTH and SELECT sent at once and both answered."""
        a, loop = self.address, asyncio.get_running_loop()
        if a.path is not None:
            _, conn = await loop.create_unix_connection(Connection, a.path)
        else:
            tls = ssl.create_default_context() if a.tls else None
            _, conn = await loop.create_connection(Connection, a.host, a.port, ssl=tls)
        try:
            hello: list[tuple[Arg, ...]] = []
            if a.password is not None:
                hello.append(("AUTH", a.username, a.password) if a.username else ("AUTH", a.password))
            if a.db:
                hello.append(("SELECT", a.db))
            futures = [loop.create_future() for _ in hello]
            for command, future in zip(hello, futures):
                conn.write(pack(command), future)
            for failed in await asyncio.gather(*futures, return_exceptions=True):
                if isinstance(failed, BaseException):
                    raise failed
        except BaseException:
            conn.abort("logging in to Redis failed")
            raise
        return conn


def _retrieve(future: asyncio.Future) -> None:
    """Mark a failed connection attempt's exception as seen when every waiter was cancelled."""
    if not future.cancelled():
        future.exception()
