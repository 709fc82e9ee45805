"""What the fake backend sends, as pure functions of one exchange: the whole body's choices,
the stream's events with their time offsets, and the faults that cut or corrupt them.

Apart from the server (``fake_backend``) so the wire shapes can be read, and tested, without
aiohttp: each function takes an ``Exchange`` and returns bytes or dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

from guard.testing import dialects as shapes
from guard.testing.dialects import Dialect, Meta
from guard.testing.fake_config import FakeConfig
from guard.testing.fake_reply import Reply, build_reply

SSE_DONE = b"data: [DONE]\n\n"
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
BROKEN_SSE = b'data: {"id": "broken", "choices": [{"delta": {"content": \n\n'


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


@dataclass(frozen=True)
class Exchange:
    """Everything one completion request needs to render its answer."""

    kind: str  # "chat" or "text"
    stream: bool
    config: FakeConfig
    dialect: Dialect
    meta: Meta
    reply: Reply
    prompt_tokens: int
    include_usage: bool
    n: int = 1
    limit: int | None = None


def usage_of(ex: Exchange) -> dict[str, Any] | None:
    if ex.config.fault == "no_usage":
        return None
    return shapes.usage(ex.dialect, ex.prompt_tokens, ex.reply)


def with_choices(ex: Exchange, whole: dict[str, Any]) -> dict[str, Any]:
    """``n`` choices when the request asks for them, answering ``choice_texts`` in turn."""
    n, texts = ex.n, ex.config.choice_texts
    if n <= 1 and not texts:
        return whole
    render = shapes.chat_completion if ex.kind == "chat" else shapes.text_completion
    choices = []
    for i in range(max(1, n)):
        text = texts[i % len(texts)] if texts else ex.config.text
        reply = build_reply(ex.config.model_copy(update={"text": text, "choice_texts": None}), ex.limit)
        choice = render(ex.dialect, ex.meta, reply, None)["choices"][0]
        choices.append({**choice, "index": i})
    return {**whole, "choices": choices}


def stream_events(ex: Exchange) -> list[tuple[float, bytes]]:
    """The SSE events of a streamed answer, each with its offset in seconds from the start."""
    config, d, meta = ex.config, ex.dialect, ex.meta
    chat = ex.kind == "chat"
    usage_mode = "never" if config.fault == "no_usage" else d.stream_usage
    null_usage = chat and ex.include_usage and usage_mode == "requested" and d.null_usage_in_chunks
    null_usage = null_usage or (not chat and ex.include_usage and usage_mode == "requested")
    null_usage = null_usage or (chat and d.always_null_usage)

    def chunk(piece_delta: dict[str, Any] | str, finish: str | None, usage: Any = None) -> bytes:
        if chat:
            return sse(shapes.chat_chunk(d, meta, piece_delta, finish, null_usage, usage))  # type: ignore[arg-type]
        return sse(shapes.text_chunk(d, meta, piece_delta, finish, null_usage, usage))  # type: ignore[arg-type]

    ttft, tpot = config.ttft_ms / 1000, config.tpot_ms / 1000
    events: list[tuple[float, bytes]] = []
    if chat and d.role_chunk:
        events.append((ttft, chunk(shapes.first_delta(d), None)))
    for i, piece in enumerate(ex.reply.pieces):
        events.append((ttft + i * tpot, chunk(shapes.chat_delta(d, piece) if chat else piece.text, None)))
    end = events[-1][0] if events else ttft
    usage = shapes.usage(d, ex.prompt_tokens, ex.reply, stream=True)
    finish = shapes.finish_reason(ex.reply)
    on_final = usage_mode == "final_chunk" or (usage_mode == "final_chunk_requested" and ex.include_usage)
    final_usage = usage if on_final else None
    events.append((end, chunk(shapes.final_delta(d) if chat else "", finish, final_usage)))
    if usage_mode == "requested" and ex.include_usage:
        render = shapes.chat_usage_chunk if chat else shapes.text_usage_chunk
        events.append((end, sse(render(d, meta, usage))))
    events.append((end, SSE_DONE))
    return events


def stream_choices(ex: Exchange) -> list[tuple[float, bytes]]:
    """``stream_events`` for ``n`` choices: each choice's events in turn (index set), then one
    usage chunk and ``[DONE]``."""
    texts = ex.config.choice_texts
    if ex.n <= 1 and not texts:
        return stream_events(ex)
    merged: list[tuple[float, bytes]] = []
    tail: list[tuple[float, bytes]] = []
    for i in range(max(1, ex.n)):
        text = texts[i % len(texts)] if texts else ex.config.text
        reply = build_reply(ex.config.model_copy(update={"text": text, "choice_texts": None}), ex.limit)
        tail = []
        for offset, data in stream_events(replace(ex, reply=reply, n=1)):
            event = orjson.loads(data[6:]) if data != SSE_DONE else None
            if event is None or not event.get("choices"):
                tail.append((offset, data))
                continue
            for choice in event["choices"]:
                choice["index"] = i
            merged.append((offset, sse(event)))
    return merged + tail


def faulty(ex: Exchange, events: list[tuple[float, bytes]]) -> tuple[list[tuple[float, bytes]], bool]:
    """Events cut or corrupted by a stream fault, and whether to drop the connection after them."""
    first_content = 1 if ex.kind == "chat" and ex.dialect.role_chunk else 0
    if ex.config.fault == "drop":
        after = ex.config.drop_after
        kept = first_content + (len(ex.reply.pieces) // 2 if after is None else after)
        return events[: min(kept, len(events) - 3)], True
    if ex.config.fault == "garbage":
        head = events[: first_content + 1]
        at = head[-1][0]
        return [*head, (at, BROKEN_SSE), (at, SSE_DONE)], False
    return events, False
