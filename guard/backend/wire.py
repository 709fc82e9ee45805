"""A small HTTP/1.1 client for the relay: keep-alive connections to one backend, nothing more.

aiohttp's client was most of what guard spent on a relayed request: a general client builds
request, response, timer, payload and header objects per request and walks them in Python. A
relay needs one thing: POST a JSON body to one base URL and read the answer, whole or as it
arrives. So requests are written as one prepared byte string on a pooled connection, and
responses are parsed by httptools (the C parser uvicorn uses too), chunked or not.

Behaviour that matters and is kept: connections are reused (LIFO, so few stay warm) and
dropped after ``keepalive_s`` idle; a request that finds its reused connection closed by the
server before any answer arrived is sent once more on a fresh one (servers close idle
connections whenever they like); ``connect``, ``read`` (between two reads) and ``total``
timeouts; a body that stops before its end is an error; a response not read to its end closes
its connection instead of returning it. TLS works through asyncio for hosted APIs. Bodies are
not decompressed (the relay asks for ``accept-encoding: identity``). Errors are ``OSError``
subclasses or ``TimeoutError``, translated into guard's errors by the caller.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools


class ConnectFailed(OSError):
    """No connection to the backend could be opened."""


class Disconnected(OSError):
    """The backend closed the connection before the answer was complete."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect: float | None
    read: float | None
    total: float | None


class _Connection(asyncio.Protocol):
    """One TCP connection; it carries one request at a time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[["_Connection"], None]) -> None:
        self.loop = loop
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.buffered = 0
        self.headers_done = False
        self.keep_alive = False
        self.complete = False
        self.closed = False
        self.got_data = False  # any byte of the current response arrived
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.paused = False

    # ---- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.got_data = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(Disconnected(f"malformed HTTP response: {e}"))
            return
        if self.buffered > 2**20 and not self.paused and self.transport is not None:
            self.paused = True  # the reader is slow: let TCP push back on the backend
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        return None  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.complete and self.headers_done and _until_close(self.headers):
            self.complete = True  # a body without length or chunks ends with the connection
        if not self.complete:
            self._fail(Disconnected("the backend closed the connection"))
        self._wake()
        self.on_lost(self)

    # ---- httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        self.keep_alive = self.parser.should_keep_alive()  # reset once the message completes
        self.headers_done = True

    def on_body(self, body: bytes) -> None:
        self.body.append(body)
        self.buffered += len(body)

    def on_message_complete(self) -> None:
        self.complete = True

    # ---- used by the pool and the response

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def send(self, request: bytes) -> None:
        assert self.transport is not None
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.headers, self.body, self.buffered = 0, {}, [], 0
        self.headers_done = self.complete = self.got_data = False
        self.transport.write(request)

    async def wait(self, timeout: float | None) -> None:
        """Until more of the answer arrived, it ended, or the connection failed."""
        if self.error is not None:
            raise self.error
        waiter = self.waiter = self.loop.create_future()
        timer = self.loop.call_later(timeout, _expire, waiter) if timeout is not None else None
        try:
            await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()
        if self.error is not None:
            raise self.error

    def take(self) -> bytes:
        data = b"".join(self.body) if len(self.body) != 1 else self.body[0]
        self.body, self.buffered = [], 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _until_close(headers: dict[str, str]) -> bool:
    return "content-length" not in headers and "chunked" not in headers.get("transfer-encoding", "").lower()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Response:
    """The status and headers of an answer; its body read whole or as it arrives."""

    __slots__ = ("status", "headers", "_conn", "_pool", "_deadline", "_read")

    def __init__(self, conn: _Connection, pool: "Pool", deadline: float | None, read: float | None) -> None:
        self.status = conn.status
        self.headers = conn.headers
        self._conn: _Connection | None = conn
        self._pool = pool
        self._deadline = deadline
        self._read = read

    async def read(self) -> bytes:
        """The whole body."""
        conn = self._conn
        if conn is None:
            return b""
        parts = []
        while True:
            if conn.body:
                parts.append(conn.take())
            if conn.complete:
                self.release()
                return parts[0] if len(parts) == 1 else b"".join(parts)
            await conn.wait(_remaining(self._read, self._deadline))

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives: everything received since the last one, never empty."""
        conn = self._conn
        if conn is None:
            return
        while True:
            if conn.body:
                yield conn.take()
                continue
            if conn.complete:
                self.release()
                return
            await conn.wait(_remaining(self._read, self._deadline))

    def release(self) -> None:
        """Back to the pool if the answer was read to its end, otherwise closed."""
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.put(conn)

    async def __aenter__(self) -> "Response":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


