"""Hold and release through the proxy: the caller, the queue, the reviewer and the knowledge base."""

from __future__ import annotations

import asyncio
import re
import threading
import time

import bcrypt
import httpx
import pytest

from guard.review import open_store
from guard.settings import hash_key
from tests.support import run_guard, settings_for, write_policies

FALSE = "DeepSeek-V3 has 670B parameters and was trained on 18 trillion tokens."
QUESTION = "How many parameters does DeepSeek-V3 have?"
CORRECT = "DeepSeek-V3 has 671B total parameters."
KEY, OTHER_KEY = "key-one", "key-two"
PASSWORD = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()


def policy(**over):
    p = {
        "name": "default",
        "checks": {"grounding": {}},
        "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000},
        "hold": {"wait_s": 0, "message": "held for review"},
    }
    p.update(over)
    return p


@pytest.fixture
def store_url(tmp_path):
    return f"sqlite:///{tmp_path / 'queue.sqlite3'}"


@pytest.fixture
def guarded(fake_backend, knowledge_index, tmp_path, store_url):
    def make(**over):
        write_policies(tmp_path / "p", policy(**over))
        settings = settings_for(
            fake_backend.base_url,
            tmp_path / "p",
            knowledge={"index_dir": str(knowledge_index)},
            review={"store_url": store_url, "reviewers": [{"username": "rita", "password_hash": PASSWORD}]},
            auth={"mode": "keys", "keys": [{"hash": hash_key(KEY), "tenant": "t1"}, {"hash": hash_key(OTHER_KEY), "tenant": "t1"}]},
        )
        return run_guard(settings, warm=True)

    return make


def ask(base, key=KEY, question=QUESTION, timeout=60):
    r = httpx.post(
        f"{base}/chat/completions",
        headers={"authorization": f"Bearer {key}"},
        json={"model": "test-model", "messages": [{"role": "user", "content": question}]},
        timeout=timeout,
    )
    assert r.status_code == 200, r.text
    return r.json()


def review_status(base, review_id, key=KEY):
    return httpx.get(f"{base}/guard/reviews/{review_id}", headers={"authorization": f"Bearer {key}"})


def decide(store_url, review_id, action="edit", text=CORRECT, delay=0.0):
    time.sleep(delay)
    store = open_store(store_url)
    try:
        assert asyncio.run(store.claim(review_id, "rita", 60))
        asyncio.run(store.decide(review_id, "rita", action, final_answer=text if action == "edit" else None, reason="wrong" if action == "reject" else None))
    finally:
        store.close()


def pending_ids(store_url):
    store = open_store(store_url)
    try:
        return [i.id for i in asyncio.run(store.list_items())]
    finally:
        store.close()


def test_held_answer_is_withheld_then_released_to_the_same_key_only(guarded, fake_backend, store_url):
    fake_backend.set(text=FALSE)
    with guarded() as base:
        body = ask(base)
        g = body["guard"]
        assert g["decision"] == "hold" and body["choices"][0]["message"]["content"] == "held for review"
        rid = g["review_id"]
        assert review_status(base, rid).json()["status"] == "pending"
        assert review_status(base, rid, key=OTHER_KEY).status_code == 404  # same tenant, other key

        decide(store_url, rid)
        got = review_status(base, rid).json()
        assert got["status"] == "edited" and got["final_answer"] == CORRECT


def test_caller_waiting_in_hold_wait_receives_the_reviewed_answer(guarded, fake_backend, store_url):
    fake_backend.set(text=FALSE)
    with guarded(hold={"wait_s": 30, "message": "held"}) as base:
        result = {}
        t = threading.Thread(target=lambda: result.update(ask(base)))
        t.start()
        deadline = time.monotonic() + 30
        while not pending_ids(store_url):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        decide(store_url, pending_ids(store_url)[0])
        t.join(30)
        assert result["choices"][0]["message"]["content"] == CORRECT
        assert result["guard"]["decision"] == "reviewed" and result["guard"]["review_status"] == "edited"


def test_wait_runs_out_and_the_caller_gets_the_holding_message(guarded, fake_backend):
    fake_backend.set(text=FALSE)
    with guarded(hold={"wait_s": 0.5, "message": "still being reviewed"}) as base:
        started = time.monotonic()
        body = ask(base)
        assert time.monotonic() - started >= 0.5
        assert body["choices"][0]["message"]["content"] == "still being reviewed"
        assert body["guard"]["decision"] == "hold"


