"""Every response shape guard produces, validated against OpenAI's OpenAPI document.

Chat and legacy completions, stream and not, with and without ``include_usage``, for the
relay and for each streaming mode with each decision (pass, annotate, fallback, hold, block),
``n`` choices, and every error status guard answers with. Beyond the schemas, the rules the
spec states in prose and clients rely on:

- one ``id`` for every chunk of a stream;
- ``choices: []`` only with ``stream_options.include_usage``, then once, last, with usage;
- one ``finish_reason`` per choice; ``[DONE]`` last;
- ``n`` choices in a whole answer; ``message.refusal`` present on every chat message.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import orjson
import pytest

from guard.api.app import create_app
from guard.settings import Settings, hash_key
from tests.openai_spec import spec, validate
from tests.support import serve_app, write_policies

FINE = "The sky is blue. Water is wet."
BAD = "The sky is blue. This is forbidden knowledge."
MODES = ["buffer", "sentence", "observe"]
ACTIONS = ["annotate", "fallback", "hold", "block"]
CHECKED = [f"{mode}-{action}" for mode, action in itertools.product(MODES, ACTIONS)]
KEY = "sk-conformance"


def _policies() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"name": "relay"}]
    for mode, action in itertools.product(MODES, ACTIONS):
        out.append({
            "name": f"{mode}-{action}",
            "checks": {"patterns": {"deny": ["(?i)forbidden"]}},
            "decision": {"on_violation": action},
            "streaming": {"mode": mode},
            "input": {"forbid_params": ["guided_json"]},
        })
    return out


@pytest.fixture(scope="module")
def guard_url(_fake_backend_session, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("conformance")
    write_policies(tmp / "p", *_policies())
    backend = {"kind": "openai", "model": "upstream-model", "api_base": _fake_backend_session.base_url, "retries": 0}
    models = [{"name": p["name"], "backend": backend, "policy": p["name"]} for p in _policies()]
    models.append({"name": "slow", "backend": {**backend, "timeouts": {"read": 0.3, "total": 2}}, "policy": "relay"})
    models.append({"name": "dead", "backend": {**backend, "api_base": "http://127.0.0.1:9/v1", "breaker": {"failures": 1, "cooldown_s": 60}}, "policy": "relay"})
    settings = Settings.model_validate({
        "models": models,
        "policies_dir": str(tmp / "p"),
        "default_policy": "relay",
        "auth": {"mode": "keys", "keys": [{"hash": hash_key(KEY), "tenant": "t"}]},
        "limits": {"max_body_bytes": 200_000},
        "review": {"store_url": f"sqlite:///{tmp / 'review.sqlite3'}"},
    })
    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture
def backend(fake_backend):
    fake_backend.set(text=FINE)
    return fake_backend


def post(url: str, path: str, body: dict[str, Any], **kw: Any) -> httpx.Response:
    headers = kw.pop("headers", {"authorization": f"Bearer {KEY}"})
    return httpx.post(f"{url}/v1/{path}", json=body, headers=headers, timeout=30, **kw)


def request(model: str, endpoint: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, **extra}
    if endpoint == "chat/completions":
        body["messages"] = [{"role": "user", "content": "What colour is the sky?"}]
    else:
        body["prompt"] = "The colour of the sky is"
    return body


def events(r: httpx.Response) -> list[Any]:
    """The ``data:`` payloads of an SSE body, parsed; ``[DONE]`` kept as the string."""
    out = []
    for block in r.text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data:"):
                payload = line[5:].strip()
                out.append(payload if payload == "[DONE]" else orjson.loads(payload))
    return out


def check_whole(endpoint: str, body: dict[str, Any], n: int = 1) -> None:
    if endpoint == "chat/completions":
        validate("CreateChatCompletionResponse", body)
        for choice in body["choices"]:
            assert "refusal" in choice["message"], choice  # required by the spec, null when none
    else:
        validate("CreateCompletionResponse", body)
    assert sorted(c["index"] for c in body["choices"]) == list(range(n))


def check_stream(endpoint: str, items: list[Any], *, include_usage: bool, checked: bool, n: int = 1) -> list[dict[str, Any]]:
    """Validate each chunk and the stream's rules; return the chunks."""
    assert items and items[-1] == "[DONE]" and items.count("[DONE]") == 1, items[-3:]
    chunks = items[:-1]
    schema = "CreateChatCompletionStreamResponse" if endpoint == "chat/completions" else "CreateCompletionResponse"
    for c in chunks:
        if endpoint != "chat/completions":
            # The spec has no legacy stream schema: OpenAI streams CreateCompletionResponse
            # objects whose finish_reason is null until the last one.
            # (and with include_usage, ``usage: null`` on each, as vLLM relays it too).
            c = {k: v for k, v in c.items() if not (k == "usage" and v is None)}
            c["choices"] = [{**ch, "finish_reason": ch["finish_reason"] or "stop"} for ch in c["choices"]]
        validate(schema, c)
    assert len({c["id"] for c in chunks}) == 1, "one id per stream"
    empty = [i for i, c in enumerate(chunks) if not c["choices"]]
    if include_usage:
        assert empty == [len(chunks) - 1], "the usage chunk, once and last"
        usage = chunks[-1]["usage"]
        assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
        validate("CompletionUsage", usage)
    else:
        assert empty == [], "choices: [] only with include_usage"
        assert all(not c.get("usage") for c in chunks)
    finishes: dict[int, int] = {}
    for c in chunks:
        for choice in c["choices"]:
            if choice.get("finish_reason"):
                finishes[choice["index"]] = finishes.get(choice["index"], 0) + 1
    assert finishes == {i: 1 for i in range(n)}, "one finish_reason per choice, n choices"
    assert {ch["index"] for c in chunks for ch in c["choices"]} == set(range(n))
    with_choice = [c for c in chunks if c["choices"]]
    if checked:
        assert "guard" in with_choice[-1] and with_choice[-1]["choices"][0]["finish_reason"], "the verdict sits beside the finish"
        assert [c for c in chunks if "guard" in c] == [with_choice[-1]]
    return chunks


