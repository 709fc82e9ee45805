"""Issue 12: a fuzz test (hypothesis) of message and content-part shapes through the real app.
Whatever the shape, guard answers 2xx or 4xx, never 5xx, and a stream never ends in an
internal-error event. Bounded (a few hundred requests) so it stays in the normal suite."""

from __future__ import annotations

import httpx
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import run_guard, settings_for, write_policies

POLICY = {
    "name": "default",
    "input": {
        "mode": "wrap",
        "max_input_chars": 5000,
        "deny_patterns": ["(?i)ignore (all )?previous instructions", "保证收益"],
        "template": {"role": "You help with {product}.", "question": "{question}", "styles": {"short": "Be brief."}},
    },
    "reasoning": {"client": "keep", "check": "patterns"},
    "checks": {"patterns": {"deny": ["(?i)password"], "deny_keywords": ["保证收益"]}, "pii": {"enabled": True}, "max_chars": 400},
    "streaming": {"mode": "sentence"},
}


@pytest.fixture(scope="module")
def base(_fake_backend_session, tmp_path_factory):
    policies = write_policies(tmp_path_factory.mktemp("fuzz-policies"), POLICY)
    _fake_backend_session.reset()
    _fake_backend_session.set(tokens=6, reasoning="think", reasoning_tokens=4)
    with run_guard(settings_for(_fake_backend_session.base_url, policies)) as url:
        with httpx.Client(timeout=20) as client:
            yield url, client
    _fake_backend_session.reset()


scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3), max_leaves=6)
# Mostly shapes a real client sends, with one field wrong: a shape wrong everywhere at once is
# refused at the first field and never reaches the code that could crash.
text_type = st.just("text")
part_types = st.one_of(text_type, text_type, text_type, st.sampled_from(["input_text", "image_url", "input_audio", "file", "refusal", "note", ""]), json_values)
parts = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"type": part_types},
        optional={"text": st.text(max_size=40) | json_values, "image_url": json_values, "refusal": json_values, "note": json_values},
    ),
)
contents = st.one_of(st.none(), st.text(max_size=60), json_values, st.lists(parts, max_size=4), st.lists(parts, min_size=1, max_size=3))
functions = st.fixed_dictionaries({}, optional={"name": st.text(max_size=10) | json_values, "arguments": st.text(max_size=40) | json_values})
tool_calls = st.one_of(json_values, st.lists(st.fixed_dictionaries({}, optional={"id": json_values, "type": json_values, "function": functions | json_values}), max_size=2))
valid_roles = st.sampled_from(["system", "developer", "user", "assistant", "tool", "function"])
roles = st.one_of(st.just("user"), st.just("user"), valid_roles, valid_roles, st.just("bogus"), json_values)
messages = st.fixed_dictionaries(
    {"role": roles},
    optional={"content": contents, "name": st.text(max_size=12) | json_values, "tool_calls": tool_calls, "tool_call_id": json_values, "function_call": functions | json_values},
)
bodies = st.fixed_dictionaries(
    {"model": st.just("test-model"), "messages": st.one_of(st.lists(messages, min_size=1, max_size=4), st.lists(messages, min_size=1, max_size=2), json_values)},
    optional={
        "stream": st.booleans() | json_values,
        "metadata": st.dictionaries(st.sampled_from(["product", "style", "x"]), json_values, max_size=3) | json_values,
        "product": json_values,
        "style": json_values,
        "tools": json_values | st.lists(st.fixed_dictionaries({"type": json_values, "function": json_values}), max_size=2),
        "stream_options": json_values,
        "n": json_values,
    },
)


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=bodies)
def test_no_message_shape_is_a_server_error(base, body):
    url, client = base
    r = client.post(f"{url}/chat/completions", content=orjson.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text[:500], body)
    if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event-stream"):
        assert "internal error" not in r.text, (r.text[-500:], body)
    if r.status_code >= 400:
        err = r.json()["error"]
        assert err["message"], body


legal_parts = st.lists(st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=60)}),
    st.fixed_dictionaries({"type": st.just("image_url"), "image_url": st.fixed_dictionaries({"url": st.just("data:image/png;base64,AAAA")})}),
), min_size=1, max_size=3)


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(content=st.text(max_size=200) | legal_parts, stream=st.booleans(), product=st.text(max_size=40))
def test_well_formed_shapes_are_answered_or_refused_by_policy(base, content, stream, product):
    url, client = base
    body = {"model": "test-model", "messages": [{"role": "user", "content": content}], "stream": stream, "metadata": {"product": product}}
    r = client.post(f"{url}/chat/completions", content=orjson.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code in (200, 403), (r.status_code, r.text[:300])
    if r.status_code == 403:
        assert r.json()["error"]["type"] == "policy_violation"


def _valid_body(content, stream, product):
    return {
        "model": "test-model",
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": content, "name": "alice"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "found"}]},
            {"role": "user", "content": [{"type": "text", "text": "and then?"}]},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Looks.", "parameters": {"type": "object"}}}],
        "stream": stream,
        "metadata": {"product": product},
        "temperature": 0.5,
        "stop": ["\n\n"],
    }


# Where one field of a well-formed request is replaced by an arbitrary JSON value.
PATHS = [
    ("messages",), ("messages", 1), ("messages", 1, "content"), ("messages", 1, "name"), ("messages", 1, "role"),
    ("messages", 2, "tool_calls"), ("messages", 2, "tool_calls", 0), ("messages", 2, "tool_calls", 0, "function"),
    ("messages", 2, "tool_calls", 0, "function", "arguments"), ("messages", 2, "tool_calls", 0, "function", "name"),
    ("messages", 3, "content"), ("messages", 3, "content", 0), ("messages", 3, "content", 0, "text"), ("messages", 3, "content", 0, "type"),
    ("messages", 4, "content", 0, "text"), ("messages", 4, "content", 0, "type"), ("messages", 0, "content"),
    ("tools",), ("tools", 0), ("tools", 0, "function"), ("tools", 0, "function", "description"),
    ("stream",), ("metadata",), ("metadata", "product"), ("temperature",), ("stop",), ("stream_options",), ("n",), ("product",), ("style",),
]


def _put(body, path, value):
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(PATHS), value=json_values, stream=st.booleans(), content=st.text(max_size=40) | legal_parts)
def test_one_wrong_field_in_a_real_request_is_never_a_server_error(base, path, value, stream, content):
    url, client = base
    body = _valid_body(content, stream, "Acme")
    _put(body, path, value)
    r = client.post(f"{url}/chat/completions", content=orjson.dumps(body), headers={"content-type": "application/json"})
    assert r.status_code < 500, (r.status_code, r.text[:500], path, value)
    if r.status_code == 200 and r.headers.get("content-type", "").startswith("text/event-stream"):
        assert "internal error" not in r.text, (r.text[-500:], path, value)
