"""Deadlines and size limits for what a client sends, so a slow or endless client cannot hold
a connection (and its memory) forever.

uvicorn bounds neither: a connection that opens and never finishes its headers, or a body sent
one byte every few seconds, stays open as long as the client likes, and enough of them exhaust
the server's sockets and memory (slowloris). Two pieces close that:

- ``header_deadline_protocol``: uvicorn's httptools protocol with a deadline for the request line
  and headers (from the first byte of a request, or from connecting), and a cap on their size
  (431 beyond it);
- ``BodyGuard``: ASGI middleware that gives the whole body a deadline (408) and a size limit per
  route (413), answered by the middleware itself with ``connection: close``, before the app's
  own parsing (forms, JSON) sees more than the limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from guard.errors import BodyTooLarge, GuardError

log = structlog.get_logger()


class BodyTimeout(GuardError):
    status = 408
    type = "invalid_request_error"
    code = "request_timeout"


def header_deadline_protocol(base: type, timeout_s: float, max_header_bytes: int = 64 * 1024) -> type:
    """A subclass of uvicorn's ``HttpToolsProtocol`` that closes connections whose request line
    and headers take longer than ``timeout_s``, and answers 431 to headers over ``max_header_bytes``."""

    class HeaderDeadlineProtocol(base):  # type: ignore[misc, valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        _awaiting_headers = True
        _header_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._awaiting_headers:
                self._arm()  # the first byte of a request starts its clock
            super().data_received(data)

        def on_message_begin(self) -> None:
            self._awaiting_headers = True
            self._header_bytes = 0
            super().on_message_begin()

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value))
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._awaiting_headers = False
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            self._awaiting_headers = True  # uvicorn's keep-alive timer covers the idle wait
            super().on_response_complete()

        def _count(self, n: int) -> None:
            self._header_bytes += n
            if self._header_bytes > max_header_bytes:
                self._refuse(b"431 Request Header Fields Too Large", "request_headers_too_large")
                raise _Refused()

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(timeout_s, self._header_timeout)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _header_timeout(self) -> None:
            self._header_timer = None
            if self._awaiting_headers and not self.transport.is_closing():
                self._refuse(b"408 Request Timeout", "header_timeout")

        def _refuse(self, status: bytes, event: str) -> None:
            client = self.client[0] if self.client else None
            log.info("connection_refused", reason=event, client=client)
            if not self.transport.is_closing():
                self.transport.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                self.transport.close()

        def send_400_response(self, msg: str) -> None:
            if not self.transport.is_closing():  # after a refusal the parser's error is ours
                super().send_400_response(msg)

    return HeaderDeadlineProtocol


class _Refused(Exception):
    """Stops the parser after a refusal; httptools reports it as a parser error."""


class BodyGuard:
    """A deadline for the whole request body and a size limit chosen by path."""

    def __init__(self, app: ASGIApp, timeout_s: Callable[[], float], limit_for: Callable[[str], int | None]) -> None:
        self.app = app
        self.timeout_s = timeout_s
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))  # None: the route limits its body itself
        length = _content_length(scope)
        if limit is not None and length is not None and length > limit:
            await _answer(send, BodyTooLarge(f"the request body is {length} bytes; the limit is {limit}"))
            return
        state = _Body(asyncio.get_running_loop().time() + self.timeout_s(), limit)

        async def guarded_receive() -> Message:
            if state.done:
                return await receive()
            try:
                async with asyncio.timeout_at(state.deadline):
                    message = await receive()
            except TimeoutError:
                return await state.refuse(send, BodyTimeout("the request body did not arrive in time"))
            if message["type"] == "http.request":
                state.size += len(message.get("body", b""))
                if limit is not None and state.size > limit:
                    return await state.refuse(send, BodyTooLarge(f"the request body is over the limit of {limit} bytes"))
                state.done = not message.get("more_body", False)
            else:
                state.done = True
            return message

        async def guarded_send(message: Message) -> None:
            if state.refused:
                return  # the guard answered already; whatever the app says next is dropped
            if message["type"] == "http.response.start":
                state.started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if not state.refused:
                raise  # the app's own failure; after a refusal, its reaction to the cut body is moot


class _Body:
    __slots__ = ("deadline", "limit", "size", "done", "started", "refused")

    def __init__(self, deadline: float, limit: int | None) -> None:
        self.deadline, self.limit = deadline, limit
        self.size = 0
        self.done = self.started = self.refused = False

    async def refuse(self, send: Send, error: GuardError) -> Message:
        """Answer the error (unless a response began) and tell the app the client has gone."""
        self.done = True
        if not self.started:
            self.refused = True
            log.info("request_body_refused", status=error.status, code=error.code)
            await _answer(send, error)
        return {"type": "http.disconnect"}


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _answer(send: Send, error: GuardError) -> None:
    body = orjson.dumps(error.to_dict())
    await send({
        "type": "http.response.start",
        "status": error.status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ],
    })
    await send({"type": "http.response.body", "body": body})