def test_the_spec_copy_says_where_it_came_from() -> None:
    s = spec()
    assert s["source"].startswith("https://github.com/openai/openai-openapi") and len(s["commit"]) == 40
    assert s["openapi_info_version"] and "CreateChatCompletionStreamResponse" in s["schemas"]


@pytest.mark.parametrize("endpoint", ["chat/completions", "completions"])
@pytest.mark.parametrize("model", ["relay", *CHECKED])
@pytest.mark.parametrize("text", [FINE, BAD], ids=["fine", "bad"])
def test_whole_answers(guard_url, backend, endpoint, model, text) -> None:
    backend.set(text=text)
    r = post(guard_url, endpoint, request(model, endpoint))
    assert r.status_code == 200, r.text
    body = r.json()
    check_whole(endpoint, body)
    if model != "relay":
        action = model.split("-")[1] if text == BAD else "pass"
        assert body["guard"]["decision"] == action and r.headers["x-guard-decision"] == action


@pytest.mark.parametrize("endpoint", ["chat/completions", "completions"])
@pytest.mark.parametrize("model", ["relay", *CHECKED])
@pytest.mark.parametrize("text", [FINE, BAD], ids=["fine", "bad"])
@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
def test_streams(guard_url, backend, endpoint, model, text, include_usage) -> None:
    backend.set(text=text)
    extra: dict[str, Any] = {"stream": True}
    if include_usage:
        extra["stream_options"] = {"include_usage": True}
    r = post(guard_url, endpoint, request(model, endpoint, **extra))
    assert r.status_code == 200, r.text
    chunks = check_stream(endpoint, events(r), include_usage=include_usage, checked=model != "relay")
    if model != "relay":
        verdict = [c for c in chunks if "guard" in c][0]["guard"]
        mode, action = model.split("-")
        expected = action if text == BAD else "pass"
        if mode == "sentence" and text == BAD and action in ("fallback", "hold"):
            expected = action  # the sentence that failed decides
        assert verdict["decision"] == expected


@pytest.mark.parametrize("endpoint", ["chat/completions", "completions"])
@pytest.mark.parametrize("model", ["relay", "buffer-block", "buffer-annotate"])
def test_n_choices(guard_url, backend, endpoint, model) -> None:
    backend.set(text=FINE, choice_texts=[FINE, BAD, FINE])
    r = post(guard_url, endpoint, request(model, endpoint, n=3))
    assert r.status_code == 200, r.text
    check_whole(endpoint, r.json(), n=3)


@pytest.mark.parametrize("endpoint", ["chat/completions", "completions"])
@pytest.mark.parametrize("model", ["relay", "buffer-block", "buffer-hold"])
@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "usage"])
def test_n_choices_streamed(guard_url, backend, endpoint, model, include_usage) -> None:
    backend.set(text=FINE, choice_texts=[FINE, BAD, FINE])
    extra: dict[str, Any] = {"stream": True, "n": 3}
    if include_usage:
        extra["stream_options"] = {"include_usage": True}
    r = post(guard_url, endpoint, request(model, endpoint, **extra))
    assert r.status_code == 200, r.text
    chunks = check_stream(endpoint, events(r), include_usage=include_usage, checked=model != "relay", n=3)
    if model != "relay":
        action = model.split("-")[1]
        assert r.headers["x-guard-decision"] == action
        verdict = [c for c in chunks if "guard" in c][0]["guard"]
        assert verdict["decision"] == action
        assert [(c["index"], c["decision"]) for c in verdict["choices"]] == [(0, "pass"), (1, action), (2, "pass")]


