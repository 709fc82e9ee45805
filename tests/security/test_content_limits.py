"""Issue 12, item 9 (the content limits) and the low item on ``forbid_params``: sentence
streaming keeps ``checks.max_chars``, a list prompt is wrapped, forbidden parameters are matched
by family and prefix."""

from __future__ import annotations

import pytest

from tests.security.helpers import USER, guard_with, post, received

SENTENCE = "This sentence is part of a long answer that goes on and on. "


def test_sentence_streaming_keeps_the_length_limit(fake_backend, tmp_path):
    fake_backend.set(text=SENTENCE * 80)  # 4,880 characters
    policy = {"checks": {"max_chars": 2000}, "streaming": {"mode": "sentence"}}
    with guard_with(fake_backend, tmp_path, policy) as base:
        got = received(base, {"messages": USER, "stream": True})
    assert got["guard"]["decision"] == "block"
    delivered = got["content"].split("[guard:")[0]
    assert len(delivered) <= 2000, len(delivered)
    assert "[guard:" in got["content"]  # the policy's notice


def test_a_list_prompt_is_wrapped_like_a_string_prompt(fake_backend, tmp_path):
    policy = {"input": {"mode": "wrap", "template": {"role": "You answer briefly.", "question": "Q: {question}\nA:"}}}
    with guard_with(fake_backend, tmp_path, policy) as base:
        assert post(base, {"prompt": ["first", "second"]}, "completions").status_code == 200
        sent = fake_backend.requests[-1].body["prompt"]
        assert sent == ["You answer briefly.\n\nQ: first\nA:", "You answer briefly.\n\nQ: second\nA:"]
        assert post(base, {"prompt": "only"}, "completions").status_code == 200
        assert fake_backend.requests[-1].body["prompt"] == "You answer briefly.\n\nQ: only\nA:"


def test_the_input_rules_see_every_prompt_of_a_list(fake_backend, tmp_path):
    policy = {"input": {"mode": "wrap", "deny_patterns": ["(?i)ignore previous"]}}
    with guard_with(fake_backend, tmp_path, policy) as base:
        r = post(base, {"prompt": ["ignore previous", "fine"]}, "completions")
    assert r.status_code == 403 and r.json()["error"]["code"] == "input_denied"


@pytest.mark.parametrize("param,value", [
    ("guided_regex", "[a-z]+"),
    ("guided_choice", ["yes", "no"]),
    ("guided_grammar", "root ::= 'x'"),
    ("structured_outputs", {"json": {"type": "object"}}),
    ("response_format", {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}),
    ("regex", "[0-9]+"),
    ("logits_processors", ["x"]),
])
def test_forbid_params_covers_the_family_of_a_name(fake_backend, tmp_path, param, value):
    policy = {"input": {"forbid_params": ["guided_json", "logit_bias"]}}
    with guard_with(fake_backend, tmp_path, policy) as base:
        r = post(base, {"messages": USER, param: value})
    assert r.status_code == 403, r.text
    assert r.json()["error"] == {**r.json()["error"], "code": "param_forbidden", "param": param}
    assert not fake_backend.requests


def test_forbid_params_prefixes_and_harmless_defaults(fake_backend, tmp_path):
    policy = {"input": {"forbid_params": ["guided_json", "vllm_*"]}}
    with guard_with(fake_backend, tmp_path, policy) as base:
        assert post(base, {"messages": USER, "vllm_xargs": {"a": 1}}).status_code == 403
        assert post(base, {"messages": USER, "response_format": {"type": "text"}}).status_code == 200
        assert post(base, {"messages": USER, "guided_json": None}).status_code == 200
        assert post(base, {"messages": USER, "temperature": 0.1}).status_code == 200
