"""Issue 12, item 6: with a ``*`` model entry, the client's model name never chooses the policy;
only names the operator configured do."""

from __future__ import annotations

import httpx

from guard.settings import Settings
from tests.support import run_guard, write_policies

CHECKED = {"name": "default", "checks": {"patterns": {"deny": ["(?i)secret"]}}}
PASSTHROUGH = {"name": "passthrough", "match": {"models": ["bench-*", "passthrough-*"]}}


def settings(fake_backend, tmp_path, *extra_models):
    write_policies(tmp_path / "p", CHECKED, PASSTHROUGH)
    return Settings.model_validate({
        "models": [
            {"name": "*", "backend": {"kind": "openai", "model": "*", "api_base": fake_backend.base_url, "retries": 0}},
            *extra_models,
        ],
        "policies_dir": str(tmp_path / "p"),
    })


def ask(base, model):
    return httpx.post(f"{base}/chat/completions", json={"model": model, "messages": [{"role": "user", "content": "q"}]}, timeout=30)


def test_a_made_up_model_name_does_not_select_a_weaker_policy(fake_backend, tmp_path):
    fake_backend.set(text="The secret is out.")
    with run_guard(settings(fake_backend, tmp_path)) as base:
        for name in ("passthrough-x", "bench-anything", "passthrough-*", "*"):
            r = ask(base, name)
            assert r.status_code == 200
            assert r.headers["x-guard-policy"] == "default", name
            assert r.json()["guard"]["decision"] == "block", name


def test_a_model_the_operator_named_still_gets_its_policy(fake_backend, tmp_path):
    fake_backend.set(text="The secret is out.")
    named = {"name": "passthrough-fast", "backend": {"kind": "openai", "model": "m", "api_base": fake_backend.base_url, "retries": 0}}
    pinned = {"name": "pinned", "policy": "passthrough", "backend": {"kind": "openai", "model": "m", "api_base": fake_backend.base_url, "retries": 0}}
    with run_guard(settings(fake_backend, tmp_path, named, pinned)) as base:
        assert ask(base, "passthrough-fast").headers["x-guard-policy"] == "passthrough"
        assert ask(base, "pinned").headers["x-guard-policy"] == "passthrough"
        assert ask(base, "passthrough-other").headers["x-guard-policy"] == "default"


def test_select_policy_matches_a_wildcard_entry_only_by_star():
    from guard.policy.schema import Policy
    from guard.policy.select import select_policy

    policies = {"default": Policy(name="default"), "loose": Policy.model_validate({"name": "loose", "match": {"models": ["?", "*-*", "*"]}})}
    assert select_policy(policies, model="*", tenant="t").name == "default"
    assert select_policy(policies, model="a-b", tenant="t").name == "loose"


def test_the_choice_is_logged(fake_backend, tmp_path):
    from structlog.testing import capture_logs

    with run_guard(settings(fake_backend, tmp_path)) as base, capture_logs() as logs:
        ask(base, "passthrough-x")
    chosen = [e for e in logs if e.get("event") == "policy_selected"]
    assert chosen and chosen[0]["model"] == "passthrough-x" and chosen[0]["matched_as"] == "*" and chosen[0]["policy"] == "default"
