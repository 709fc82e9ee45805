"""The fake backend speaks OpenAI well enough for the official SDK, and its knobs and faults work."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import openai
import orjson
import pytest
from openai import OpenAI

from guard.testing import FakeConfig, run_fake_backend, serve_fake_backend
from guard.testing.fake_reply import lorem, split_tokens

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def fb():
    with run_fake_backend(tokens=6) as handle:
        yield handle


@pytest.fixture(autouse=True)
def _fresh(request):
    if "fb" in request.fixturenames:
        backend = request.getfixturevalue("fb")
        backend.reset(tokens=6)
        backend.clear()
    yield


def client(fb, **kw) -> OpenAI:
    return OpenAI(base_url=fb.base_url, api_key="sk-test", max_retries=0, **kw)


def sse_events(text: str) -> list[str]:
    return [block[len("data: "):] for block in text.split("\n\n") if block.startswith("data: ")]


# ---- shapes ---------------------------------------------------------------------------------------


def test_chat_non_stream_parses_with_sdk(fb):
    out = client(fb).chat.completions.create(model="m1", messages=MESSAGES)
    assert out.object == "chat.completion"
    assert out.model == "m1"
    assert out.choices[0].message.role == "assistant"
    assert out.choices[0].message.content == "".join(lorem(6)) == "Lorem ipsum dolor sit amet consectetur."
    assert out.choices[0].finish_reason == "stop"
    assert out.usage.completion_tokens == 6
    assert out.usage.prompt_tokens == 6
    assert out.usage.total_tokens == 12


def test_max_tokens_truncates_with_length(fb):
    out = client(fb).chat.completions.create(model="m", messages=MESSAGES, max_tokens=3)
    assert out.choices[0].message.content == "Lorem ipsum dolor"
    assert out.choices[0].finish_reason == "length"
    assert out.usage.completion_tokens == 3


def test_chat_stream_with_usage_chunk(fb):
    chunks = list(client(fb).chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "".join(lorem(6))
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert [c.choices[0].finish_reason for c in finals] == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 6
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_raw_wire_format(fb):
    body = {"model": "m", "messages": MESSAGES, "stream": True}
    r = httpx.post(f"{fb.base_url}/chat/completions", json=body)
    assert r.headers["content-type"].startswith("text/event-stream")
    assert r.text.endswith("data: [DONE]\n\n")
    events = sse_events(r.text)
    assert events[-1] == "[DONE]"
    parsed = [orjson.loads(e) for e in events[:-1]]
    assert all("usage" not in p for p in parsed)  # not requested, so no usage anywhere
    assert parsed[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}


def test_completions_endpoint(fb):
    c = client(fb)
    out = c.completions.create(model="m", prompt="Say hi")
    assert out.object == "text_completion"
    assert out.choices[0].text == "".join(lorem(6))
    chunks = list(c.completions.create(model="m", prompt="Say hi", stream=True, stream_options={"include_usage": True}))
    assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == "".join(lorem(6))
    assert chunks[-1].usage.total_tokens == 6 + 2


def test_models(fb):
    assert [m.id for m in client(fb).models.list()] == ["fake-model"]


def test_fixed_text_and_cjk_tokens(fb):
    fb.set(text="巴黎是法国的首都。 Paris is nice.")
    out = client(fb).chat.completions.create(model="m", messages=MESSAGES)
    assert out.choices[0].message.content == "巴黎是法国的首都。 Paris is nice."
    assert out.usage.completion_tokens == len(split_tokens("巴黎是法国的首都。 Paris is nice.")) == 12


def test_reasoning_field(fb):
    fb.set(reasoning="field", reasoning_text="Think hard.", text="Paris.")
    c = client(fb)
    msg = c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message
    assert msg.content == "Paris."
    assert msg.model_extra["reasoning_content"] == "Think hard."
    chunks = list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))
    thoughts = "".join((ch.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for ch in chunks)
    assert thoughts == "Think hard."
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "Paris."


def test_reasoning_think_tags(fb):
    fb.set(reasoning="think", reasoning_text="Think hard.", text="Paris.")
    out = client(fb).chat.completions.create(model="m", messages=MESSAGES)
    assert out.choices[0].message.content == "<think>Think hard.</think>\n\nParis."


def test_dialect_llamacpp_usage_on_final_chunk(fb):
    fb.set(dialect="llamacpp")
    chunks = list(client(fb).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].usage.completion_tokens == 6


def test_unknown_dialect_is_rejected(fb):
    with pytest.raises(ValueError):
        fb.set(dialect="nonesuch")


# ---- timing -----------------------------------------------------------------------------------------


def test_ttft_and_tpot(fb):
    fb.set(ttft_ms=150, tpot_ms=40, tokens=5)
    start = time.perf_counter()
    arrivals = []
    for chunk in client(fb).chat.completions.create(model="m", messages=MESSAGES, stream=True):
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter() - start)
    assert len(arrivals) == 5
    assert 0.14 <= arrivals[0] < 1.0
    # the fake sends token i at ttft + i * tpot after the request (fake_backend._sleep_until), so a
    # token delayed by a busy machine is followed by a shorter gap: check the schedule, not the gaps
    assert all(t >= 0.15 + i * 0.04 - 0.01 for i, t in enumerate(arrivals)), arrivals
    assert (arrivals[-1] - arrivals[0]) / 4 < 0.15, arrivals
    start = time.perf_counter()
    client(fb).chat.completions.create(model="m", messages=MESSAGES)
    assert time.perf_counter() - start >= 0.15 + 4 * 0.04 - 0.01


def test_delays_are_never_short_on_uvloop():
    """CI saw a 5 ms first token arrive at 4.95 ms: uvloop's loop clock is libuv's cached
    millisecond clock, so a sleep timed on it can end early by the real clock."""
    from guard.testing.fake_backend import _sleep_until
    from guard.testing.serving import new_event_loop

    async def shortfalls() -> list[float]:
        out = []
        for i in range(60):
            deadline = time.monotonic() + 0.0005 + (i % 7) * 0.0003
            await _sleep_until(deadline)
            out.append(deadline - time.monotonic())
        return out

    loop = new_event_loop()
    try:
        late = loop.run_until_complete(shortfalls())
    finally:
        loop.close()
    assert max(late) <= 0, f"woke {max(late) * 1000:.3f} ms early"


# ---- per-request overrides --------------------------------------------------------------------------


def test_override_by_header(fb):
    c = client(fb, default_headers={"x-fake-text": "from header", "x-fake-ttft-ms": "0"})
    assert c.chat.completions.create(model="m", messages=MESSAGES).choices[0].message.content == "from header"
    assert fb.config.text is None  # the server configuration is untouched


def test_override_by_body_field_beats_header(fb):
    c = client(fb, default_headers={"x-fake-text": "from header"})
    out = c.chat.completions.create(model="m", messages=MESSAGES, extra_body={"fake": {"text": "from body"}})
    assert out.choices[0].message.content == "from body"


def test_bad_override_is_a_400(fb):
    with pytest.raises(openai.BadRequestError) as e:
        client(fb).chat.completions.create(model="m", messages=MESSAGES, extra_body={"fake": {"tokens": -1}})
    assert "bad fake override" in str(e.value)
    assert fb.requests[-1].outcome == "rejected"


# ---- faults -------------------------------------------------------------------------------------


def test_fault_status_openai_shape(fb):
    fb.set(fault="status", status=429, error_message="slow down")
    with pytest.raises(openai.RateLimitError) as e:
        client(fb).chat.completions.create(model="m", messages=MESSAGES)
    assert e.value.status_code == 429
    assert e.value.body == {"message": "slow down", "type": "rate_limit_error", "param": None, "code": None}
    assert e.value.response.headers["retry-after"] == "1"


@pytest.mark.parametrize(("style", "content_type"), [("plain", "text/plain"), ("html", "text/html")])
def test_fault_status_non_openai_body(fb, style, content_type):
    fb.set(fault="status", status=502, error_style=style)
    r = httpx.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.status_code == 502
    assert r.headers["content-type"].startswith(content_type)
    with pytest.raises(ValueError):
        r.json()


def test_fault_status_vllm_error_shape(fb):
    fb.set(fault="status", status=400, dialect="vllm", error_message="bad")
    r = httpx.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.json() == {"object": "error", "message": "bad", "type": "invalid_request_error", "param": None, "code": 400}


def test_fault_no_usage(fb):
    fb.set(fault="no_usage")
    c = client(fb)
    assert c.chat.completions.create(model="m", messages=MESSAGES).usage is None
    chunks = list(c.chat.completions.create(
        model="m", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ))
    assert all(ch.choices for ch in chunks)
    assert all(ch.usage is None for ch in chunks)


def test_fault_hang_until_client_leaves(fb):
    fb.set(fault="hang")
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES}, timeout=0.3)
    deadline = time.monotonic() + 3
    while fb.requests[-1].outcome != "client_disconnected" and time.monotonic() < deadline:
        time.sleep(0.02)
    assert fb.requests[-1].outcome == "client_disconnected"


def test_fault_slow_headers(fb):
    fb.set(fault="slow_headers", slow_headers_ms=300)
    start = time.perf_counter()
    with httpx.stream("POST", f"{fb.base_url}/chat/completions",
                      json={"model": "m", "messages": MESSAGES, "stream": True}) as r:
        headers_at = time.perf_counter() - start
        assert r.status_code == 200
        r.read()
    assert headers_at >= 0.29


def test_fault_drop_stream(fb):
    fb.set(fault="drop", tokens=10, drop_after=3)
    got = []
    with pytest.raises((httpx.RemoteProtocolError, openai.APIConnectionError)):
        for chunk in client(fb).chat.completions.create(model="m", messages=MESSAGES, stream=True):
            got.append(chunk.choices[0].delta.content or "")
    assert "".join(got) == "".join(lorem(10)[:3])
    assert fb.requests[-1].outcome == "fault:drop"


def test_fault_drop_non_stream(fb):
    fb.set(fault="drop")
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})


def test_fault_garbage_non_stream(fb):
    fb.set(fault="garbage")
    r = httpx.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    with pytest.raises(ValueError):
        orjson.loads(r.content)


def test_fault_garbage_stream(fb):
    fb.set(fault="garbage")
    with pytest.raises(ValueError):
        list(client(fb).chat.completions.create(model="m", messages=MESSAGES, stream=True))


# ---- recording and control --------------------------------------------------------------------------


def test_records_what_was_received(fb):
    c = client(fb, default_headers={"X-Trace": "t-1"})
    c.chat.completions.create(model="m", messages=MESSAGES, temperature=0.2, extra_body={"top_k": 5})
    (rec,) = fb.requests
    assert (rec.method, rec.path, rec.outcome) == ("POST", "/v1/chat/completions", "ok")
    assert rec.headers["authorization"] == "Bearer sk-test"
    assert rec.headers["x-trace"] == "t-1"
    assert rec.body == {"model": "m", "messages": MESSAGES, "temperature": 0.2, "top_k": 5}
    over_http = httpx.get(f"{fb.url}/_fake/requests").json()
    assert over_http[0]["body"] == rec.body
    assert httpx.delete(f"{fb.url}/_fake/requests").status_code == 204
    assert fb.requests == [] and httpx.get(f"{fb.url}/_fake/requests").json() == []


def test_config_over_http(fb):
    r = httpx.post(f"{fb.url}/_fake/config", json={"tokens": 2})
    assert r.json()["tokens"] == 2
    assert fb.config.tokens == 2
    assert httpx.post(f"{fb.url}/_fake/config", json={"tokens": "many"}).status_code == 400


def test_non_json_body_is_rejected_and_recorded(fb):
    r = httpx.post(f"{fb.base_url}/chat/completions", content=b"not json", headers={"content-type": "text/plain"})
    assert r.status_code == 400
    assert fb.requests[-1].body == "not json"


async def test_serve_on_current_loop():
    async with serve_fake_backend(text="async ok") as fb:
        async with httpx.AsyncClient() as http:
            r = await http.post(f"{fb.base_url}/chat/completions", json={"model": "m", "messages": MESSAGES})
        assert r.json()["choices"][0]["message"]["content"] == "async ok"
        assert len(fb.requests) == 1


def test_runs_as_a_process():
    proc = subprocess.Popen(
        [sys.executable, "-m", "guard.testing.fake_backend", "--port", "0", "--tokens", "3", "--ttft-ms", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("fake backend listening on http://127.0.0.1:")
        base_url = line.split()[-1]
        out = OpenAI(base_url=base_url, api_key="x", max_retries=0).chat.completions.create(model="m", messages=MESSAGES)
        assert out.choices[0].message.content == "".join(lorem(3))
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
    assert "Warning" not in proc.stderr.read()


def test_config_rejects_unknown_options():
    with pytest.raises(ValueError):
        FakeConfig(nonesuch=1)
