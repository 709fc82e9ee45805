"""The reviewer web app over HTTP (Starlette's TestClient) against a real SQLite store."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from review_support import new_item, run

from guard.settings import ReviewConfig, Reviewer
from review_queue.app import create_review_app
from review_queue.auth import COOKIE, hash_password

XSS_ANSWER = '<script>alert("pwned")</script> It uses 670B GPUs. <img src=x onerror=alert(1)>'


@pytest.fixture
def config(monkeypatch):
    monkeypatch.setenv("GUARD_TEST_REVIEW_SECRET", "s" * 40)
    fast = lambda pw: hash_password(pw, rounds=4)  # noqa: E731 - cheap hashes keep the tests fast
    return ReviewConfig(
        store_url="sqlite:///unused",
        session_secret_env="GUARD_TEST_REVIEW_SECRET",
        reviewers=[
            Reviewer(username="ann", password_hash=fast("ann-password"), tenants=["acme"]),
            Reviewer(username="bob", password_hash=fast("bob-password"), tenants=["acme", "globex"]),
            Reviewer(username="root", password_hash=fast("root-password"), role="admin"),
            Reviewer(username="cat", password_hash=fast("cat-password"), tenants=["*"]),
        ],
    )


class Sink:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    async def __call__(self, text: str, provenance: dict) -> None:
        self.calls.append((text, provenance))


@pytest.fixture
def sink():
    return Sink()


@pytest.fixture
def app(store, config, sink):
    return create_review_app(store, config, knowledge_sink=sink)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def login(client: TestClient, user: str, prefix: str = "") -> str:
    token = csrf_of(client.get(f"{prefix}/login").text)
    r = client.post(f"{prefix}/login", data={"username": user, "password": f"{user}-password", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return csrf_of(client.get(f"{prefix}/").text)


def test_pages_need_a_login(app):
    client = TestClient(app)
    for path in ("/", "/items/rv_x", "/audit", "/stats", "/counts.json"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login", path


def test_login_checks_the_password_and_audits(app, store):
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    bad = client.post("/login", data={"username": "ann", "password": "nope", "csrf": token})
    assert bad.status_code == 401 and "Wrong user name or password" in bad.text
    unknown = client.post("/login", data={"username": "eve", "password": "x", "csrf": token})
    assert unknown.status_code == 401
    login(client, "ann")
    assert client.get("/").status_code == 200
    actions = [(e.actor, e.action) for e in run(store.audit_log())]
    assert actions[:3] == [("ann", "login"), ("eve", "login_failed"), ("ann", "login_failed")]


def test_session_cookie_is_httponly_lax_and_signed(app):
    client = TestClient(app)
    r = client.get("/login")
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=") and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    login(client, "ann")
    value = client.cookies.get(COOKIE)
    assert TestClient(app, cookies={COOKIE: value}).get("/", follow_redirects=False).status_code == 200
    tampered = value[:-3] + ("AAA" if not value.endswith("AAA") else "BBB")
    assert TestClient(app, cookies={COOKIE: tampered}).get("/", follow_redirects=False).status_code == 303


def test_forms_without_the_csrf_token_are_refused(app, store):
    item = run(store.create_item(new_item()))
    client = TestClient(app)
    token = login(client, "ann")
    assert client.post(f"/items/{item.id}/claim").status_code == 403
    assert client.post(f"/items/{item.id}/claim", data={"csrf": "forged"}).status_code == 403
    assert run(store.get(item.id)).status == "pending"
    other = TestClient(app)  # a fresh session cannot log in with someone else's token
    assert other.post("/login", data={"username": "ann", "password": "ann-password", "csrf": token}).status_code == 403
    r = client.post(f"/items/{item.id}/claim", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and run(store.get(item.id)).reviewer == "ann"


def test_untrusted_text_is_escaped(app, store):
    annotation = {"sentences": [
        {"text": "It uses 670B GPUs.", "start": 40, "end": 58, "support": 0.05, "unsupported": True,
         "reasons": ["<i>670B</i> not in evidence"],
         "evidence": [{"passage_id": "p<1>", "source": "<svg onload=alert(2)>", "span": "</blockquote><script>x()</script>",
                       "score": 0.4}]},
    ]}
    item = run(store.create_item(new_item(
        answer=XSS_ANSWER, annotation=annotation, reasons=["<b>low</b>"],
        request={"messages": [{"role": "user", "content": "<iframe src=//evil>"}]},
    )))
    client = TestClient(app)
    login(client, "ann")
    for path in ("/", f"/items/{item.id}"):
        html = client.get(path).text
        assert "<script>alert" not in html and "<img src=x" not in html and "<iframe" not in html
        assert "<svg" not in html and "<script>x()" not in html and "<b>low</b>" not in html
    html = client.get(f"/items/{item.id}").text
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert '<span class="sentence unsupported"' in html  # the unsupported sentence is highlighted
    r = client.get(f"/items/{item.id}")
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_claim_edit_approve_adds_to_knowledge(app, store, sink):
    item = run(store.create_item(new_item()))
    ann = TestClient(app)
    token = login(ann, "ann")
    ann.post(f"/items/{item.id}/claim", data={"csrf": token})
    page = ann.get(f"/items/{item.id}").text
    assert 'id="approve"' in page and 'id="final_answer"' in page and 'id="add_to_knowledge"' in page
    bob = TestClient(app)
    bob_token = login(bob, "bob")
    assert "Claimed by ann" in bob.get(f"/items/{item.id}").text
    r = bob.post(f"/items/{item.id}/decide", data={"csrf": bob_token, "action": "approve"}, follow_redirects=False)
    assert r.headers["location"].endswith("msg=lost") and run(store.get(item.id)).status == "claimed"
    form = {"csrf": token, "action": "approve", "final_answer": "It uses 2048 GPUs.", "add_to_knowledge": "1"}
    r = ann.post(f"/items/{item.id}/decide", follow_redirects=False, data=form)
    assert r.status_code == 200 and 'id="diff"' in r.text  # a changed answer is shown as a diff first
    assert run(store.get(item.id)).status == "claimed" and sink.calls == []
    form["confirm"] = re.search(r'name="confirm" value="([0-9a-f]+)"', r.text).group(1)
    r = ann.post(f"/items/{item.id}/decide", follow_redirects=False, data=form)
    assert r.status_code == 303 and r.headers["location"] == "/?msg=decided"
    done = run(store.get(item.id))
    assert (done.status, done.final_answer, done.reviewer) == ("edited", "It uses 2048 GPUs.", "ann")
    assert len(sink.calls) == 1
    text, provenance = sink.calls[0]
    assert text == "It uses 2048 GPUs."
    assert provenance["item_id"] == item.id and provenance["reviewer"] == "ann" and provenance["decided_at"]
    assert [e.action for e in run(store.events(item.id))][-2:] == ["edited", "knowledge_added"]
    assert "It uses 2048 GPUs." in ann.get(f"/items/{item.id}").text


def test_unchanged_edit_is_an_approval_and_reject_needs_a_reason(app, store):
    a, r = run(store.create_item(new_item())), run(store.create_item(new_item()))
    client = TestClient(app)
    token = login(client, "ann")
    for item in (a, r):
        client.post(f"/items/{item.id}/claim", data={"csrf": token})
    client.post(f"/items/{a.id}/decide", data={"csrf": token, "action": "edit", "final_answer": a.answer})
    assert run(store.get(a.id)).status == "approved"
    resp = client.post(f"/items/{r.id}/decide", data={"csrf": token, "action": "reject", "reason": " "},
                       follow_redirects=False)
    assert resp.headers["location"].endswith("msg=invalid") and run(store.get(r.id)).status == "claimed"
    client.post(f"/items/{r.id}/decide", data={"csrf": token, "action": "reject", "reason": "invented numbers"})
    assert run(store.get(r.id)).reject_reason == "invented numbers"


def test_reviewers_act_only_within_their_tenants(app, store):
    mine = run(store.create_item(new_item(tenant="acme", answer="acme answer")))
    theirs = run(store.create_item(new_item(tenant="globex", answer="globex answer", policy="secret-policy")))
    ann = TestClient(app)
    token = login(ann, "ann")
    queue = ann.get("/?status=all").text
    assert mine.id in queue and theirs.id not in queue and "secret-policy" not in queue
    assert ann.get(f"/items/{theirs.id}").status_code == 404
    assert ann.post(f"/items/{theirs.id}/claim", data={"csrf": token}).status_code == 404
    assert run(store.get(theirs.id)).status == "pending"
    assert ann.get("/counts.json").json()["counts"]["pending"] == 1
    assert ann.get("/counts.json?tenant=globex").json()["counts"]["pending"] == 0
    assert theirs.id not in ann.get("/audit").text
    root = TestClient(app)
    login(root, "root")
    assert root.get("/counts.json").json()["counts"]["pending"] == 2
    assert theirs.id in root.get("/audit").text


def test_queue_filters_sort_and_counts(app, store):
    low = run(store.create_item(new_item(confidence=0.9, model="m-low", answer="It uses 2048 GPUs.")))
    high = run(store.create_item(new_item(confidence=0.1, model="m-high")))
    client = TestClient(app)
    login(client, "bob")
    html = client.get("/").text
    assert html.index(high.id) < html.index(low.id)
    filtered = client.get("/?model=m-low").text
    assert low.id in filtered and high.id not in filtered
    assert client.get("/counts.json?model=m-low").json()["counts"] == {
        "pending": 1, "claimed": 0, "approved": 0, "edited": 0, "rejected": 0, "expired": 0}
    item_page = client.get(f"/items/{high.id}").text
    assert f'id="next" href="/items/{low.id}' in item_page


def test_interface_language(app, store, config, sink):
    client = TestClient(app)
    assert "Reviewer log-in" in client.get("/login").text
    r = client.get("/login?lang=zh")
    assert "审核员登录" in r.text and 'lang="zh-CN"' in r.text
    assert "审核员登录" in client.get("/login").text  # remembered in a cookie
    assert "Reviewer log-in" in client.get("/login?lang=en").text
    zh_default = create_review_app(store, config.model_copy(update={"language": "zh"}), knowledge_sink=sink)
    assert "审核员登录" in TestClient(zh_default).get("/login").text


def test_stats_and_audit_pages(app, store):
    item = run(store.create_item(new_item()))
    client = TestClient(app)
    token = login(client, "bob")
    client.post(f"/items/{item.id}/claim", data={"csrf": token})
    client.post(f"/items/{item.id}/decide", data={"csrf": token, "action": "approve"})
    run(store.create_item(new_item()))
    stats = client.get("/stats").text
    assert re.search(r'id="stat-depth">1<', stats) and re.search(r'id="stat-missed">0<', stats)
    audit = client.get("/audit").text
    assert "approved" in audit and "claimed" in audit
    assert "<td>logged in</td>" not in audit  # log-ins are not tenant data: admins only
    cat = TestClient(app)  # every tenant, but not an admin: still no log-in records
    login(cat, "cat")
    assert "<td>logged in</td>" not in cat.get("/audit").text and "approved" in cat.get("/audit").text
    root = TestClient(app)
    login(root, "root")
    assert "<td>logged in</td>" in root.get("/audit").text
    assert "claimed" not in client.get("/audit?actor=nobody").text.split("<tbody>")[1]


def test_mounted_under_review_prefix(app, store):
    item = run(store.create_item(new_item()))
    proxy = FastAPI()
    proxy.mount("/review", app)
    client = TestClient(proxy)
    r = client.get("/review/", follow_redirects=False)
    assert r.headers["location"] == "/review/login"
    assert "Path=/review/" in r.headers["set-cookie"]
    assert 'href="/review/static/review.css"' in client.get("/review/login").text
    token = login(client, "ann", prefix="/review")
    assert f'href="/review/items/{item.id}' in client.get("/review/").text
    r = client.post(f"/review/items/{item.id}/claim", data={"csrf": token}, follow_redirects=False)
    assert r.headers["location"] == f"/review/items/{item.id}?msg=claimed"
    assert client.get("/review/static/review.js").status_code == 200
