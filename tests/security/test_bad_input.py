"""Issue 12, item 10: malformed request fields are 400s that name the field, never 500s, and a
string ``"false"`` is not read as true."""

from __future__ import annotations

import pytest

from tests.security.helpers import guard_with, post

CHECKED = {"checks": {"patterns": {"deny": ["(?i)password"]}, "pii": {"enabled": True}}}


def msg(content, **extra):
    return [{"role": "user", "content": content, **extra}]


BAD = {
    "text_part_number": ({"messages": msg([{"type": "text", "text": 5}])}, "messages.0.content.0.text"),
    "text_part_object": ({"messages": msg([{"type": "text", "text": {"a": 1}}])}, "messages.0.content.0.text"),
    "text_part_list": ({"messages": msg([{"type": "text", "text": ["a"]}])}, "messages.0.content.0.text"),
    "text_part_missing_text": ({"messages": msg([{"type": "text"}])}, "messages.0.content.0"),
    "part_without_type": ({"messages": msg([{"text": "hi"}])}, "messages.0.content.0.type"),
    "part_not_object": ({"messages": msg(["hi"])}, "messages.0.content.0"),
    "stream_string_false": ({"messages": msg("hi"), "stream": "false"}, "stream"),
    "stream_number": ({"messages": msg("hi"), "stream": 0}, "stream"),
    "temperature_string": ({"messages": msg("hi"), "temperature": "0.5"}, "temperature"),
    "n_boolean": ({"messages": msg("hi"), "n": True}, "n"),
    "name_number": ({"messages": msg("hi", name=7)}, "messages.0.name"),
    "tool_arguments_object": ({"messages": [*msg("hi"), {"role": "assistant", "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}}]}]}, "messages.1.tool_calls.0.function.arguments"),
    "include_usage_string": ({"messages": msg("hi"), "stream": True, "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage"),
}


@pytest.mark.parametrize("policy", ["checked", "passthrough"])
def test_bad_fields_are_400s_naming_the_field(fake_backend, tmp_path, policy):
    with guard_with(fake_backend, tmp_path, CHECKED if policy == "checked" else {}) as base:
        for name, (body, param) in BAD.items():
            r = post(base, body)
            assert r.status_code == 400, (name, r.status_code, r.text[:300])
            err = r.json()["error"]
            assert err["param"] == param, (name, err)
            assert param in err["message"], (name, err)
    assert not fake_backend.requests


def test_stream_false_as_a_boolean_does_not_stream(fake_backend, tmp_path):
    with guard_with(fake_backend, tmp_path, CHECKED) as base:
        r = post(base, {"messages": msg("hi"), "stream": False})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")


def test_parts_of_other_types_are_accepted(fake_backend, tmp_path):
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
    with guard_with(fake_backend, tmp_path, CHECKED) as base:
        assert post(base, {"messages": msg(content)}).status_code == 200
