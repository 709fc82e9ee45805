"""The minimum shape of a backend's answer, checked where it enters guard.

A backend can send valid JSON that is not an OpenAI answer (``"choices": "abc"``, a delta
that is a string, a list where an object belongs), through a bug, a proxy in between, or a
dialect guard does not know. Everything downstream (reasoning split, checks, the stream
relay) reads these fields, so a bad shape is turned into a ``BackendError`` (502, or an error
event mid-stream) here, instead of an exception deep in the pipeline. Only the fields guard
reads are checked, and only their types, so dialect extras pass through untouched.
"""

from __future__ import annotations

from typing import Any

from guard.errors import BackendError

_TEXT_FIELDS = ("content", "reasoning_content", "reasoning")


def check_body(name: str, endpoint: str, data: Any) -> dict[str, Any]:
    """A non-stream answer: an object whose choices hold a ``message`` (chat) or ``text``."""
    return _check(name, endpoint, data, "message")


def check_event(name: str, endpoint: str, data: Any) -> dict[str, Any]:
    """One stream event: like a body, with ``delta`` in place of ``message``."""
    return _check(name, endpoint, data, "delta")


def _check(name: str, endpoint: str, data: Any, holder: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _bad(name, "an answer that is not a JSON object")
    choices = data.get("choices")
    if choices is not None and not isinstance(choices, list):
        raise _bad(name, "'choices' that is not a list")
    for choice in choices or ():
        if not isinstance(choice, dict):
            raise _bad(name, "a choice that is not an object")
        _check_choice(name, endpoint, choice, holder)
    usage = data.get("usage")
    if usage is not None and not isinstance(usage, dict):
        raise _bad(name, "'usage' that is not an object")
    return data


def _check_choice(name: str, endpoint: str, choice: dict[str, Any], holder: str) -> None:
    if not isinstance(choice.get("finish_reason"), (str, type(None))):
        raise _bad(name, "a 'finish_reason' that is not a string")
    if not isinstance(choice.get("index", 0), int):
        raise _bad(name, "a choice 'index' that is not an integer")
    if endpoint != "chat/completions":
        if not isinstance(choice.get("text"), (str, type(None))):
            raise _bad(name, "a choice 'text' that is not a string")
        return
    message = choice.get(holder)
    if message is None and holder == "delta":
        return  # a stream's closing event may carry only a finish reason
    if not isinstance(message, dict):
        raise _bad(name, f"a choice '{holder}' that is not an object")
    for field in _TEXT_FIELDS:
        value = message.get(field)
        if value is not None and not isinstance(value, str) and not (field == "content" and isinstance(value, list)):
            raise _bad(name, f"a '{holder}.{field}' that is not a string")


def _bad(name: str, what: str) -> BackendError:
    return BackendError(f"backend {name!r} sent {what}", code="backend_bad_response")
