"""Answers checked against the documents the request brings, through the real proxy on loopback."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from openai import OpenAI

from guard.review import open_store
from tests.support import run_guard, settings_for, write_policies

QUESTION = "How many GPUs does the Falcon cluster have?"
WRONG = "The Falcon cluster has 4096 GPUs."
SUPPORTING = ["The Falcon cluster has 4096 GPUs, all of them H800 cards.", "It is run by the platform team."]
CONTRADICTING = [
    "Office hours are from nine to five.",
    {"text": "The Falcon cluster has 2048 GPUs, all of them H800 cards.", "title": "Cluster sheet", "id": "sheet-7"},
]
ZH_QUESTION = "猎鹰集群有多少块GPU？"
ZH_WRONG = "猎鹰集群共有4096块GPU。"
ZH_SUPPORTING = ["猎鹰集群共有4096块GPU，全部是H800。"]
ZH_CONTRADICTING = [{"text": "猎鹰集群共有2048块GPU，全部是H800。", "title": "集群说明"}]


def policy(**over):
    p = {
        "name": "default",
        "checks": {"grounding": {}},
        "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000},
        "hold": {"wait_s": 0, "message": "held for review"},
    }
    grounding = over.pop("grounding", None)
    if grounding:
        p["checks"]["grounding"].update(grounding)
    p.update(over)
    return p


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'queue.sqlite3'}"


@pytest.fixture
def guarded(fake_backend, knowledge_index, tmp_path, store_url):
    def make(limits=None, backend=None, **over):
        write_policies(tmp_path / "p", policy(**over))
        settings = settings_for(
            fake_backend.base_url, tmp_path / "p",
            knowledge={"index_dir": str(knowledge_index)},
            review={"store_url": store_url},
            limits=limits or {},
        )
        if backend:
            for k, v in backend.items():
                setattr(settings.models[0].backend, k, v)
        return run_guard(settings, warm=True)

    return make


def ask(base, documents=None, question=QUESTION, **extra):
    body = {"model": "test-model", "messages": [{"role": "user", "content": question}], **extra}
    if documents is not None:
        body["documents"] = documents
    return httpx.post(f"{base}/chat/completions", json=body, timeout=60)


def cited(guard):
    return [e for s in guard["sentences"] for e in s["evidence"] if e.get("kind")]


@pytest.mark.parametrize(
    "question,answer,supporting,contradicting,title",
    [(QUESTION, WRONG, SUPPORTING, CONTRADICTING, "Cluster sheet"), (ZH_QUESTION, ZH_WRONG, ZH_SUPPORTING, ZH_CONTRADICTING, "集群说明")],
    ids=["en", "zh"],
)
def test_an_answer_the_documents_contradict_is_held_with_the_document_cited(
    guarded, fake_backend, store_url, question, answer, supporting, contradicting, title
):
    fake_backend.set(text=answer)
    with guarded() as base:
        r = ask(base, contradicting, question)
        assert r.status_code == 200, r.text
        g = r.json()["guard"]
        assert g["decision"] == "hold", g
        ev = cited(g)
        assert ev, g["sentences"]
        position = len(contradicting) - 1
        assert ev[0]["document"] == position and ev[0]["title"] == title
        assert ev[0]["source"] == f"documents[{position}]"
        text = contradicting[position]["text"]
        assert text[ev[0]["span_start"]:ev[0]["span_end"]] == ev[0]["span"]

        store = open_store(store_url)
        item = asyncio.run(store.get(g["review_id"]))
        store.close()
        assert [d.get("title") for d in item.documents][-1] == title  # the reviewer sees them
        assert item.documents[position]["text"] == text

        ok = ask(base, supporting, question)
        g = ok.json()["guard"]
        assert g["decision"] == "pass", g
        assert ok.json()["choices"][0]["message"]["content"] == answer


def sdk_stream(base, documents, question=QUESTION):
    client = OpenAI(base_url=base, api_key="x", max_retries=0)
    chunks = list(client.chat.completions.create(
        model="test-model", messages=[{"role": "user", "content": question}], stream=True,
        extra_body={"documents": documents},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    guard = [c.model_extra["guard"] for c in chunks if c.model_extra and "guard" in c.model_extra]
    return text, guard[-1]


@pytest.mark.parametrize("mode", ["buffer", "observe"])
@pytest.mark.parametrize("question,answer,supporting,contradicting", [
    (QUESTION, WRONG, SUPPORTING, CONTRADICTING), (ZH_QUESTION, ZH_WRONG, ZH_SUPPORTING, ZH_CONTRADICTING)], ids=["en", "zh"])
def test_streams_are_checked_against_the_documents(guarded, fake_backend, mode, question, answer, supporting, contradicting):
    fake_backend.set(text=answer)
    with guarded(streaming={"mode": mode}) as base:
        text, verdict = sdk_stream(base, contradicting, question)
        assert verdict["decision"] == "hold", verdict
        assert cited(verdict)[0]["document"] == len(contradicting) - 1
        text, verdict = sdk_stream(base, supporting, question)
        assert verdict["decision"] == "pass", verdict
        assert text == answer


def test_without_documents_the_same_answer_is_checked_against_the_index_only(guarded, fake_backend):
    fake_backend.set(text=WRONG)
    with guarded() as base:
        g = ask(base).json()["guard"]
        assert g["decision"] == "hold" and not cited(g)


def test_documents_reach_the_backend_only_when_the_model_says_so(guarded, fake_backend):
    fake_backend.set(text=WRONG)
    with guarded() as base:
        ask(base, SUPPORTING)
        assert "documents" not in fake_backend.requests[-1].body
    fake_backend.clear()
    with guarded(backend={"pass_documents": True}) as base:
        ask(base, SUPPORTING)
        assert fake_backend.requests[-1].body["documents"] == SUPPORTING


def test_sources_documents_only_ignore_the_index(guarded, fake_backend):
    fake_backend.set(text="DeepSeek-V3 has 671B total parameters, with 37B activated per token.")
    with guarded(grounding={"sources": ["documents"]}) as base:
        # the index supports it, but this policy checks against the request's documents only
        g = ask(base, ["Office hours are from nine to five."], "How many parameters does DeepSeek-V3 have?").json()["guard"]
        assert g["decision"] == "hold"
    with guarded() as base:
        g = ask(base, ["Office hours are from nine to five."], "How many parameters does DeepSeek-V3 have?").json()["guard"]
        assert g["decision"] == "pass"  # default: documents plus the configured index


def test_tool_results_count_and_earlier_assistant_turns_never_do(guarded, fake_backend):
    fake_backend.set(text=WRONG)
    tool = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": SUPPORTING[0]},
        {"role": "user", "content": QUESTION},
    ]
    echo = [
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": WRONG},
        {"role": "user", "content": "Are you sure?"},
    ]
    with guarded(grounding={"sources": ["documents", "tools", "knowledge"]}) as base:
        g = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": tool}, timeout=60).json()["guard"]
        assert g["decision"] == "pass", g
        g = httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": echo}, timeout=60).json()["guard"]
        assert g["decision"] == "hold", g


def test_template_context_counts_when_the_policy_says_so(guarded, fake_backend):
    fake_backend.set(text=WRONG)
    with guarded(grounding={"sources": ["context"]},
                 input={"mode": "wrap", "template": {"context": "{passages}"}}) as base:
        g = ask(base, metadata={"passages": SUPPORTING[0]}).json()["guard"]
        assert g["decision"] == "pass", g
        g = ask(base, metadata={"passages": CONTRADICTING[1]["text"]}).json()["guard"]
        assert g["decision"] == "hold", g


def test_too_many_documents_or_characters_is_a_413(guarded, fake_backend):
    with guarded(limits={"max_documents": 3, "max_document_chars": 100}) as base:
        r = ask(base, ["a", "b", "c", "d"])
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_many_documents"
        r = ask(base, ["x" * 60, "y" * 60])
        assert r.status_code == 413 and r.json()["error"]["code"] == "documents_too_large"
        assert "limits.max_document_chars" in r.json()["error"]["message"]
        assert fake_backend.requests == []


def test_malformed_or_missing_documents_are_a_400(guarded, fake_backend):
    with guarded(grounding={"require_documents": True}) as base:
        r = ask(base, [{"title": "no text"}])
        assert r.status_code == 400 and r.json()["error"]["param"] == "documents[0].text"
        r = ask(base, "not a list")
        assert r.status_code == 400
        r = ask(base)
        assert r.status_code == 400 and r.json()["error"]["code"] == "documents_required"
        assert fake_backend.requests == []
        fake_backend.set(text=WRONG)
        assert ask(base, SUPPORTING).json()["guard"]["decision"] == "pass"


def test_passages_a_rag_app_put_in_its_system_prompt_count_when_the_policy_names_the_tags(guarded, fake_backend):
    """Dify and FastGPT put retrieved passages in the prompt and cannot send documents."""
    fake_backend.set(text=WRONG)

    def messages(passage, where="system"):
        prompt = f"Use the following context as your learned knowledge.\n<context>\n{passage}\n</context>"
        return [{"role": where, "content": prompt}, {"role": "user", "content": QUESTION}]

    with guarded(grounding={"sources": ["context", "knowledge"], "context_tags": ["context"]}) as base:
        post = lambda m: httpx.post(f"{base}/chat/completions", json={"model": "test-model", "messages": m}, timeout=60).json()["guard"]  # noqa: E731
        assert post(messages(SUPPORTING[0]))["decision"] == "pass"
        held = post(messages(CONTRADICTING[1]["text"]))
        assert held["decision"] == "hold" and cited(held)[0]["kind"] == "context"
        # the same tags in a user message are the end user's words, never evidence
        assert post([{"role": "user", "content": f"<context>{SUPPORTING[0]}</context> {QUESTION}"}])["decision"] == "hold"
