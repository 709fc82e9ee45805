"""Knowledge scoped per tenant, through the real proxy: corrections, retraction across replicas, own indexes."""

from __future__ import annotations

import re
import time
import uuid

import bcrypt
import httpx
import pytest
from click.testing import CliRunner

from guard.settings import hash_key
from tests.review_support import PG_URL, pg_unreachable_reason
from tests.support import run_guard, settings_for, write_policies

NOVEL = "The guard-test cluster runs on 4096 GPUs named Falcon."
QUESTION = "How many GPUs does the guard-test cluster have?"
KEYS = {"acme": "key-acme", "globex": "key-globex"}
PASSWORD = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
POLICY = {
    "name": "default",
    "checks": {"grounding": {}},
    "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000},
    "hold": {"wait_s": 0, "message": "held for review"},
}


def settings(fake_backend, tmp_path, knowledge_index, store_url, **knowledge):
    write_policies(tmp_path / "p", POLICY)
    return settings_for(
        fake_backend.base_url, tmp_path / "p",
        knowledge={"index_dir": str(knowledge_index), "corrections_sync_s": 0.2, **knowledge},
        review={"store_url": store_url, "reviewers": [
            {"username": "rita", "password_hash": PASSWORD},
            {"username": "ada", "password_hash": PASSWORD, "role": "admin"},
        ]},
        auth={"mode": "keys", "keys": [{"hash": hash_key(k), "tenant": t} for t, k in KEYS.items()]},
    )


def ask(base, tenant):
    r = httpx.post(f"{base}/chat/completions", headers={"authorization": f"Bearer {KEYS[tenant]}"},
                   json={"model": "test-model", "messages": [{"role": "user", "content": QUESTION}]}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["guard"]


def approve(base, review_id, user="rita", **form):
    """Approve with "add to knowledge" in the reviewer page; returns where it redirected."""
    root = base.removesuffix("/v1")
    with httpx.Client(base_url=f"{root}/review") as reviewer:
        token = re.search(r'name="csrf" value="([^"]+)"', reviewer.get("/login").text).group(1)
        reviewer.post("/login", data={"username": user, "password": "pw", "csrf": token})
        token = re.search(r'name="csrf" value="([^"]+)"', reviewer.get("/").text).group(1)
        reviewer.post(f"/items/{review_id}/claim", data={"csrf": token})
        page = reviewer.get(f"/items/{review_id}").text
        data = {"csrf": token, "action": "approve", "add_to_knowledge": "1", **form}
        r = reviewer.post(f"/items/{review_id}/decide", data=data)
        confirm = re.search(r'name="confirm" value="([0-9a-f]+)"', r.text) if r.status_code == 200 else None
        if confirm:  # the answer still has flagged claims: the page asks first (issue 14)
            r = reviewer.post(f"/items/{review_id}/decide", data={**data, "confirm": confirm.group(1)})
        return r.headers.get("location", ""), page


def eventually(check, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_tenant_a_correction_does_not_change_tenant_b_verdict(fake_backend, tmp_path, knowledge_index):
    fake_backend.set(text=NOVEL)
    store_url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    with run_guard(settings(fake_backend, tmp_path, knowledge_index, store_url), warm=True) as base:
        held = ask(base, "acme")
        assert held["decision"] == "hold"
        where, page = approve(base, held["review_id"])
        assert 'id="scope_tenant"' in page and 'id="scope_global"' not in page  # a reviewer cannot go global
        assert "msg=decided" in where
        assert ask(base, "acme")["decision"] == "pass"
        other = ask(base, "globex")
        assert other["decision"] == "hold", other  # the other tenant's verdict is unchanged

        # a global correction needs an admin, and an explicit choice
        refused, _ = approve(base, other["review_id"], knowledge_scope="global")
        assert "msg=invalid" in refused
        assert ask(base, "globex")["decision"] == "hold"
        third = ask(base, "globex")["review_id"]
        done, page = approve(base, third, user="ada", knowledge_scope="global")
        assert 'id="scope_global"' in page and "msg=decided" in done
        assert ask(base, "globex")["decision"] == "pass"


@pytest.fixture
def pg_store_url():
    reason = pg_unreachable_reason()
    if reason:
        pytest.skip(reason)
    import psycopg

    schema = f"guard_docs_tenant_{uuid.uuid4().hex[:10]}"
    yield f"{PG_URL}?schema={schema}"
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_a_retracted_correction_stops_supporting_the_claim_on_two_replicas(fake_backend, tmp_path, knowledge_index, pg_store_url):
    from guard.commands.knowledge_cmd import knowledge

    fake_backend.set(text=NOVEL)
    config = settings(fake_backend, tmp_path, knowledge_index, pg_store_url)
    with run_guard(config, warm=True) as one, run_guard(config, warm=True) as two:
        held = ask(one, "acme")
        assert held["decision"] == "hold"
        approve(one, held["review_id"])
        assert ask(one, "acme")["decision"] == "pass"
        assert eventually(lambda: ask(two, "acme")["decision"] == "pass"), "the second replica never synced"
        assert ask(two, "globex")["decision"] == "hold"

        listed = CliRunner().invoke(knowledge, ["corrections", "list", "--store", pg_store_url])
        assert held["review_id"] in listed.output and "tenant acme" in listed.output
        result = CliRunner().invoke(knowledge, ["corrections", "retract", held["review_id"], "--store", pg_store_url,
                                                "--reason", "wrong cluster", "--actor", "ada"])
        assert result.exit_code == 0, result.output
        for replica in (one, two):
            assert eventually(lambda: ask(replica, "acme")["decision"] == "hold"), "a replica still uses the retracted correction"
        shown = CliRunner().invoke(knowledge, ["corrections", "show", held["review_id"], "--store", pg_store_url])
        assert '"status": "retracted"' in shown.output and '"retracted_by": "ada"' in shown.output


def test_the_admin_page_lists_and_retracts_corrections(fake_backend, tmp_path, knowledge_index):
    fake_backend.set(text=NOVEL)
    store_url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    with run_guard(settings(fake_backend, tmp_path, knowledge_index, store_url), warm=True) as base:
        held = ask(base, "acme")
        approve(base, held["review_id"])
        assert ask(base, "acme")["decision"] == "pass"
        root = base.removesuffix("/v1")
        with httpx.Client(base_url=f"{root}/review") as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "rita", "password": "pw", "csrf": token})
            assert c.get("/corrections").status_code == 404  # reviewers do not see it
        with httpx.Client(base_url=f"{root}/review") as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").text).group(1)
            c.post("/login", data={"username": "ada", "password": "pw", "csrf": token})
            page = c.get("/corrections").text
            assert f'id="correction-{held["review_id"]}"' in page and NOVEL in page
            token = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
            r = c.post(f"/corrections/{held['review_id']}/retract", data={"csrf": token, "reason": "wrong"})
            assert "msg=retracted" in r.headers["location"]
            assert f'id="retract-{held["review_id"]}"' not in c.get("/corrections").text
        assert eventually(lambda: ask(base, "acme")["decision"] == "hold")


