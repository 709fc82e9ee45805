"""Server-sent events through guard, with the policy's output checks applied.

Four ways to stream, chosen by the policy:

- relay (no output checks): each backend event is forwarded as it arrives, with reasoning moved
  to ``reasoning_content`` (or stripped) and the public model name (``guard.stream_relay``);
- ``buffer``: read the whole answer, check it, then send the approved text. The decision is known
  before the response starts, so it goes into the ``x-guard-*`` headers too;
- ``sentence``: release each sentence once it passes; on a failing sentence stop, send the
  policy's notice and finish with ``content_filter``;
- ``observe``: stream at once, check at the end, and send the verdict as a final chunk.

Whatever the mode, the client learns the decision from a ``guard`` object on the last chunk that
has a choice, beside its ``finish_reason``. A chunk with ``choices: []`` comes only when the client
asked for ``stream_options.include_usage``, and carries only the usage, as OpenAI sends it: the
most common client code (``chunk.choices[0].delta.content``) must never meet an empty list. A
backend that fails mid-stream yields an OpenAI-style ``error`` event and a closed stream.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from guard.errors import GuardError
from guard.reasoning import ThinkSplitter
from guard.responses import CHAT, choice_text, chunk, replacement_choice
from guard.text.sentences import sentence_ends

if TYPE_CHECKING:
    from guard.metrics import StreamMeter
    from guard.calls import Call, Verdict
    from guard.pipeline import Pipeline

log = structlog.get_logger()
DONE = b"data: [DONE]\n\n"


class LastBytes(bytes):
    """A stream's final bytes: the response sends them with the end of the body, in one write."""


