"""Deciding over HTTP: no edit is lost, groups are decided together, the next item opens, both languages."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from review_support import new_item, run
from test_review_web import Sink, config, csrf_of, login  # noqa: F401 - fixtures

from review_queue.app import create_review_app

FLAGGED = {"sentences": [
    {"text": "It uses 670B GPUs.", "start": 0, "end": 18, "support": 0.05, "unsupported": True,
     "reasons": ["number 670B not in evidence"], "codes": [{"code": "number_missing", "params": {"value": "670B"}}],
     "evidence": [{"passage_id": "hw-3", "source": "hardware.md", "span": "The cluster uses 2048 GPUs.", "score": 0.61}]},
    {"text": "The sky is green.", "start": 19, "end": 36, "support": 0.2, "unsupported": True,
     "reasons": ["only 0% of the words are in the evidence"], "codes": [{"code": "low_coverage", "params": {"share": "0%"}}],
     "evidence": []},
]}


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def client(store, config, sink):  # noqa: F811
    c = TestClient(create_review_app(store, config, knowledge_sink=sink))
    c.token = login(c, "ann")
    return c


def decide(client, item_id, query="", **form):
    return client.post(f"/items/{item_id}/decide?{query}", data={"csrf": client.token, **form}, follow_redirects=False)


def confirm_token(html: str) -> str:
    return re.search(r'name="confirm" value="([0-9a-f]+)"', html).group(1)


def test_approving_a_changed_answer_shows_the_diff_then_saves_the_edit(client, store, sink):
    item = run(store.create_item(new_item(annotation=FLAGGED)))
    fixed = "It uses 2048 GPUs."
    r = decide(client, item.id, action="approve", final_answer=fixed, add_to_knowledge="1")
    assert r.status_code == 200 and "<del>" in r.text and "<ins>2048</ins>" in r.text
    assert run(store.get(item.id)).status == "pending" and sink.calls == []
    token = confirm_token(r.text)
    again = decide(client, item.id, action="approve", final_answer=fixed + " Really.", add_to_knowledge="1", confirm=token)
    assert again.status_code == 200 and confirm_token(again.text) != token  # changed after the diff: asked again
    r = decide(client, item.id, action="approve", final_answer=fixed, add_to_knowledge="1", confirm=token)
    assert r.status_code == 303
    done = run(store.get(item.id))
    assert (done.status, done.final_answer) == ("edited", fixed)
    assert [text for text, _ in sink.calls] == [fixed]
    [event] = [e for e in run(store.events(item.id)) if e.action == "edited"]
    assert event.detail["final_answer"] == fixed


def test_knowledge_base_with_flagged_claims_left_asks_and_names_them(client, store, sink):
    item = run(store.create_item(new_item(annotation=FLAGGED)))
    r = decide(client, item.id, action="approve", add_to_knowledge="1")
    assert r.status_code == 200
    named = re.search(r'<ul class="still" id="still-unsupported">(.*?)</ul>', r.text, re.S).group(1)
    assert "It uses 670B GPUs." in named and "The sky is green." in named
    half = "It uses 2048 GPUs. The sky is green."  # one claim fixed, one left: still asks, names only that one
    r = decide(client, item.id, action="approve", final_answer=half, add_to_knowledge="1")
    named = re.search(r'id="still-unsupported">(.*?)</ul>', r.text, re.S).group(1)
    assert "The sky is green." in named and "670B" not in named
    r = decide(client, item.id, action="approve", final_answer=half, add_to_knowledge="1", confirm=confirm_token(r.text))
    assert r.status_code == 303 and [t for t, _ in sink.calls] == [half]
    plain = run(store.create_item(new_item(annotation=FLAGGED, answer="Other answer entirely.")))
    assert decide(client, plain.id, action="approve").status_code == 303  # no edit, no knowledge base: no question
    assert run(store.get(plain.id)).status == "approved"


def test_identical_items_are_decided_together_and_each_is_audited(client, store):
    same = [run(store.create_item(new_item(answer="It uses 670B GPUs.  "))) for _ in range(3)]
    near = run(store.create_item(new_item(answer="It uses 670B GPUs now.")))
    other_policy = run(store.create_item(new_item(answer="It uses 670B GPUs.", policy="billing")))
    queue = client.get("/").text
    assert queue.count('class="row grouped"') == 1 and "3 identical" in queue and "1 similar" in queue
    page = client.get(f"/items/{same[0].id}").text
    assert all(f'value="{m.id}" checked' in page for m in same[1:])
    assert f'value="{near.id}"' in page and f'value="{near.id}" checked' not in page  # offered, not ticked
    assert other_policy.id not in page
    r = decide(client, same[0].id, action="reject", reason="invented",
               member=[same[1].id, same[2].id, other_policy.id])  # a member not in the group is ignored
    assert r.status_code == 303 and "msg=decided_group" in r.headers["location"]
    for item in same:
        got = run(store.get(item.id))
        assert (got.status, got.reject_reason, got.reviewer) == ("rejected", "invented", "ann")
        [event] = [e for e in run(store.events(item.id)) if e.action == "rejected"]
        assert event.detail["group"] == same[0].id and event.detail["reason"] == "invented"
    assert run(store.get(near.id)).status == "pending" and run(store.get(other_policy.id)).status == "pending"


def test_a_near_duplicate_is_decided_only_when_ticked_and_keeps_its_answer(client, store):
    a = run(store.create_item(new_item(answer="The company was founded by Ada Lovelace in 1843.")))
    b = run(store.create_item(new_item(answer="The company was founded by Ada Lovelace in 1842.")))
    decide(client, a.id, action="approve", member=[b.id])
    got = run(store.get(b.id))
    assert (got.status, got.final_answer) == ("approved", b.answer)


def test_a_member_someone_else_claimed_is_skipped(client, store):
    a, b = (run(store.create_item(new_item())) for _ in range(2))
    assert run(store.claim(b.id, "bob", 60))
    decide(client, a.id, action="approve", member=[b.id])
    assert run(store.get(a.id)).status == "approved" and run(store.get(b.id)).status == "claimed"


def test_after_a_decision_the_next_item_of_the_filter_opens(client, store):
    first = run(store.create_item(new_item(confidence=0.1, answer="one", model="m1")))
    other = run(store.create_item(new_item(confidence=0.2, answer="two", model="m2")))
    second = run(store.create_item(new_item(confidence=0.3, answer="three", model="m1")))
    r = decide(client, first.id, query="model=m1", action="approve")
    assert r.headers["location"] == f"/items/{second.id}?model=m1&msg=decided"
    r = decide(client, second.id, query="model=m1", action="approve")
    assert r.headers["location"] == "/?model=m1&msg=decided"  # nothing left in the filter: the queue
    assert run(store.get(other.id)).status == "pending"


def test_chinese_page_renders_reason_codes_and_readable_history(client, store):
    item = run(store.create_item(new_item(annotation=FLAGGED, reasons=["置信度低"])))
    decide(client, item.id, action="reject", reason="编造的数字")
    page = client.get(f"/items/{item.id}?lang=zh").text
    assert "证据中没有数字 670B" in page and "只有 0% 的词出现在证据中" in page
    assert "number 670B not in evidence" not in page
    assert "拦截" not in page and "暂扣待审" in page
    assert "\\u" not in page and "编造的数字" in page and "置信度低" in page
    audit = client.get("/audit").text
    assert "\\u" not in audit and "原因: 编造的数字" in audit and "驳回" in audit
    assert "拦截" not in client.get("/?status=all").text


def test_old_items_without_codes_show_their_english_reasons(client, store):
    old = {"sentences": [{**FLAGGED["sentences"][0], "codes": []}]}
    item = run(store.create_item(new_item(annotation=old)))
    assert "number 670B not in evidence" in client.get(f"/items/{item.id}?lang=zh").text