def test_a_tenant_with_its_own_index_is_checked_against_it(fake_backend, tmp_path, knowledge_index):
    from guard.knowledge.build import build_index
    from guard.knowledge.embedder import shared_embedder

    kb = tmp_path / "acme-kb"
    kb.mkdir()
    (kb / "cluster.md").write_text("# Cluster\n\nThe guard-test cluster runs on 4096 GPUs named Falcon.\n", encoding="utf-8")
    build_index(kb, tmp_path / "acme-index", shared_embedder(), progress=False)
    fake_backend.set(text=NOVEL)
    store_url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    config = settings(fake_backend, tmp_path, knowledge_index, store_url, indexes={"acme": str(tmp_path / "acme-index")})
    with run_guard(config, warm=True) as base:
        assert ask(base, "acme")["decision"] == "pass"
        assert ask(base, "globex")["decision"] == "hold"  # the shared default does not know it


def test_index_build_folds_active_corrections_so_the_cli_sees_what_the_proxy_sees(fake_backend, tmp_path, knowledge_index):
    """docs/deploy.md: the CLI searches the index files; corrections must be in them."""
    import json

    from guard.checks.cli import check
    from guard.commands.knowledge_cmd import knowledge
    from guard.knowledge.cli import index

    fake_backend.set(text=NOVEL)
    store_url = f"sqlite:///{tmp_path / 'queue.sqlite3'}"
    with run_guard(settings(fake_backend, tmp_path, knowledge_index, store_url), warm=True) as base:
        held = ask(base, "acme")
        approve(base, held["review_id"])
        assert ask(base, "acme")["decision"] == "pass"

    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "faq.md").write_text("# Refunds\n\nRefunds take 5 business days.\n", encoding="utf-8")
    out = tmp_path / "built"
    r = CliRunner().invoke(index, ["build", str(kb), "--out", str(out), "--store", store_url, "--quiet"])
    assert r.exit_code == 0 and "1 reviewed corrections" in r.output, r.output

    def search(tenant):
        res = CliRunner().invoke(index, ["search", QUESTION, "--index", str(out), "--mode", "lexical", "-k", "1", "--tenant", tenant])
        return res.output

    def verdict(tenant):
        res = CliRunner().invoke(check, ["-q", QUESTION, "-a", NOVEL, "--index", str(out), "--tenant", tenant])
        return json.loads(res.output)["guard"]["confidence"]

    assert f"review-{held['review_id']}" in search("acme")
    assert f"review-{held['review_id']}" not in search("globex")
    assert verdict("acme") >= 0.6 > verdict("globex")

    CliRunner().invoke(knowledge, ["corrections", "retract", held["review_id"], "--store", store_url])
    r = CliRunner().invoke(index, ["build", str(kb), "--out", str(out), "--store", store_url, "--quiet"])
    assert r.exit_code == 0, r.output
    assert f"review-{held['review_id']}" not in search("acme")
    assert verdict("acme") < 0.6