@pytest.mark.parametrize("model", ["sentence-block", "observe-block"])
def test_n_choices_cannot_stream_sentence_by_sentence(guard_url, backend, model) -> None:
    r = post(guard_url, "chat/completions", request(model, "chat/completions", stream=True, n=2))
    assert _error(r, 400)["param"] == "n"


def test_n_choices_one_blocked_reports_block(guard_url, backend) -> None:
    """A rule violation keeps confidence 1.0: the lowest confidence would report ``pass``."""
    backend.set(text=FINE, choice_texts=[FINE, BAD])
    r = post(guard_url, "chat/completions", request("buffer-block", "chat/completions", n=2))
    body = r.json()
    assert [c["finish_reason"] for c in body["choices"]] == ["stop", "content_filter"]
    assert r.headers["x-guard-decision"] == "block" and body["guard"]["decision"] == "block"
    assert [(c["index"], c["decision"]) for c in body["guard"]["choices"]] == [(0, "pass"), (1, "block")]


def test_n_choices_every_choice_that_needs_it_is_held(guard_url, backend) -> None:
    backend.set(text=FINE, choice_texts=[BAD, FINE, BAD])
    r = post(guard_url, "chat/completions", request("buffer-hold", "chat/completions", n=3))
    body = r.json()
    assert body["guard"]["decision"] == "hold"
    held = [c for c in body["guard"]["choices"] if c["decision"] == "hold"]
    assert [c["index"] for c in held] == [0, 2]
    assert len({c["review_id"] for c in held}) == 2
    for c in held:
        # the review id is for the caller's code, in guard; the end user reads human text (issue 14)
        assert c["review_id"] not in body["choices"][c["index"]]["message"]["content"]


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    validate("ErrorResponse", body)
    assert body["error"]["type"] in OPENAI_ERROR_TYPES, body
    return body["error"]


# The types OpenAI's API and SDKs use; guard's own detail goes into ``code``.
OPENAI_ERROR_TYPES = {"invalid_request_error", "authentication_error", "permission_error", "not_found_error", "rate_limit_error", "server_error", "service_unavailable_error"}


def test_error_statuses(guard_url, backend) -> None:
    chat = request("relay", "chat/completions")
    _error(post(guard_url, "chat/completions", chat, headers={}), 401)
    _error(post(guard_url, "chat/completions", {"model": "relay", "messages": "nope"}), 400)
    _error(post(guard_url, "chat/completions", {**request("buffer-block", "chat/completions"), "guided_json": {}}), 403)
    _error(post(guard_url, "chat/completions", request("no-such-model", "chat/completions")), 404)
    _error(httpx.get(f"{guard_url}/v1/nowhere", timeout=10), 404)
    big = {**chat, "messages": [{"role": "user", "content": "x" * 300_000}]}
    _error(post(guard_url, "chat/completions", big), 413)
    _error(post(guard_url, "chat/completions", {**chat, "fake": {"fault": "status", "status": 429}}), 429)
    _error(post(guard_url, "chat/completions", {**chat, "fake": {"fault": "status", "status": 500}}), 502)
    _error(post(guard_url, "chat/completions", {**request("slow", "chat/completions"), "fake": {"fault": "hang"}}), 504)
    _error(post(guard_url, "chat/completions", request("dead", "chat/completions")), 502)
    _error(post(guard_url, "chat/completions", request("dead", "chat/completions")), 503)  # circuit open


@pytest.mark.parametrize("model", ["relay", "buffer-block", "sentence-block", "observe-block"])
def test_a_stream_that_breaks_ends_with_an_error_event(guard_url, backend, model) -> None:
    r = post(guard_url, "chat/completions", {**request(model, "chat/completions", stream=True), "fake": {"fault": "drop", "drop_after": 2}})
    if model.startswith("buffer"):  # nothing was sent yet: a plain error answer
        _error(r, 502)
        return
    items = events(r)
    assert "error" in items[-1], items[-2:]
    validate("ErrorResponse", items[-1])
    for c in items[:-1]:
        validate("CreateChatCompletionStreamResponse", c)


def test_model_list(guard_url) -> None:
    r = httpx.get(f"{guard_url}/v1/models", headers={"authorization": f"Bearer {KEY}"}, timeout=10)
    validate("ListModelsResponse", r.json())


def test_health_is_served_where_vllm_and_sglang_serve_it(guard_url) -> None:
    """Load tools (guidellm, aiperf) probe GET /health before they start."""
    r = httpx.get(f"{guard_url}/health", timeout=10)
    assert r.status_code == 200 and r.json() == {"status": "ok"}
