"""Verdicts in the text itself (``policy.visible``), for clients that drop the ``guard`` object:
footnotes for annotate, a notice after an observed stream that was held, and
``finish_reason: content_filter`` wherever guard withheld the text."""

from __future__ import annotations

import json

import httpx
import pytest
from openai import OpenAI

from guard.checks.base import CheckOutcome, CheckReport, Evidence, SentenceScore
from guard.visible import footnotes, source_list
from tests.support import run_guard, settings_for, write_policies

QUESTION = [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]
TRUE = "DeepSeek-V3 has 671B total parameters, with 37B activated per token."


def report(text: str) -> CheckReport:
    a, b = "Paris is in France.", "It has 2 million people."
    sentences = [
        SentenceScore(a, 0, len(a), 0.9, [Evidence("p1", "geo.md", "Paris, France", 0.9)]),
        SentenceScore(b, len(a) + 1, len(a) + 1 + len(b), 0.1, unsupported=True),
    ]
    return CheckReport(confidence=0.5, answer=text, outcomes=[CheckOutcome("grounding", True, 0.5, sentences)])


def test_footnotes_mark_supported_sentences_and_list_the_sources() -> None:
    text = "Paris is in France. It has 2 million people."
    r = report(text)
    assert footnotes(text, r) == "Paris is in France.[1] It has 2 million people.\n\n[1] geo.md"
    assert footnotes("Paris is in [masked]. It has", r).endswith("\n\n[1] geo.md")  # offsets moved: list only
    assert source_list(CheckReport(confidence=1.0, answer="x")) == ""
    assert footnotes("x", CheckReport(confidence=1.0, answer="x")) == "x"


def sse_text(r: httpx.Response) -> tuple[str, list[str | None], dict]:
    chunks = [json.loads(line[6:]) for line in r.text.split("\n\n") if line.startswith("data: {")]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    return text, finishes, [c for c in chunks if "guard" in c][-1]["guard"]


def pattern_policy(**over):
    return {"name": "default", "checks": {"patterns": {"deny": ["(?i)forbidden"]}}, **over}


@pytest.mark.parametrize("action", ["fallback", "hold", "block"])
@pytest.mark.parametrize("stream", [False, True])
def test_withheld_text_finishes_with_content_filter(fake_backend, tmp_path, action, stream) -> None:
    d = write_policies(tmp_path / "p", pattern_policy(decision={"on_violation": action}))
    fake_backend.set(text="This is forbidden.")
    settings = settings_for(fake_backend.base_url, d, review={"store_url": f"sqlite:///{tmp_path / 'r.sqlite3'}"})
    with run_guard(settings) as base:
        r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION, "stream": stream}, timeout=30)
        if stream:
            _, finishes, guard = sse_text(r)
            assert finishes == ["content_filter"] and guard["decision"] == action
        else:
            assert r.json()["choices"][0]["finish_reason"] == "content_filter"


def test_withheld_finish_reason_can_stay_stop(fake_backend, tmp_path) -> None:
    d = write_policies(tmp_path / "p", pattern_policy(decision={"on_violation": "fallback"}, visible={"withheld_finish_reason": "stop"}))
    fake_backend.set(text="This is forbidden.")
    with run_guard(settings_for(fake_backend.base_url, d)) as base:
        r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION}, timeout=30)
        assert r.json()["choices"][0]["finish_reason"] == "stop"


def test_an_observed_stream_that_was_held_says_so_and_is_filed(fake_backend, tmp_path) -> None:
    d = write_policies(tmp_path / "p", pattern_policy(
        decision={"on_violation": "hold"}, streaming={"mode": "observe"},
        visible={"held_notice": "[guard: this answer was sent for review ({review_id})]"},
    ))
    fake_backend.set(text="This is forbidden.")
    store = tmp_path / "r.sqlite3"
    with run_guard(settings_for(fake_backend.base_url, d, review={"store_url": f"sqlite:///{store}"})) as base:
        r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION, "stream": True}, timeout=30)
    text, finishes, guard = sse_text(r)
    assert guard["decision"] == "hold" and guard["review_id"]
    assert text == f"This is forbidden.\n\n[guard: this answer was sent for review ({guard['review_id']})]"
    assert finishes == ["stop"]  # nothing was withheld: the reader saw the answer
    import asyncio

    from guard.review import open_store

    s = open_store(f"sqlite:///{store}")
    try:
        item = asyncio.run(s.get(guard["review_id"]))
        assert item is not None and item.answer == "This is forbidden."
    finally:
        s.close()


def test_a_passed_observed_stream_is_unchanged(fake_backend, tmp_path) -> None:
    d = write_policies(tmp_path / "p", pattern_policy(streaming={"mode": "observe"}, visible={"held_notice": "held"}))
    fake_backend.set(text="All good.")
    with run_guard(settings_for(fake_backend.base_url, d)) as base:
        r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION, "stream": True}, timeout=30)
    assert sse_text(r)[0] == "All good."


@pytest.mark.parametrize("mode", [None, "buffer", "observe"])
def test_annotate_shows_its_citations_as_footnotes(fake_backend, knowledge_index, tmp_path, mode) -> None:
    policy = {
        "name": "default", "checks": {"grounding": {"top_k": 4}},
        "decision": {"bands": [{"min": 0.999, "action": "pass"}, {"min": 0.0, "action": "annotate"}], "timeout_ms": 60000},
        "visible": {"footnotes": True}, "streaming": {"mode": mode or "buffer"},
    }
    d = write_policies(tmp_path / "p", policy)
    fake_backend.set(text=TRUE)
    with run_guard(settings_for(fake_backend.base_url, d, knowledge={"index_dir": str(knowledge_index)}), warm=True) as base:
        client = OpenAI(base_url=base, api_key="x", max_retries=0)
        if mode is None:
            out = client.chat.completions.create(model="test-model", messages=QUESTION)
            text, decision = out.choices[0].message.content, out.model_extra["guard"]["decision"]
        else:
            chunks = list(client.chat.completions.create(model="test-model", messages=QUESTION, stream=True))
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            decision = [c.model_extra["guard"] for c in chunks if "guard" in (c.model_extra or {})][0]["decision"]
    assert decision == "annotate"
    assert text.startswith(TRUE.rstrip("."))
    assert "\n\n[1] " in text and (mode == "observe" or "[1]" in text.split("\n\n")[0])
