"""A fast, configurable fake OpenAI-compatible backend for tests and benchmarks.

Serves POST /v1/chat/completions and /v1/completions (stream and non-stream), GET /v1/models and
GET /health. Timing (time to first token, time per token), the answer, reasoning, the response
dialect and faults come from ``FakeConfig``: set per server, overridable per request through
``x-fake-*`` headers or a ``fake`` body field (see ``guard.testing.fake_config``).

Every request is recorded so tests can assert what the backend actually received:
in-process via ``FakeBackend.requests``, over HTTP via GET /_fake/requests (DELETE clears).
GET/POST /_fake/config reads and changes the server configuration of a running process.

Run as a process (so a benchmark's client, proxy and backend do not share a GIL):
    python -m guard.testing.fake_backend --port 9000 --ttft-ms 20 --tpot-ms 5 --tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
from aiohttp import web

from guard.testing import dialects as shapes
from guard.testing.dialects import Dialect, Meta, get_dialect
from guard.testing.fake_config import FakeConfig, OverrideError, effective_config
from guard.testing.fake_events import SSE_HEADERS, Exchange, faulty, stream_choices, usage_of, with_choices
from guard.testing.fake_reply import build_reply, count_prompt_tokens, split_tokens
from guard.testing.serving import serve_forever

class Dropped(Exception):
    """The fault=drop path cut the connection on purpose."""


@dataclass
class RecordedRequest:
    """One request as the backend saw it. ``outcome`` is filled in when the answer ends:
    ok, rejected, fault:<name>, or client_disconnected."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    received_at: float = field(default_factory=time.time)
    outcome: str = "pending"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FakeBackend:
    """The fake backend's state (configuration, recorded requests) and its aiohttp handlers."""

    def __init__(self, config: FakeConfig | None = None, *, max_records: int = 10_000) -> None:
        self._config = config or FakeConfig()
        get_dialect(self._config.dialect)
        self._records: deque[RecordedRequest] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self._id_prefix = os.urandom(3).hex()
        self._started = int(time.time())

    # ---- in-process control ------------------------------------------------------------------

    @property
    def config(self) -> FakeConfig:
        return self._config

    def set(self, **overrides: Any) -> FakeConfig:
        """Change the server configuration; options not named keep their value."""
        config = FakeConfig.model_validate({**self._config.model_dump(), **overrides})
        get_dialect(config.dialect)
        self._config = config
        return config

    def reset(self, config: FakeConfig | None = None) -> None:
        self._config = config or FakeConfig()

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self._records)

    def clear(self) -> None:
        self._records.clear()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/completions", self._text)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/health", self._health)
        app.router.add_post("/tokenize", self._tokenize)  # vLLM / SGLang, and llama.cpp's shape
        app.router.add_post("/apply-template", self._apply_template)  # llama.cpp
        app.router.add_post("/extras/tokenize/count", self._tokenize_count)  # llama-cpp-python
        app.router.add_get("/_fake/requests", self._get_requests)
        app.router.add_delete("/_fake/requests", self._delete_requests)
        app.router.add_get("/_fake/config", self._get_config)
        app.router.add_post("/_fake/config", self._post_config)
        return app

    # ---- control endpoints ---------------------------------------------------------------------

    async def _get_requests(self, request: web.Request) -> web.Response:
        return _json([r.to_json() for r in self._records])

    async def _delete_requests(self, request: web.Request) -> web.Response:
        self.clear()
        return web.Response(status=204)

    async def _get_config(self, request: web.Request) -> web.Response:
        return _json(self._config.model_dump())

    async def _post_config(self, request: web.Request) -> web.Response:
        try:
            return _json(self.set(**orjson.loads(await request.read())).model_dump())
        except (ValueError, TypeError) as e:
            return _json({"error": {"message": str(e), "type": "invalid_request_error"}}, status=400)

    async def _health(self, request: web.Request) -> web.Response:
        return _json({"status": "ok"})

    # ---- tokenizer endpoints: pseudo-tokens (split_tokens) of a ChatML rendering -----------------

    async def _tokenize(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self._record(request, body).outcome = "ok"
        if "content" in body:  # llama.cpp: the tokens themselves
            return _json({"tokens": list(range(len(split_tokens(body["content"]))))})
        text = chatml(body["messages"]) if "messages" in body else body.get("prompt", "")
        return _json({"count": len(split_tokens(text)), "max_model_len": 4096, "tokens": []})

    async def _apply_template(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self._record(request, body).outcome = "ok"
        return _json({"prompt": chatml(body["messages"])})

    async def _tokenize_count(self, request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        self._record(request, body).outcome = "ok"
        return _json({"count": len(split_tokens(body["input"]))})

    async def _models(self, request: web.Request) -> web.Response:
        self._record(request, None).outcome = "ok"
        config = self._config
        return _json(shapes.model_list(get_dialect(config.dialect), config.model, self._started))

    # ---- completions ---------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, "chat")

    async def _text(self, request: web.Request) -> web.StreamResponse:
        return await self._complete(request, "text")

    def _record(self, request: web.Request, body: Any) -> RecordedRequest:
        headers = {k.lower(): v for k, v in request.headers.items()}
        record = RecordedRequest(request.method, request.path, headers, body)
        self._records.append(record)
        return record

    async def _complete(self, request: web.Request, kind: str) -> web.StreamResponse:
        started = time.monotonic()
        raw = await request.read()
        try:
            body: Any = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        record = self._record(request, body)
        try:
            config = effective_config(self._config, request.headers, body)
            dialect = get_dialect(config.dialect)
        except (OverrideError, ValueError) as e:
            record.outcome = "rejected"
            return _error(get_dialect(self._config.dialect), 400, f"bad fake override: {e}")
        if not isinstance(body, dict):
            record.outcome = "rejected"
            return _error(dialect, 400, "request body is not a JSON object")
        record.outcome = f"fault:{config.fault}" if config.fault and config.fault != "no_usage" else "ok"
        try:
            return await self._answer(request, self._exchange(kind, config, dialect, body), started)
        except Dropped:
            raise asyncio.CancelledError() from None  # aiohttp ends a cancelled handler quietly
        except (asyncio.CancelledError, ConnectionError):
            record.outcome = "client_disconnected"
            raise

    def _exchange(self, kind: str, config: FakeConfig, dialect: Dialect, body: dict) -> Exchange:
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        prefix = "chatcmpl" if kind == "chat" else "cmpl"
        meta = Meta(f"{prefix}-{self._id_prefix}{next(self._ids):x}", int(time.time()),
                    str(body.get("model") or config.model))
        options = body.get("stream_options")
        return Exchange(
            kind=kind, stream=bool(body.get("stream")),
            config=config, dialect=dialect, meta=meta,
            reply=build_reply(config, limit if isinstance(limit, int) else None),
            prompt_tokens=count_prompt_tokens(body),
            include_usage=isinstance(options, dict) and bool(options.get("include_usage")),
            n=body["n"] if isinstance(body.get("n"), int) else 1,
            limit=limit if isinstance(limit, int) else None,
        )

    async def _answer(self, request: web.Request, ex: Exchange, started: float) -> web.StreamResponse:
        config = ex.config
        if config.fault == "hang":
            await asyncio.Event().wait()  # ends only when the client goes away or the server stops
        if config.fault == "slow_headers":
            await asyncio.sleep(config.slow_headers_ms / 1000)
            started = time.monotonic()
        if config.fault == "status":
            return _error(ex.dialect, config.status, config.error_message, config.error_style)
        if ex.stream:
            return await _stream(request, ex, started)
        return await _whole(request, ex, started)


# ---- rendering -------------------------------------------------------------------------------


def chatml(messages: list[dict[str, Any]]) -> str:
    """How the fake's "template" renders messages for its tokenizer endpoints."""
    from guard.backend.tokenize import CHATML, render

    return render(CHATML, messages)


def _json(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json", headers=headers)


def _error(dialect: Dialect, status: int, message: str, style: str = "dialect") -> web.Response:
    headers = {"Retry-After": "1"} if status == 429 else None
    if style == "plain":
        return web.Response(text=message, status=status, content_type="text/plain", headers=headers)
    if style == "html":
        page = f"<html><body><h1>{status}</h1><p>{message}</p></body></html>"
        return web.Response(text=page, status=status, content_type="text/html", headers=headers)
    return _json(shapes.error_body(dialect, status, message), status=status, headers=headers)


async def _sleep_until(deadline: float) -> None:
    """Sleep until ``time.monotonic()`` reaches ``deadline``, never less. Deadlines are on the real
    clock, not ``loop.time()``: under uvloop that is libuv's cached millisecond clock, so a timer
    set on it can fire up to a millisecond early, and a fake that promises the first token after
    5 ms must not deliver it at 4.95 (a benchmark test saw exactly that)."""
    while (delay := deadline - time.monotonic()) > 0:
        await asyncio.sleep(delay)


def _abort(request: web.Request) -> None:
    """Cut the connection without finishing the response, as a crashed backend would."""
    if request.transport is not None:
        request.transport.abort()
    raise Dropped()


async def _whole(request: web.Request, ex: Exchange, started: float) -> web.StreamResponse:
    config = ex.config
    steps = max(0, len(ex.reply.pieces) - 1)
    await _sleep_until(started + (config.ttft_ms + steps * config.tpot_ms) / 1000)
    render = shapes.chat_completion if ex.kind == "chat" else shapes.text_completion
    body = orjson.dumps(with_choices(ex, render(ex.dialect, ex.meta, ex.reply, usage_of(ex))))
    headers = {"x-request-id": ex.meta.id}
    if config.fault == "garbage":
        return web.Response(body=body[: len(body) // 2], content_type="application/json", headers=headers)
    if config.fault == "drop":
        resp = web.StreamResponse(headers=headers)
        resp.content_type = "application/json"
        resp.content_length = len(body)
        await resp.prepare(request)
        await resp.write(body[: len(body) // 2])
        _abort(request)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def _stream(request: web.Request, ex: Exchange, started: float) -> web.StreamResponse:
    """Send each event at its offset. Offsets count from the first event as it actually went out,
    so a late first token (a busy loop) delays the stream instead of squeezing the token gaps;
    later tokens keep to the schedule, so sleep overshoot does not add up along the stream."""
    events, drop = faulty(ex, stream_choices(ex))
    resp = web.StreamResponse(headers={**SSE_HEADERS, "x-request-id": ex.meta.id})
    await resp.prepare(request)
    pending: list[bytes] = []
    for i, (offset, data) in enumerate(events):
        deadline = started + offset
        if deadline > time.monotonic():
            if pending:
                await resp.write(b"".join(pending))
                pending.clear()
            await _sleep_until(deadline)
        if i == 0:
            started = max(started, time.monotonic() - offset)
        pending.append(data)
    if pending:
        await resp.write(b"".join(pending))
    if drop:
        _abort(request)
    await resp.write_eof()
    return resp


# ---- process entry point ---------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m guard.testing.fake_backend", description=__doc__.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    p.add_argument("--ttft-ms", type=float, default=0.0)
    p.add_argument("--tpot-ms", type=float, default=0.0)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--text", default=None)
    p.add_argument("--reasoning", choices=["none", "field", "think"], default="none")
    p.add_argument("--dialect", default="openai")
    p.add_argument("--model", default="fake-model")
    p.add_argument("--fault", default=None)
    p.add_argument("--max-records", type=int, default=10_000, help="0 records nothing (for benchmarks)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    config = FakeConfig(
        ttft_ms=args.ttft_ms, tpot_ms=args.tpot_ms, tokens=args.tokens, text=args.text,
        reasoning=args.reasoning, dialect=args.dialect, model=args.model, fault=args.fault,
    )
    serve_forever(FakeBackend(config, max_records=args.max_records), args.host, args.port)


if __name__ == "__main__":
    main()
