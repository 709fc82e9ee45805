"""Bad input finds no 500s: schemathesis against guard's own OpenAPI document, hypothesis against
policy parsing. Bounded runs (about a minute in all) so they stay in the normal suite.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from guard.api.app import create_app
from guard.checks.runner import build_checks
from guard.errors import ConfigError
from guard.policy.loader import load_policy
from guard.policy.schema import Policy
from guard.settings import Settings
from tests.support import serve_app, write_policies

# ---------------------------------------------------------------- the HTTP API

CHECKED = {
    "name": "default",
    "checks": {"patterns": {"deny": ["(?i)password"]}, "pii": {"enabled": True}, "max_chars": 2000},
}


@pytest.fixture(scope="module")
def guard_base(_fake_backend_session, tmp_path_factory):
    """Any model name goes through to the fake backend, and every answer is checked."""
    policies = write_policies(tmp_path_factory.mktemp("policies"), CHECKED)
    settings = Settings.model_validate({
        "models": [{"name": "*", "backend": {"kind": "openai", "model": "*", "api_base": _fake_backend_session.base_url, "retries": 0}}],
        "policies_dir": str(policies),
        "limits": {"max_body_bytes": 64 * 1024},
    })
    _fake_backend_session.reset(tokens=8)
    with serve_app(create_app(settings)) as base:
        yield base


# The document is the app's own; it does not depend on the backend, so it is read at collection
# (schemathesis' lazy fixture loader does not work with pytest 9).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx_to_generated_requests(case, guard_base):
    response = case.call_and_validate(base_url=guard_base, checks=[not_a_server_error], timeout=10)
    assert response.status_code < 500


# ---------------------------------------------------------------- policy files

VALID = {
    "name": "full",
    "match": {"models": ["gpt-*"], "tenants": ["acme"]},
    "input": {
        "mode": "wrap",
        "template": {"role": "You are careful.", "question": "{question}", "styles": {"short": "Be brief."}, "default_style": "short"},
        "deny_patterns": ["(?i)ignore previous"],
        "max_input_chars": 1000,
    },
    "sampling": {"temperature": {"min": 0, "max": 1, "default": 0.2}, "stop": {"max": 4}},
    "checks": {
        "grounding": {"top_k": 4},
        "patterns": {"deny": ["(?i)secret"], "deny_keywords": ["机密"], "fuzzy_threshold": 90},
        "pii": {"enabled": True, "kinds": ["email", "cn_id"]},
        "max_chars": 4000,
    },
    "decision": {"bands": [{"min": 0.8, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 500},
    "streaming": {"mode": "sentence"},
    "hold": {"wait_s": 1, "deadline_s": 60},
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["(", "[a-", "*", "pass", "block", "gpt-*", "{question", "{", "0.5", "-1"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [prefix] + [p for k, v in node.items() for p in _paths(v, prefix + (k,))]
    if isinstance(node, list):
        return [prefix] + [p for i, v in enumerate(node) for p in _paths(v, prefix + (i,))]
    return [prefix]


def _replace(node: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, new)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, new)
    return copy


@st.composite
def mutated_policies(draw) -> Any:
    """The full valid policy with one node replaced by an arbitrary value."""
    path = draw(st.sampled_from(_paths(VALID)))
    return _replace(VALID, path, draw(values))


def _load(path: Path) -> Policy | None:
    """A policy, or None when it was refused with a ConfigError (anything else fails the test)."""
    try:
        return load_policy(path)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        return None


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(doc=mutated_policies())
def test_a_mutated_policy_loads_or_is_refused_clearly_and_its_checks_build(tmp_path, doc):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    policy = _load(path)
    if policy is not None:
        build_checks(policy, None, None)  # a policy that loads must not fail later, per request


@fuzz
@given(text=st.text(max_size=300))
def test_arbitrary_text_loads_or_is_refused_clearly(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    _load(path)


@fuzz
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_clearly(tmp_path, raw):
    path = tmp_path / "p.yaml"
    path.write_bytes(raw)
    _load(path)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [*x]\n",  # a recursive alias
        "name: x\ninput: &i {max_messages: 2}\nsampling: *i\n",
        "? [1, 2]\n: 3\n",  # a key that is a list
        "name: x\ncheck:\n  patterns: {}\n",  # a typo in a key
        "\ufeffname: bom\n",
        "name: x\nchecks:\n  patterns:\n    deny: ['(unclosed']\n",
    ],
)
def test_tricky_yaml_is_refused_or_loaded(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    policy = _load(path)
    if policy is not None:
        build_checks(policy, None, None)


# ---------------------------------------------------------------- malformed backend answers


class ScriptedBackend:
    """An HTTP backend on loopback that answers every POST with ``self.reply`` (bytes, SSE or not)."""

    def __init__(self) -> None:
        self.reply = b"{}"
        self.content_type = "application/json"
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("content-length", 0)))
                self.send_response(200)
                self.send_header("content-type", backend.content_type)
                self.send_header("content-length", str(len(backend.reply)))
                self.end_headers()
                self.wfile.write(backend.reply)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


GOOD_BODY = {
    "id": "c1", "object": "chat.completion", "created": 1, "model": "up",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris <think>x</think>is big.", "reasoning_content": "r"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 3, "total_tokens": 4},
}
GOOD_EVENT = {
    "id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "up",
    "choices": [{"index": 0, "delta": {"content": "Paris is big.", "reasoning_content": "r"}, "finish_reason": "stop"}],
    "usage": {"completion_tokens": 3},
}


@st.composite
def mutated(draw, good: dict[str, Any]) -> Any:
    path = draw(st.sampled_from(_paths(good)))
    return _replace(good, path, draw(values))


@pytest.fixture(scope="module")
def scripted(tmp_path_factory):
    """guard in front of the scripted backend: model ``m`` checks answers, ``plain`` relays them."""
    backend = ScriptedBackend()
    policies = write_policies(tmp_path_factory.mktemp("policies"), CHECKED, {"name": "plain"})
    relay = {"kind": "openai", "model": "up", "api_base": backend.url, "retries": 0, "breaker": {"failures": 10**6}}
    settings = Settings.model_validate({
        "models": [{"name": "m", "backend": relay, "policy": "default"}, {"name": "plain", "backend": relay, "policy": "plain"}],
        "policies_dir": str(policies),
    })
    with serve_app(create_app(settings)) as base, httpx.Client(base_url=base, timeout=10) as client:
        yield backend, client
    backend.close()


def _ask(client: httpx.Client, model: str, stream: bool) -> httpx.Response:
    return client.post("/v1/chat/completions", json={"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=mutated(GOOD_BODY), model=st.sampled_from(["m", "plain"]))
def test_a_malformed_backend_body_gives_200_or_502(scripted, body, model):
    backend, client = scripted
    backend.content_type, backend.reply = "application/json", orjson.dumps(body)
    r = _ask(client, model, stream=False)
    assert r.status_code in (200, 502), r.text


def _sse(*events: Any) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\n\n" for e in events) + b"data: [DONE]\n\n"


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(event=mutated(GOOD_EVENT), model=st.sampled_from(["m", "plain"]))
def test_a_malformed_stream_event_ends_the_stream_cleanly(scripted, event, model):
    backend, client = scripted
    backend.content_type = "text/event-stream"
    backend.reply = _sse({**GOOD_EVENT, "choices": [{"index": 0, "delta": {"content": "Hi. "}, "finish_reason": None}]}, event)
    r = _ask(client, model, stream=True)
    assert r.status_code in (200, 502), r.text
    if r.status_code == 200:
        last = r.text.rstrip("\n").rsplit("\n\n", 1)[-1]
        assert last == "data: [DONE]" or (last.startswith('data: {"error"') and '"server_error"' in last), r.text


@pytest.mark.parametrize("reply", [b"\x00\xff garbage", b"data: {not json}\n\n", b"data: [1, 2]\n\n", b": keep-alive\n\n"])
def test_broken_sse_bytes_give_502(scripted, reply):
    backend, client = scripted
    backend.content_type, backend.reply = "text/event-stream", reply
    r = _ask(client, "plain", stream=True)
    assert r.status_code == 502
    assert r.json()["error"]["type"] == "server_error"
