"""Answers checked against the knowledge base through the proxy: decisions, streaming modes."""

from __future__ import annotations

import httpx
import pytest
from openai import OpenAI

from tests.support import run_guard, settings_for, write_policies

TRUE = "DeepSeek-V3 has 671B total parameters, with 37B activated per token."
FALSE = "DeepSeek-V3 has 670B parameters and was trained on 18 trillion tokens."
QUESTION = [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]


def policy(**over):
    p = {
        "name": "default",
        "checks": {"grounding": {"top_k": 4}, "pii": {"enabled": True}},
        "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.3, "action": "annotate"}, {"min": 0.0, "action": "block"}], "timeout_ms": 60000},
    }
    p.update(over)
    return p


@pytest.fixture
def guarded(fake_backend, knowledge_index, tmp_path):
    def make(**over):
        write_policies(tmp_path / "p", policy(**over))
        return run_guard(settings_for(fake_backend.base_url, tmp_path / "p", knowledge={"index_dir": str(knowledge_index)}), warm=True)

    return make


def chat(base, **kw):
    return OpenAI(base_url=base, api_key="x", max_retries=0).chat.completions.create(model="test-model", messages=QUESTION, **kw)


def test_supported_answer_passes_and_fabricated_numbers_are_blocked(guarded, fake_backend):
    with guarded() as base:
        fake_backend.set(text=TRUE)
        ok = chat(base)
        assert ok.choices[0].message.content == TRUE
        g = ok.model_extra["guard"]
        assert g["decision"] == "pass" and g["confidence"] >= 0.6 and g["index_version"]

        fake_backend.set(text=FALSE)
        raw = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION}, timeout=60)
        body = raw.json()
        assert raw.headers["x-guard-decision"] == "block"
        assert float(raw.headers["x-guard-confidence"]) < 0.3
        assert body["choices"][0]["message"]["content"] != FALSE
        assert body["choices"][0]["finish_reason"] == "content_filter"
        assert body["guard"]["decision"] == "block"


def test_annotate_adds_sentence_scores_and_citations(guarded, fake_backend):
    with guarded(decision={"bands": [{"min": 0.99, "action": "pass"}, {"min": 0.0, "action": "annotate"}], "timeout_ms": 60000}) as base:
        fake_backend.set(text=TRUE + " " + FALSE)
        r = chat(base)
        g = r.model_extra["guard"]
        assert g["decision"] == "annotate"
        sentences = g["sentences"]
        assert len(sentences) == 2
        assert sentences[0]["support"] > sentences[1]["support"]
        assert sentences[0]["evidence"][0]["source"].endswith((".md", ".jsonl"))
        assert [s["text"] for s in sentences if s["unsupported"]] == [FALSE]


def test_personal_data_is_masked(guarded, fake_backend):
    with guarded(checks={"pii": {"enabled": True}}) as base:
        fake_backend.set(text="Write to alice@example.com or call 13812345678.")
        text = chat(base).choices[0].message.content
        assert "alice@example.com" not in text and "13812345678" not in text


def test_refusal_counts_as_safe(guarded, fake_backend):
    with guarded() as base:
        fake_backend.set(text="I don't know.")
        assert chat(base).model_extra["guard"]["decision"] == "pass"


@pytest.mark.parametrize("on_error, expected", [("closed", "block"), ("open", "pass")])
def test_check_timeout_follows_on_error(guarded, fake_backend, on_error, expected):
    with guarded(decision={"timeout_ms": 1, "on_error": on_error}) as base:
        fake_backend.set(text="A long answer. " * 200)
        r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION}, timeout=60)
        assert r.headers["x-guard-decision"] == expected
        assert any("did not finish" in reason for reason in r.json()["guard"]["reasons"])


def stream(base, **kw):
    with httpx.stream("POST", f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION, "stream": True, **kw}, timeout=60) as r:
        return r.headers, list(OpenAI(base_url=base, api_key="x").chat.completions._client._make_sse_decoder().iter_bytes(r.iter_bytes()))


def sdk_stream(base):
    chunks = list(chat(base, stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    guard = [c.model_extra["guard"] for c in chunks if c.model_extra and "guard" in c.model_extra]
    return text, finish, guard, chunks


def test_stream_buffer_sends_the_decision_in_headers_and_final_chunk(guarded, fake_backend):
    with guarded(streaming={"mode": "buffer"}) as base:
        fake_backend.set(text=FALSE)
        with httpx.stream("POST", f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION, "stream": True}, timeout=60) as r:
            assert r.headers["x-guard-decision"] == "block"
        text, finish, guard, chunks = sdk_stream(base)
        assert FALSE not in text and finish == ["content_filter"]
        assert guard[-1]["decision"] == "block"
        assert chunks[-1].usage is not None  # include_usage: the usage chunk comes last

        fake_backend.set(text=TRUE)
        text, finish, guard, _ = sdk_stream(base)
        assert text == TRUE and finish == ["stop"] and guard[-1]["decision"] == "pass"


def test_stream_sentence_releases_good_sentences_and_stops_at_a_bad_one(guarded, fake_backend):
    with guarded(streaming={"mode": "sentence", "notice": "[withheld]"}) as base:
        fake_backend.set(text=TRUE + " " + FALSE + " More text after.")
        text, finish, guard, _ = sdk_stream(base)
        assert text.startswith(TRUE)
        assert "670B" not in text and "More text after" not in text
        assert text.endswith("[withheld]")
        assert finish == ["content_filter"] and guard[-1]["decision"] == "block"


def test_stream_observe_streams_everything_then_reports(guarded, fake_backend):
    with guarded(streaming={"mode": "observe"}) as base:
        fake_backend.set(text=FALSE)
        text, finish, guard, chunks = sdk_stream(base)
        assert text == FALSE  # observe never withholds
        assert guard[-1]["decision"] == "block" and guard[-1]["unsupported"]
        assert chunks[-1].usage is not None


def test_llm_judge_asks_a_model_through_the_proxys_own_backends(fake_backend, knowledge_index, tmp_path):
    """The judge model is one of guard's public models; its verdict changes the decision."""
    from guard.settings import Settings

    write_policies(tmp_path / "j", policy(checks={"grounding": {"judge_model": "judge"}}))
    settings = settings_for(fake_backend.base_url, tmp_path / "j", knowledge={"index_dir": str(knowledge_index)})
    data = settings.model_dump()
    data["models"].append({"name": "judge", "backend": {"kind": "openai", "model": "judge-upstream", "api_base": fake_backend.base_url, "retries": 0}})
    with run_guard(Settings.model_validate(data), warm=True) as base:
        verdicts = {}
        for verdict in ("SUPPORTED", "UNSUPPORTED"):
            fake_backend.clear()
            # the fake answers every call with the same text: the answer, then the judge's verdict
            fake_backend.set(text=f"1: {verdict}")
            r = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": QUESTION}, timeout=60)
            verdicts[verdict] = r.json()["guard"]["confidence"]
            judged = [q for q in fake_backend.requests if q.body.get("model") == "judge-upstream"]
            assert len(judged) == 1 and "Statement:" in judged[0].body["messages"][0]["content"]
        assert verdicts["SUPPORTED"] > verdicts["UNSUPPORTED"]
