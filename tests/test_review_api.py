"""The two client-facing review routes: GET /v1/guard/reviews/{id} and POST /v1/guard/feedback.

The routes are mounted on a bare FastAPI app with the lead's error handlers; the caller and the
store come from the real dependencies in guard.api.deps, overridden with a fixed caller and a
real SQLite store (building the whole proxy runtime is not this area's business).
"""

from __future__ import annotations


import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_support import new_item, run

from guard.api import deps, errors, feedback, reviews
from guard.pipeline import Caller

ACME_KEY = "k_acme_1234"


def client_for(store, caller: Caller) -> TestClient:
    app = FastAPI()
    errors.install(app)
    app.include_router(reviews.router)
    app.include_router(feedback.router)
    app.dependency_overrides[deps.authenticate] = lambda: caller
    app.dependency_overrides[deps.get_store] = lambda: store
    app.dependency_overrides[deps.get_recent] = lambda: (lambda response_id, tenant: None)
    return TestClient(app)


@pytest.fixture
def acme(store):
    return client_for(store, Caller(tenant="acme", key_id=ACME_KEY))


def test_the_caller_reads_its_review_outcome(store, acme):
    item = run(store.create_item(new_item(key_id=ACME_KEY)))
    body = acme.get(f"/v1/guard/reviews/{item.id}").json()
    assert (body["id"], body["status"], body["final_answer"]) == (item.id, "pending", None)
    run(store.claim(item.id, "ann", 60))
    run(store.decide(item.id, "ann", "edit", final_answer="Corrected."))
    body = acme.get(f"/v1/guard/reviews/{item.id}").json()
    assert (body["status"], body["final_answer"]) == ("edited", "Corrected.")
    assert "reject_reason" not in body


def test_other_keys_and_tenants_get_404(store):
    item = run(store.create_item(new_item(key_id=ACME_KEY)))
    same_tenant_other_key = client_for(store, Caller(tenant="acme", key_id="k_other"))
    other_tenant_same_key = client_for(store, Caller(tenant="globex", key_id=ACME_KEY))
    for client in (same_tenant_other_key, other_tenant_same_key):
        r = client.get(f"/v1/guard/reviews/{item.id}")
        assert r.status_code == 404 and r.json()["error"]["code"] == "review_not_found"
    assert client_for(store, Caller(tenant="acme", key_id=ACME_KEY)).get("/v1/guard/reviews/rv_nope").status_code == 404


def test_feedback_on_a_known_response_copies_it(store, acme):
    original = run(store.create_item(new_item(kind="audit", key_id=ACME_KEY, response_id="chatcmpl-9",
                                              annotation={"sentences": [{"text": "x"}]})))
    r = acme.post("/v1/guard/feedback", json={"response_id": "chatcmpl-9", "reason": "wrong number",
                                              "expected": "2048 GPUs"})
    assert r.status_code == 202
    item = run(store.get(r.json()["review_id"]))
    assert item.kind == "feedback" and item.status == "pending"
    assert (item.answer, item.policy, item.annotation) == (original.answer, original.policy, original.annotation)
    assert item.request["guard_feedback"] == {"reason": "wrong number", "expected": "2048 GPUs"}
    assert item.question == original.question and item.reasons == ["feedback: wrong number"]
    assert run(store.events(item.id))[0].actor == f"key:{ACME_KEY}"


def test_feedback_on_an_unknown_response_needs_the_answer(store, acme):
    r = acme.post("/v1/guard/feedback", json={"response_id": "chatcmpl-x", "reason": "bad"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "answer"
    r = acme.post("/v1/guard/feedback", json={"response_id": "chatcmpl-x", "reason": "bad", "answer": "The sky is green.",
                                              "question": "Sky colour?"})
    item = run(store.get(r.json()["review_id"]))
    assert (item.answer, item.question, item.tenant) == ("The sky is green.", "Sky colour?", "acme")
    assert acme.post("/v1/guard/feedback", json={"response_id": "x", "reason": ""}).status_code == 400
    assert acme.post("/v1/guard/feedback", json={"response_id": "x", "reason": "r", "evil": 1}).status_code == 400


def test_feedback_does_not_copy_another_tenants_response(store):
    run(store.create_item(new_item(tenant="globex", response_id="chatcmpl-g", answer="globex secret")))
    acme = client_for(store, Caller(tenant="acme", key_id=ACME_KEY))
    r = acme.post("/v1/guard/feedback", json={"response_id": "chatcmpl-g", "reason": "bad"})
    assert r.status_code == 400  # as if unknown: nothing of globex's leaks into acme's item