def test_rejected_answer_releases_the_fallback(guarded, fake_backend, store_url):
    fake_backend.set(text=FALSE)
    with guarded() as base:
        rid = ask(base)["guard"]["review_id"]
        decide(store_url, rid, action="reject")
        got = review_status(base, rid).json()
        assert got["status"] == "rejected" and got["final_answer"] == policy()["decision"].get("fallback_message", got["final_answer"])
        assert got["final_answer"] and got["final_answer"] != FALSE


def test_audit_sampling_queues_passed_answers_without_holding(guarded, fake_backend, store_url):
    fake_backend.set(text=CORRECT)
    with guarded(audit={"sample_rate": 1.0}) as base:
        body = ask(base)
        assert body["guard"]["decision"] == "pass" and body["choices"][0]["message"]["content"] == CORRECT
        store = open_store(store_url)
        items = asyncio.run(store.list_items())
        store.close()
        assert [(i.kind, i.answer) for i in items] == [("audit", CORRECT)]


def test_feedback_by_response_id_queues_the_answer(guarded, fake_backend, store_url):
    fake_backend.set(text=CORRECT)
    with guarded() as base:
        body = ask(base)
        r = httpx.post(f"{base}/guard/feedback", headers={"authorization": f"Bearer {KEY}"}, json={"response_id": body["id"], "reason": "outdated"})
        assert r.status_code == 202, r.text
        store = open_store(store_url)
        item = asyncio.run(store.get(r.json()["review_id"]))
        store.close()
        assert item.kind == "feedback" and item.answer == CORRECT and item.question == QUESTION


def test_approved_answer_is_reused_for_a_close_question(guarded, fake_backend, store_url):
    fake_backend.set(text=FALSE)
    with guarded(reuse_approved={"enabled": True, "similarity": 0.9}) as base:
        rid = ask(base)["guard"]["review_id"]
        decide(store_url, rid)
        time.sleep(1.1)  # decisions made by another process are picked up within a second
        fake_backend.clear()
        body = ask(base, question="How many parameters does DeepSeek-V3 have")
        assert body["guard"]["decision"] == "reused" and body["guard"]["review_id"] == rid
        assert body["choices"][0]["message"]["content"] == CORRECT
        from tests.openai_spec import validate

        validate("CreateChatCompletionResponse", body)  # guard's own answer: refusal, logprobs
        assert body["choices"][0]["message"]["refusal"] is None
        assert fake_backend.requests == []  # the backend was not asked
        other = ask(base, question="What is TTFT?")
        assert other["guard"]["decision"] != "reused"


def test_correction_added_to_knowledge_makes_the_same_answer_pass(guarded, fake_backend, store_url):
    novel = "The guard-test cluster runs on 4096 GPUs named Falcon."
    fake_backend.set(text=novel)
    with guarded() as base:
        question = "How many GPUs does the guard-test cluster have?"
        first = ask(base, question=question)
        assert first["guard"]["decision"] == "hold"
        root = base.removesuffix("/v1")
        with httpx.Client(base_url=f"{root}/review") as reviewer:
            token = re.search(r'name="csrf" value="([^"]+)"', reviewer.get("/login").text).group(1)
            reviewer.post("/login", data={"username": "rita", "password": "pw", "csrf": token})
            token = re.search(r'name="csrf" value="([^"]+)"', reviewer.get("/").text).group(1)
            rid = first["guard"]["review_id"]
            assert reviewer.post(f"/items/{rid}/claim", data={"csrf": token}).status_code in (200, 303)
            form = {"csrf": token, "action": "approve", "add_to_knowledge": "1"}
            r = reviewer.post(f"/items/{rid}/decide", data=form)
            # the answer still has the claims the check flagged: the page asks first, naming them
            assert r.status_code == 200 and 'id="still-unsupported"' in r.text
            form["confirm"] = re.search(r'name="confirm" value="([0-9a-f]+)"', r.text).group(1)
            assert reviewer.post(f"/items/{rid}/decide", data=form).status_code in (200, 303)
        again = ask(base, question=question)
        assert again["guard"]["decision"] == "pass", again["guard"]


def test_holding_message_names_the_review(guarded, fake_backend):
    fake_backend.set(text=FALSE)
    with guarded(hold={"wait_s": 0, "message": "Held as {review_id}."}) as base:
        body = ask(base)
        assert body["choices"][0]["message"]["content"] == f"Held as {body['guard']['review_id']}."
