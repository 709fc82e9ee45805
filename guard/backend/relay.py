"""Relay to an OpenAI-compatible server (vLLM, SGLang, Ollama /v1, llama.cpp, LMDeploy, TRT-LLM).

The relay does as little as possible: one pool of keep-alive connections per backend
(``guard.backend.wire``: a small HTTP/1.1 client that costs about half of aiohttp's per request,
and aiohttp's pool is in turn far faster than httpx's under concurrency), orjson for bodies, and
the request body sent as the pipeline left it, so backend-specific parameters (``top_k``,
``guided_json``, ``chat_template_kwargs``...) reach the backend untouched.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import orjson
import structlog

from guard import __version__
from guard.backend.base import Batch
from guard.errors import BackendError, BackendTimeout, GuardError, InvalidRequest, ModelNotFound, RateLimited
from guard.backend.shape import check_body, check_event
from guard.backend.wire import ConnectFailed, Disconnected, Pool, Response, Timeouts
from guard.settings import BackendConfig

log = structlog.get_logger()

class RelayUpstream:
    def __init__(self, name: str, config: BackendConfig) -> None:
        self.name = name
        self.config = config
        t = config.timeouts
        headers = {
            "user-agent": f"guard/{__version__}",
            "content-type": "application/json",
            "accept-encoding": "identity",  # the relay client does not decompress
            **config.extra_headers,
        }
        key = config.api_key()
        if key:
            headers["authorization"] = f"Bearer {key}"
        self._pool = Pool(config.api_base or "", Timeouts(connect=t.connect, read=t.read, total=t.total), headers)

    async def close(self) -> None:
        await self._pool.close()

    async def _send(self, method: str, endpoint: str, body: bytes, headers: dict[str, str], *, root: bool = False) -> Response:
        """The answer's status and headers; an error status is raised with the backend's message."""
        resp = await self._pool.request(method, endpoint, body, headers, root=root)
        if resp.status >= 400:
            async with resp:
                raise status_error(self.name, resp.status, await resp.read(), resp.headers.get("retry-after"),
                                   expose=self.config.expose_errors)
        return resp

    async def complete(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        try:
            resp = await self._send("POST", endpoint, orjson.dumps(body), headers)
            async with resp:
                raw = await resp.read()
        except GuardError:
            raise
        except Exception as e:  # noqa: BLE001 - every transport error is translated here
            raise transport_error(self.name, e, expose=self.config.expose_errors) from e
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise BackendError(f"backend {self.name!r} sent a body that is not JSON") from None
        return check_body(self.name, endpoint, data)

    async def stream(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[dict[str, Any]]:
        async with aclosing(self.stream_batches(endpoint, body, headers)) as batches:
            async for batch in batches:
                for _, event in batch.events:
                    yield event

    async def stream_batches(self, endpoint: str, body: dict[str, Any], headers: dict[str, str]) -> AsyncIterator[Batch]:
        try:
            resp = await self._send("POST", endpoint, orjson.dumps(body), headers)
            async with resp:  # a stream left before its end closes the connection: the backend stops
                async for batch in _sse_batches(self.name, endpoint, resp.chunks(), self.config.expose_errors):
                    yield batch
        except GuardError:
            raise
        except Exception as e:  # noqa: BLE001
            raise transport_error(self.name, e, expose=self.config.expose_errors) from e

    async def count_prompt_tokens(self, endpoint: str, body: dict[str, Any]) -> tuple[int, bool] | None:
        """The prompt's tokens by the backend's tokenizer (``guard.backend.tokenize``) and whether
        the count is exact; None when the backend cannot tell (not configured, or it failed)."""
        from guard.backend import tokenize

        kind = self.config.tokenize
        if kind == "none":
            return None
        try:
            first = tokenize.first_step(kind, endpoint, body, self.config.chat_template)
        except Exception:  # noqa: BLE001 - a template that does not render: estimate instead
            return None
        if first is None:
            return None
        step, exact = first
        for _ in range(3):
            try:
                resp = await asyncio.wait_for(self._send("POST", step.path, orjson.dumps(step.body), {}, root=True), 5)
                async with resp:
                    answer = orjson.loads(await asyncio.wait_for(resp.read(), 5))
            except Exception:  # noqa: BLE001 - counting is best effort; the estimate remains
                return None
            found = tokenize.next_step(kind, step, answer)
            if found is None or isinstance(found, int):
                return None if found is None else (found, exact)
            step = found
        return None

    async def models(self) -> list[dict[str, Any]]:
        try:
            resp = await self._send("GET", "models", b"", {})
            async with resp:
                data = orjson.loads(await resp.read())
        except GuardError:
            raise
        except Exception as e:  # noqa: BLE001
            raise transport_error(self.name, e, expose=self.config.expose_errors) from e
        return data.get("data", []) if isinstance(data, dict) else []


class _DataLines:
    """The payloads of the ``data:`` lines in whatever the socket delivered, one read at a time.

    Splitting reads here costs a fraction of a line-by-line reader (an event is on the hot path
    once per token), and keeping a read's events together lets the relay send them in one write.
    """

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[bytes]:
        lines = (self.pending + data).split(b"\n")
        self.pending = lines.pop()
        # blank separators, ``event:`` and ``:`` keep-alives are skipped
        return [line[5:].strip() for line in lines if line.startswith(b"data:")]

    def end(self) -> list[bytes]:
        pending, self.pending = self.pending, b""
        return [pending[5:].strip()] if pending.startswith(b"data:") else []


async def _sse_batches(name: str, endpoint: str, body: AsyncIterator[bytes], expose: bool = False) -> AsyncIterator[Batch]:
    """Parse each read's events; stop at ``[DONE]``. A stream that ends without a finish is an error.

    A bad event raises once the events before it in the same read were handed over, as they
    would have been had they arrived one by one.
    """
    lines = _DataLines()
    parse = _Parse(name, endpoint, expose)
    reads = aiter(body)
    while not parse.done:
        data = await anext(reads, None)
        payloads = lines.feed(data) if data is not None else lines.end()
        if payloads:
            batch = parse.batch(payloads)
            if batch.events or batch.done:
                yield batch
            if parse.error is not None:
                raise parse.error
        if data is None:
            break
    if not parse.done and not parse.finished:
        raise BackendError(f"backend {name!r} closed the stream before it finished")


class _Parse:
    """One stream's events, parsed and checked a read at a time."""

    __slots__ = ("name", "endpoint", "expose", "finished", "done", "error")

    def __init__(self, name: str, endpoint: str, expose: bool = False) -> None:
        self.name, self.endpoint, self.expose = name, endpoint, expose
        self.finished = False  # a choice has a finish reason
        self.done = False  # [DONE] arrived
        self.error: GuardError | None = None  # a bad event, raised after the good ones before it

    def batch(self, payloads: list[bytes]) -> Batch:
        """The events up to ``[DONE]`` or up to a bad one."""
        events: list[tuple[bytes | None, dict[str, Any]]] = []
        for payload in payloads:
            if payload == b"[DONE]":
                self.done = True
                break
            try:
                event = _event(self.name, self.endpoint, payload, self.expose)
            except GuardError as e:
                self.error = e
                break
            for choice in event.get("choices") or ():
                if choice.get("finish_reason"):
                    self.finished = True
            events.append((payload, event))
        return Batch(events, done=self.done)


