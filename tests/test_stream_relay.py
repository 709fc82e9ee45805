"""The policy-only stream relay: untouched events leave as the backend sent them, events that
arrived together leave together, and renaming, reasoning and estimated usage still apply."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import httpx
import orjson
import pytest
from openai import OpenAI

from guard.backend.base import Batch
from guard.responses import CHAT, COMPLETIONS
from guard.stream_relay import Relay
from guard.streaming import _Reasoning
from tests.support import run_guard, settings_for, write_policies


class _Meter:
    def __init__(self) -> None:
        self.events = 0

    def event(self, event: dict[str, Any]) -> None:
        self.events += 1

    def finish(self) -> None:
        pass


def relay(*, public: str = "m", keep: bool = False, usage: bool = False, endpoint: str = CHAT) -> Relay:
    body: dict[str, Any] = {"model": public, "messages": [{"role": "user", "content": "12345678"}]}
    if usage:
        body["stream_options"] = {"include_usage": True}
    call = SimpleNamespace(public_model=public, endpoint=endpoint, body=body)
    return Relay(call, _Reasoning(endpoint, keep), _Meter())  # type: ignore[arg-type]


def batch(*raws: bytes, done: bool = False) -> Batch:
    return Batch([(raw, orjson.loads(raw)) for raw in raws], done=done)


def delta(content: str | None = None, *, model: str = "m", finish: str | None = None, **fields: Any) -> bytes:
    d: dict[str, Any] = {**fields}
    if content is not None:
        d["content"] = content
    event = {"id": "c1", "object": "chat.completion.chunk", "model": model,
             "choices": [{"index": 0, "delta": d, "finish_reason": finish}]}
    return orjson.dumps(event)


def events(data: bytes) -> list[bytes]:
    assert data.endswith(b"\n\n")
    parts = data[:-2].split(b"\n\n")
    assert all(p.startswith(b"data: ") for p in parts)
    return [p[6:] for p in parts]


def test_untouched_events_are_forwarded_byte_for_byte():
    r = relay()
    # spaced JSON and an escaped character: re-encoding would change both
    later = b'{"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": " caf\\u00e9"}, "finish_reason": null}]}'
    out = events(r.encode(batch(delta("", role="assistant"), delta("Hello"), later)))
    assert out[0] == delta("", role="assistant")  # no content: nothing to split
    assert orjson.loads(out[1])["choices"][0]["delta"]["content"] == "Hello"  # first content: split, then settled
    assert out[2] == later
    assert r.reasoning.pieces == 2


def test_a_different_backend_model_name_is_swapped_in_the_bytes():
    r = relay(public="test-model")
    r.encode(batch(delta("Hi", model="upstream-model")))
    raw = b'{"id":"c1","model":"upstream-model","choices":[{"index":0,"delta":{"content":" there \\u00e9"},"finish_reason":null}]}'
    out = events(r.encode(batch(raw)))
    assert out == [raw.replace(b'"model":"upstream-model"', b'"model":"test-model"')]


def test_a_model_name_that_is_not_compact_is_re_encoded():
    r = relay(public="test-model")
    r.encode(batch(delta("Hi", model="up")))
    raw = b'{"id": "c1", "model": "up", "choices": [{"index": 0, "delta": {"content": " x"}, "finish_reason": null}]}'
    (out,) = events(r.encode(batch(raw)))
    assert orjson.loads(out)["model"] == "test-model"


@pytest.mark.parametrize("keep", [True, False])
def test_think_tags_split_across_events_are_still_moved_out_of_the_answer(keep):
    r = relay(keep=keep)
    raws = [delta("<thi"), delta("nk>count"), delta("ing</th"), delta("ink>Three"), delta(" letters."), delta(" Done.")]
    out = [orjson.loads(e) for e in events(r.encode(batch(*raws)))]
    answer = "".join(e["choices"][0]["delta"].get("content") or "" for e in out)
    thought = "".join(e["choices"][0]["delta"].get("reasoning_content") or "" for e in out)
    assert answer == "Three letters. Done."
    assert thought == ("counting" if keep else "")
    assert events(r.encode(batch(delta(" More."))))[0] == delta(" More.")  # past the thinking: raw again


@pytest.mark.parametrize("keep", [True, False])
def test_reasoning_fields_are_moved_or_stripped(keep):
    r = relay(keep=keep)
    r.encode(batch(delta("Answer")))
    (out,) = events(r.encode(batch(delta("", reasoning="hmm"))))
    d = orjson.loads(out)["choices"][0]["delta"]
    assert "reasoning" not in d
    assert d.get("reasoning_content") == ("hmm" if keep else None)


def test_null_reasoning_fields_pass_untouched():
    r = relay()
    r.encode(batch(delta("Answer")))
    raw = delta(" more", reasoning_content=None)
    assert events(r.encode(batch(raw))) == [raw]


def test_the_last_read_leaves_in_one_piece_with_estimated_usage_and_done():
    r = relay(usage=True)
    r.encode(batch(delta("", role="assistant"), delta("One")))
    data = r.encode(last := batch(delta(" two"), delta(finish="stop"), done=True)) + r.tail()
    out = events(data)
    assert out[:2] == [raw for raw, _ in last.events]
    usage = orjson.loads(out[2])["usage"]
    assert usage["completion_tokens"] == 2 and usage["estimated"] is True
    assert out[3] == b"[DONE]"


def test_backend_usage_means_no_estimate():
    r = relay(usage=True)
    final = orjson.dumps({"id": "c1", "model": "m", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})
    assert events(r.encode(batch(delta("One"), final, done=True)))[1] == final
    assert r.tail() == b"data: [DONE]\n\n"


def test_legacy_completions_events_pass_untouched():
    r = relay(endpoint=COMPLETIONS)
    raws = [orjson.dumps({"id": "c", "model": "m", "choices": [{"index": 0, "text": t, "finish_reason": None}]}) for t in ("a", " b")]
    assert events(r.encode(batch(*raws))) == raws
    assert r.reasoning.pieces == 2


# ---- through the proxy ------------------------------------------------------------------------


@pytest.fixture
def proxy(fake_backend, tmp_path):
    write_policies(tmp_path / "policies", {"name": "default"})
    with run_guard(settings_for(fake_backend.base_url, tmp_path / "policies")) as base:
        yield base


def test_events_that_arrive_together_are_all_delivered(proxy, fake_backend):
    """With no delays the fake backend writes the whole answer at once: one read, one batch."""
    fake_backend.set(tokens=40, ttft_ms=0, tpot_ms=0)
    c = OpenAI(base_url=proxy, api_key="x", max_retries=0)
    chunks = list(c.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "q"}], stream=True))
    assert all(ch.model == "test-model" for ch in chunks)
    assert len("".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices).split()) == 40
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "stop"


def test_usage_is_estimated_when_the_backend_sends_none(proxy, fake_backend):
    fake_backend.set(tokens=9, fault="no_usage", tpot_ms=1)
    body = {"model": "test-model", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "How are you today?"}]}
    with httpx.stream("POST", f"{proxy}/chat/completions", json=body, timeout=30) as r:
        raw = r.read()
    out = events(raw)
    assert out[-1] == b"[DONE]"
    usage = orjson.loads(out[-2])["usage"]
    assert usage["completion_tokens"] == 9 and usage["estimated"] is True


# ---- the response --------------------------------------------------------------------------


def _run_response(events: Any, receive: Any) -> list[dict[str, Any]]:
    import asyncio

    from guard.api.sse import EventStream

    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(EventStream(events, {"x-a": "1"})({"type": "http"}, receive, send))
    return sent


async def _never_disconnects() -> dict[str, Any]:
    import asyncio

    await asyncio.Event().wait()
    return {}


def test_last_bytes_leave_with_the_end_of_the_body_and_the_generator_finishes():
    from guard.streaming import LastBytes

    finished = []

    async def events():
        try:
            yield b"data: 1\n\n"
            yield LastBytes(b"data: 2\n\ndata: [DONE]\n\n")
        finally:
            finished.append(True)

    sent = _run_response(events(), _never_disconnects)
    assert sent[0]["type"] == "http.response.start" and (b"x-a", b"1") in sent[0]["headers"]
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [(b"data: 1\n\n", True), (b"data: 2\n\ndata: [DONE]\n\n", False)]
    assert finished == [True]


def test_a_plain_generator_ends_with_an_empty_last_message():
    async def events():
        yield b"data: 1\n\n"

    sent = _run_response(events(), _never_disconnects)
    assert [(m["body"], m["more_body"]) for m in sent[1:]] == [(b"data: 1\n\n", True), (b"", False)]


def test_a_disconnect_cancels_the_events_and_the_response_returns_quietly():
    import asyncio

    closed = []

    async def events():
        try:
            yield b"data: 1\n\n"
            await asyncio.sleep(30)  # a backend that is slow to send the next token
            yield b"data: 2\n\n"
        except asyncio.CancelledError:
            closed.append("cancelled")
            raise

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.05)
        return {"type": "http.disconnect"}

    sent = _run_response(events(), receive)
    assert closed == ["cancelled"]
    assert [m.get("body") for m in sent[1:]] == [b"data: 1\n\n"]


# ---- reading the backend's stream ------------------------------------------------------------


def _batches(*reads: bytes) -> tuple[list[Batch], Exception | None]:
    import asyncio

    from guard.backend.relay import _sse_batches

    async def body():
        for r in reads:
            yield r

    async def collect() -> tuple[list[Batch], Exception | None]:
        got: list[Batch] = []
        try:
            async for b in _sse_batches("m", CHAT, body()):
                got.append(b)
        except Exception as e:  # noqa: BLE001
            return got, e
        return got, None

    return asyncio.run(collect())


def test_a_read_becomes_one_batch_and_lines_split_across_reads_are_joined():
    one, two = delta("a"), delta("b", finish="stop")
    got, error = _batches(b"data: " + one + b"\n\ndata: " + two[:10], two[10:] + b"\n\ndata: [DONE]\n\n")
    assert error is None
    assert [[raw for raw, _ in b.events] for b in got] == [[one], [two]]
    assert [b.done for b in got] == [False, True]


def test_good_events_before_a_bad_one_in_the_same_read_are_delivered_first():
    got, error = _batches(b"data: " + delta("a") + b"\n\ndata: {broken\n\ndata: [DONE]\n\n")
    assert [len(b.events) for b in got] == [1]
    assert error is not None and "malformed" in str(error)


def test_a_stream_that_closes_without_a_finish_is_an_error():
    got, error = _batches(b"data: " + delta("a") + b"\n\n")
    assert len(got) == 1 and error is not None and "before it finished" in str(error)


def test_a_finished_stream_may_close_without_done():
    got, error = _batches(b"data: " + delta("a", finish="stop"))  # no final newline either
    assert error is None and len(got) == 1 and not got[0].done