def sse(obj: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(obj) + b"\n\n"


class _Reasoning:
    """Per-choice think-tag splitting for a stream, and the policy's keep/strip choice."""

    def __init__(self, endpoint: str, keep: bool, opened: bool = False) -> None:
        self.endpoint = endpoint
        self.keep = keep
        self.opened = opened
        self.splitters: dict[int, ThinkSplitter] = {}
        self.reasoning: list[str] = []
        self.pieces = 0  # content-bearing choice deltas: one token each on most servers
        self.usage_seen = False

    def untouched(self, event: dict[str, Any]) -> bool:
        """Count an event that ``apply`` would leave as it is and return True (its bytes can be
        forwarded as the backend sent them); return False, counting nothing, for one that needs
        ``apply``: reasoning to move or strip, or content while a choice may still be thinking.
        Empty reasoning fields (``null`` or ``""``, which some servers send on every delta) are
        let through: they carry no reasoning either way."""
        pieces = 0
        for choice in event.get("choices") or ():
            if self.endpoint != CHAT:
                pieces += bool(choice.get("text"))
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            if delta.get("reasoning_content") or delta.get("reasoning"):
                return False
            content = delta.get("content")
            if isinstance(content, str) and content:
                splitter = self.splitters.get(choice.get("index", 0))
                if splitter is None or not splitter.settled:
                    return False
            pieces += bool(content)
        self.pieces += pieces
        if event.get("usage"):
            self.usage_seen = True
        return True

    def apply(self, event: dict[str, Any]) -> None:
        if event.get("usage"):
            self.usage_seen = True
        for choice in event.get("choices") or ():
            if self.endpoint != CHAT:
                self.pieces += bool(choice.get("text"))
                continue
            delta = choice.get("delta")
            if not isinstance(delta, dict):
                continue
            field, alias = delta.pop("reasoning_content", None), delta.pop("reasoning", None)
            thought = field or alias or ""
            content = delta.get("content")
            if isinstance(content, str) and content:
                splitter = self.splitters.setdefault(choice.get("index", 0), ThinkSplitter(opened=self.opened))
                more, answer = splitter.feed(content)
                thought += more
                delta["content"] = answer
            self.pieces += bool(content or thought)
            if thought:
                self.reasoning.append(thought)
                if self.keep:
                    delta["reasoning_content"] = thought


def wants_usage(call: "Call") -> bool:
    return bool((call.body.get("stream_options") or {}).get("include_usage"))


def estimated_usage(call: "Call", pieces: int, counted: tuple[int, bool] | None = None) -> dict[str, Any]:
    """For backends that never send usage in a stream (llama.cpp's Python server, some Ollama
    versions) when the client asked for it: completion tokens counted from the chunks (one token
    each on those servers), prompt tokens from the backend's tokenizer when it has one
    (``counted``: the count and whether it is exact), else estimated from characters. Marked
    ``estimated``, with ``estimated_fields`` naming what was not counted exactly."""
    from guard.policy.template import text_of

    if counted is not None:
        prompt_tokens, exact = counted
    else:
        exact = False
        if call.endpoint == CHAT:
            chars = sum(len(text_of(m.get("content"))) for m in call.body.get("messages") or [])
        else:
            prompt = call.body.get("prompt")
            chars = len(prompt) if isinstance(prompt, str) else sum(len(p) for p in prompt or [] if isinstance(p, str))
        prompt_tokens = max(1, chars // 4)
    fields = ["completion_tokens"] if exact else ["prompt_tokens", "completion_tokens"]
    return {
        "prompt_tokens": prompt_tokens, "completion_tokens": pieces, "total_tokens": prompt_tokens + pieces,
        "estimated": True, "estimated_fields": fields,
    }


async def counted_usage(pipeline: "Pipeline", call: "Call", pieces: int) -> dict[str, Any]:
    """``estimated_usage`` with the prompt counted by the backend's tokenizer where it has one."""
    upstream = pipeline.rt.router.upstreams.get(call.model.name)
    count = getattr(upstream, "count_prompt_tokens", None)
    counted = None
    if count is not None:
        model = call.model.backend.model
        body = call.body if model in ("*", call.public_model) else {**call.body, "model": model}
        counted = await count(call.endpoint, body)
    return estimated_usage(call, pieces, counted)


async def _chain(first: dict[str, Any], events: AsyncIterator[dict[str, Any]], meter: "StreamMeter") -> AsyncGenerator[dict[str, Any], None]:
    meter.event(first)
    yield first
    try:
        async for e in events:
            meter.event(e)
            yield e
    finally:
        meter.finish()
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()


async def contained(call: "Call", events: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """Once the response has started, a bug can only be reported in the stream: end it with an
    error event rather than a cut connection the client cannot tell from a network fault."""
    try:
        async for b in events:
            yield b
    except Exception:  # noqa: BLE001 - GuardErrors were turned into error events already
        log.exception("stream_internal_error", request_id=call.request_id)
        yield sse(GuardError("internal error in guard; the request id is in the log").to_dict())


def error_event(call: "Call", e: GuardError) -> bytes:
    log.warning("stream_failed", request_id=call.request_id, error=e.message)
    return sse(e.to_dict())


async def read_choices(call: "Call", source: AsyncIterator[dict[str, Any]], reasoning: "_Reasoning") -> dict[str, Any]:
    """The whole stream per choice index: texts, finish reasons, the first event and usage."""
    body: dict[str, Any] = {"first": None, "texts": {}, "finish": {}, "usage": None}
    async for event in source:
        body["first"] = body["first"] or event
        reasoning.apply(event)
        if event.get("usage"):
            body["usage"] = event["usage"]
        for choice in event.get("choices") or ():
            i = choice.get("index", 0)
            body["texts"].setdefault(i, []).append(choice_text(call.endpoint, choice, stream=True))
            if choice.get("finish_reason"):
                body["finish"][i] = choice["finish_reason"]
    body["pieces"] = reasoning.pieces
    return body


async def _buffer_events(call: "Call", source: AsyncIterator[dict[str, Any]], reasoning: "_Reasoning") -> dict[str, Any]:
    """Read the whole stream of one choice: its text, the first event (ids), finish reason and usage."""
    body = await read_choices(call, source, reasoning)
    body["answer"] = "".join(body["texts"].get(0, []))
    body["finish_reason"] = body["finish"].get(0, "stop")
    return body


async def _finish(pipeline: "Pipeline", call: "Call", final: dict[str, Any], verdict: "Verdict | None", usage: Any, annotate: bool, pieces: int = 0, choices: list[dict[str, Any]] | None = None) -> list[bytes]:
    """The stream's end: ``final`` (the chunk that carries the finish reason) with the verdict
    beside it (and each choice's, when there are several), the usage chunk if the client asked
    for usage, and ``[DONE]``."""
    guard = call.guard_field()
    if verdict is not None:
        guard.update(verdict.as_dict(annotate=annotate))
    if choices and len(choices) > 1:
        guard["choices"] = choices
    final.pop("usage", None)
    out = [sse({**final, "model": call.public_model, "guard": guard})]
    if wants_usage(call):
        usage = usage or await counted_usage(pipeline, call, pieces)
        out.append(sse(chunk(call.endpoint, final, model=call.public_model, choices=[], usage=usage)))
    out.append(DONE)
    pipeline.log(call, status=200, decision=verdict.action if verdict else None)
    return out


def _finish_chunk(call: "Call", template: dict[str, Any], text: str, finish_reason: str | None) -> dict[str, Any]:
    return chunk(call.endpoint, template, model=call.public_model, choices=[replacement_choice(call.endpoint, 0, text, finish_reason, stream=True)])


def _thought_chunk(call: "Call", first: dict[str, Any], thought: str) -> bytes:
    delta = {"role": "assistant", "content": "", "reasoning_content": thought}
    return sse(chunk(call.endpoint, first, model=call.public_model, choices=[{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}]))


async def _replay(pipeline: "Pipeline", call: "Call", body: dict[str, Any], verdict: "Verdict", thought: str | None = None) -> AsyncIterator[bytes]:
    first = body["first"] or {}
    ep, name = call.endpoint, call.public_model
    if thought and ep == CHAT:
        yield _thought_chunk(call, first, thought)
    yield sse(chunk(ep, first, model=name, choices=[replacement_choice(ep, 0, verdict.text, None, stream=True)]))
    finish = verdict.finish_reason or body["finish_reason"]
    final = _finish_chunk(call, first, "", finish)
    for b in await _finish(pipeline, call, final, verdict, body["usage"], verdict.action in ("annotate", "hold"), body.get("pieces", 0)):
        yield b


async def _observe(pipeline: "Pipeline", call: "Call", source: AsyncIterator[dict[str, Any]], reasoning: _Reasoning) -> AsyncIterator[bytes]:
    """Stream at once, but keep the chunk with the finish reason until the check is done: the
    verdict travels on it."""
    parts: list[str] = []
    first: dict[str, Any] = {}
    final: dict[str, Any] | None = None
    usage = None
    try:
        async for event in source:
            first = first or event
            event["model"] = call.public_model
            reasoning.apply(event)
            if event.get("usage"):
                usage = event["usage"]  # some servers put it on the finish chunk
            event.pop("usage", None)  # sent after the verdict, where OpenAI puts it: last
            choices = event.get("choices") or ()
            if not choices:
                continue
            for choice in choices:
                parts.append(choice_text(call.endpoint, choice, stream=True))
            if any(c.get("finish_reason") for c in choices):
                if final is not None:
                    yield sse(final)
                final = event
                continue
            yield sse(event)
    except GuardError as e:
        pipeline.log(call, status=e.status)
        yield error_event(call, e)
        return
    report = await pipeline.check(call, "".join(parts), "".join(reasoning.reasoning) or None)
    from guard.decision import decide

    decision = decide(report, call.policy)
    from guard.calls import Verdict

    # The answer is already out: observe can only report, file a hold for review, and (if the
    # policy asks) say so in a last line of text (guard.visible).
    answer = "".join(parts)
    review_id = None
    if decision.action == "hold" and pipeline.rt.review is not None:
        review_id = await pipeline.rt.review.file_hold(call, decision, report, answer, "".join(reasoning.reasoning) or None)
    verdict = Verdict(decision.action, decision.confidence, report, answer, review_id=review_id, reasons=list(getattr(decision, "reasons", []) or []))
    from guard.visible import observed_addition

    if final is None:
        final = _finish_chunk(call, first, "", "stop")
    extra = observed_addition(decision.action, report, call.policy.visible, review_id)
    if extra:  # after any text the finish chunk itself carries
        choice = final["choices"][0]
        if call.endpoint == CHAT:
            delta = choice.get("delta") if isinstance(choice.get("delta"), dict) else {}
            choice["delta"] = {**delta, "content": (delta.get("content") or "") + extra}
        else:
            choice["text"] = (choice.get("text") or "") + extra
    for b in await _finish(pipeline, call, final, verdict, usage, decision.action != "pass", reasoning.pieces):
        yield b


async def _by_sentence(pipeline: "Pipeline", call: "Call", source: AsyncGenerator[dict[str, Any], None], reasoning: _Reasoning) -> AsyncIterator[bytes]:
    ep, name = call.endpoint, call.public_model
    pending = ""
    released: list[str] = []
    first: dict[str, Any] = {}
    finish_reason = "stop"
    usage = None
    verdict = None
    # Reasoning the policy checks is held back and judged with the first piece of answer after
    # it (or alone at the end), then sent, masked, just before that piece: nothing unchecked
    # reaches the client. Unchecked reasoning (reasoning.check: none) streams as it comes.
    hold_thought = reasoning.keep and call.policy.reasoning.check != "none"
    thought_held: list[str] = []

    async def release(text: str) -> tuple[bytes | None, "Verdict"]:
        thought = "".join(thought_held) or None
        thought_held.clear()
        # prior: checks.max_chars and deny rules see the whole answer, not each sentence alone
        v = await pipeline.judge(call, text, thought, prior="".join(released))
        if v.action in ("pass", "annotate"):
            released.append(v.text)
            out = _thought_chunk(call, first, v.reasoning) if v.reasoning and ep == CHAT else b""
            if text:
                out += sse(chunk(ep, first, model=name, choices=[replacement_choice(ep, 0, v.text, None, stream=True)]))
            return out, v
        return None, v

    try:
        async for event in source:
            first = first or event
            reasoning.apply(event)
            if event.get("usage"):
                usage = event["usage"]
            for choice in event.get("choices") or ():
                pending += choice_text(ep, choice, stream=True)
                thought = (choice.get("delta") or {}).get("reasoning_content") if ep == CHAT else None
                if thought and hold_thought:
                    thought_held.append(thought)
                elif thought:  # only present when the policy keeps reasoning
                    yield _thought_chunk(call, first, thought)
                finish_reason = choice.get("finish_reason") or finish_reason
            ends = [e for e in sentence_ends(pending) if e < len(pending)]
            if ends:
                piece, pending = pending[: ends[-1]], pending[ends[-1]:]
                out, verdict = await release(piece)
                if out is None:
                    await source.aclose()  # stop generating: the rest will not be sent
                    break
                if out:
                    yield out
        else:
            if pending.strip() or thought_held:
                out, verdict = await release(pending if pending.strip() else "")
                if out:
                    yield out
    except GuardError as e:
        pipeline.log(call, status=e.status)
        yield error_event(call, e)
        return
    if verdict is not None and verdict.action not in ("pass", "annotate"):
        final = _finish_chunk(call, first, ("\n\n" if released else "") + call.policy.streaming.notice, "content_filter")
    else:
        final = _finish_chunk(call, first, "", finish_reason)
    for b in await _finish(pipeline, call, final, verdict, usage, verdict is not None and verdict.action != "pass", reasoning.pieces):
        yield b
