"""Shared by the security tests: a real guard on loopback before the shipped fake backend, and
readers for what a client actually receives (every byte of a stream, reasoning included)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import httpx
import orjson

from tests.support import run_guard, settings_for, write_policies

USER = [{"role": "user", "content": "What is the plan?"}]


@contextmanager
def guard_with(fake_backend: Any, tmp_path: Path, policy: dict[str, Any], **settings: Any) -> Iterator[str]:
    """guard with one policy (named default) in front of the fake backend; yields the /v1 URL."""
    d = tmp_path / "policies"
    write_policies(d, {"name": "default", **policy})
    with run_guard(settings_for(fake_backend.base_url, d, **settings)) as base:
        yield base


def post(base: str, body: dict[str, Any], path: str = "chat/completions") -> httpx.Response:
    return httpx.post(f"{base}/{path}", json={"model": "test-model", **body}, timeout=60)


def events(response: httpx.Response) -> list[dict[str, Any]]:
    """The JSON events of a server-sent-event body ([DONE] left out)."""
    out = []
    for line in response.text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


def received(base: str, body: dict[str, Any], path: str = "chat/completions") -> dict[str, Any]:
    """What the client got, stream or not: answer text, reasoning text, the guard object, and the
    raw body (so a test can assert that nothing it forbids appears anywhere in it)."""
    r = post(base, body, path)
    assert r.status_code == 200, r.text
    if not body.get("stream"):
        data = r.json()
        choice = data["choices"][0]
        if "message" in choice:
            msg = choice["message"]
            return {"content": msg.get("content") or "", "reasoning": msg.get("reasoning_content") or "", "guard": data.get("guard") or {}, "raw": r.text}
        return {"content": choice.get("text") or "", "reasoning": "", "guard": data.get("guard") or {}, "raw": r.text}
    content, reasoning, guard = [], [], {}
    for e in events(r):
        if "error" in e:
            raise AssertionError(f"stream error: {e}")
        if e.get("guard"):
            guard = e["guard"]
        for c in e.get("choices") or ():
            delta = c.get("delta") or {}
            content.append(delta.get("content") or c.get("text") or "")
            reasoning.append(delta.get("reasoning_content") or delta.get("reasoning") or "")
    return {"content": "".join(content), "reasoning": "".join(reasoning), "guard": guard, "raw": r.text}


def raw_unescaped(result: dict[str, Any]) -> str:
    """The raw body with JSON escapes undone, so a search for text finds it however encoded."""
    return result["raw"].encode().decode("unicode_escape", errors="ignore")