def _event(name: str, endpoint: str, payload: bytes, expose: bool = False) -> dict[str, Any]:
    try:
        event = orjson.loads(payload)
    except orjson.JSONDecodeError:
        raise BackendError(f"backend {name!r} sent a malformed stream event") from None
    if isinstance(event, dict) and "error" in event and not event.get("choices"):
        raise status_error(name, 502, payload, None, expose=expose)
    return check_event(name, endpoint, event)


def _error_message(raw: bytes) -> str:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:300].decode("utf-8", "replace").strip()
    if isinstance(data, dict):
        err = data.get("error", data)
        if isinstance(err, dict):
            return str(err.get("message") or err.get("detail") or err)[:1000]
        if isinstance(err, str):
            return err[:1000]
        if "detail" in data:
            return str(data["detail"])[:1000]
    return str(data)[:300]


def status_error(name: str, status: int, raw: bytes, retry_after: str | None, *, expose: bool = False) -> GuardError:
    """An error status from the backend, as the client should see it.

    The backend's own message is logged (``backend_error_body``) and, unless the backend's
    ``expose_errors`` is on, kept from the client: it can name internal hosts, file paths or
    keys. The client gets the status and the request id to quote.
    """
    message = _error_message(raw)
    log.warning("backend_error_body", backend=name, status=status, message=message)
    said = f": {message}" if expose else f" (HTTP {status}; details are in guard's log)"
    if status in (400, 422):
        # The backend refused the parameters: the client can fix that, so it is a 400.
        return InvalidRequest(f"the backend rejected the request{said}", code="backend_rejected")
    if status == 429:
        headers = {"retry-after": retry_after} if retry_after else {}
        return RateLimited(f"the backend is rate limiting{said if expose else ''}", headers=headers)
    if status == 404:
        # Ollama and LMDeploy answer 404 for a model they have not loaded.
        return ModelNotFound(f"backend {name!r} does not know this model{said}", param="model")
    if status == 408:
        return BackendTimeout(f"backend {name!r} timed out{said if expose else ''}")
    return BackendError(f"backend {name!r} answered {status}" + (f": {message}" if expose else "; details are in guard's log"))


def transport_error(name: str, e: BaseException, *, expose: bool = False) -> GuardError:
    """A failure to talk to the backend; addresses and OS messages go to the log only."""
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):  # TimeoutError is an OSError: first
        return BackendTimeout(f"backend {name!r} did not answer in time")
    detail = str(e.__cause__ or e) if isinstance(e, ConnectFailed) else f"{type(e).__name__}: {e}"
    log.warning("backend_transport_error", backend=name, error=detail)
    if isinstance(e, ConnectFailed):
        return BackendError(f"cannot connect to backend {name!r}" + (f": {detail}" if expose else ""), code="backend_unreachable")
    if isinstance(e, (Disconnected, ConnectionError)):
        return BackendError(f"backend {name!r} dropped the connection")
    if isinstance(e, OSError):
        return BackendError(f"backend {name!r} failed: " + (detail if expose else type(e).__name__))
    return BackendError(f"backend {name!r} failed: {type(e).__name__}")