def _header_lines(headers: dict[str, str]) -> bytes:
    lines = []
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"line break in the HTTP header {name!r}")
        lines.append(f"{name}: {value}\r\n".encode("latin-1"))
    return b"".join(lines)


def _root_of(prefix: str) -> str:
    """The server's root under a base path: ``/v1`` -> ``""``, ``/llm/v1`` -> ``/llm``."""
    return prefix[: -len("/v1")] if prefix.endswith("/v1") else prefix


def _remaining(read: float | None, deadline: float | None) -> float | None:
    if deadline is None:
        return read
    left = max(0.0, deadline - time.monotonic())
    return left if read is None else min(read, left)


class Pool:
    """Keep-alive connections to one ``http(s)://host:port``."""

    def __init__(self, base_url: str, timeouts: Timeouts, headers: dict[str, str], keepalive_s: float = 30.0) -> None:
        parts = urlsplit(base_url)
        self.secure = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.secure else 80)
        self.prefix = parts.path.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host  # an IPv6 literal
        default_port = self.port == (443 if self.secure else 80)
        self.headers = {"host": host if default_port else f"{host}:{self.port}", **{k.lower(): v for k, v in headers.items()}}
        self._fixed = _header_lines(self.headers)  # the same on every request: encoded once
        self.timeouts = timeouts
        self.keepalive_s = keepalive_s
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self.secure else None
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()

    def request_bytes(self, method: str, path: str, body: bytes, headers: dict[str, str], *, root: bool = False) -> bytes:
        """``path`` is under the base URL's path (``/v1``), or under the server root with ``root``."""
        fixed = self._fixed
        if any(k.lower() in self.headers for k in headers):  # a request header replaces a fixed one
            fixed = _header_lines({**self.headers, **{k.lower(): v for k, v in headers.items()}})
            headers = {}
        return b"".join((
            f"{method} {_root_of(self.prefix) if root else self.prefix}/{path} HTTP/1.1\r\n".encode(), fixed, _header_lines(headers),
            b"content-length: %d\r\n\r\n" % len(body), body,
        ))

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str], *, root: bool = False) -> Response:
        """Send a request and wait for the answer's status and headers."""
        t = self.timeouts
        deadline = time.monotonic() + t.total if t.total is not None else None
        data = self.request_bytes(method, path, body, headers, root=root)
        conn, reused = await self._get(deadline)
        try:
            try:
                await self._exchange(conn, data, deadline)
            except Disconnected:
                if not reused or conn.got_data:
                    raise
                conn.close()  # the server had closed it while idle: once more on a fresh one
                self._busy.discard(conn)
                conn, reused = await self._connect(deadline), False
                await self._exchange(conn, data, deadline)
        except BaseException:
            conn.close()
            self._busy.discard(conn)
            raise
        return Response(conn, self, deadline, t.read)

    async def _exchange(self, conn: _Connection, data: bytes, deadline: float | None) -> None:
        conn.send(data)
        while not conn.headers_done:
            await conn.wait(_remaining(self.timeouts.read, deadline))

    async def _get(self, deadline: float | None) -> tuple[_Connection, bool]:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.idle_since < self.keepalive_s:
                self._busy.add(conn)
                return conn, True
            conn.close()
        return await self._connect(deadline), False

    async def _connect(self, deadline: float | None) -> _Connection:
        loop = asyncio.get_running_loop()
        timeout = _remaining(self.timeouts.connect, deadline)
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(loop, self._forget), self.host, self.port, ssl=self._ssl), timeout
            )
        except (asyncio.TimeoutError, TimeoutError):
            raise  # a connect timeout, told apart from a refused connection
        except (OSError, ssl.SSLError) as e:
            raise ConnectFailed(f"cannot connect to {self.host}:{self.port}: {e}") from e
        self._busy.add(conn)
        return conn

    def _forget(self, conn: _Connection) -> None:
        """A connection closed while idle (by the server, usually) leaves the pool at once."""
        if conn in self._idle:
            self._idle.remove(conn)

    def put(self, conn: _Connection) -> None:
        self._busy.discard(conn)
        if conn.complete and not conn.closed and conn.error is None and conn.keep_alive:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()

    async def close(self) -> None:
        for conn in [*self._idle, *self._busy]:
            conn.close()
        self._idle.clear()
        self._busy.clear()
