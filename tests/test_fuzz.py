"""Bad input finds no 500s: schemathesis against guard's own OpenAPI document, hypothesis against
policy parsing. Bounded runs (about a minute in all) so they stay in the normal suite.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from guard.api.app import create_app
from guard.checks.runner import build_checks
from guard.errors import ConfigError
from guard.policy.loader import load_policy
from guard.policy.schema import Policy
from guard.settings import Settings
from tests.support import serve_app, write_policies

# ---------------------------------------------------------------- the HTTP API

CHECKED = {
    "name": "default",
    "checks": {"patterns": {"deny": ["(?i)password"]}, "pii": {"enabled": True}, "max_chars": 2000},
}


@pytest.fixture(scope="module")
def guard_base(_fake_backend_session, tmp_path_factory):
    """Any model name goes through to the fake backend, and every answer is checked."""
    policies = write_policies(tmp_path_factory.mktemp("policies"), CHECKED)
    settings = Settings.model_validate({
        "models": [{"name": "*", "backend": {"kind": "openai", "model": "*", "api_base": _fake_backend_session.base_url, "retries": 0}}],
        "policies_dir": str(policies),
        "limits": {"max_body_bytes": 64 * 1024},
    })
    _fake_backend_session.reset(tokens=8)
    with serve_app(create_app(settings)) as base:
        yield base


# The document is the app's own; it does not depend on the backend, so it is read at collection
# (schemathesis' lazy fixture loader does not work with pytest 9).
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi())


@schema.parametrize()
@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx_to_generated_requests(case, guard_base):
    response = case.call_and_validate(base_url=guard_base, checks=[not_a_server_error], timeout=10)
    assert response.status_code < 500
    import collections, os
    with open("/tmp/h5/statuses.txt", "a") as f:
        f.write(f"{case.operation.path} {response.status_code}\n")


# ---------------------------------------------------------------- policy files

VALID = {
    "name": "full",
    "match": {"models": ["gpt-*"], "tenants": ["acme"]},
    "input": {
        "mode": "wrap",
        "template": {"role": "You are careful.", "question": "{question}", "styles": {"short": "Be brief."}, "default_style": "short"},
        "deny_patterns": ["(?i)ignore previous"],
        "max_input_chars": 1000,
    },
    "sampling": {"temperature": {"min": 0, "max": 1, "default": 0.2}, "stop": {"max": 4}},
    "checks": {
        "grounding": {"top_k": 4},
        "patterns": {"deny": ["(?i)secret"], "deny_keywords": ["机密"], "fuzzy_threshold": 90},
        "pii": {"enabled": True, "kinds": ["email", "cn_id"]},
        "max_chars": 4000,
    },
    "decision": {"bands": [{"min": 0.8, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 500},
    "streaming": {"mode": "sentence"},
    "hold": {"wait_s": 1, "deadline_s": 60},
}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20), st.sampled_from(["(", "[a-", "*", "pass", "block", "gpt-*", "{question", "{", "0.5", "-1"]),
)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    if isinstance(node, dict):
        return [prefix] + [p for k, v in node.items() for p in _paths(v, prefix + (k,))]
    if isinstance(node, list):
        return [prefix] + [p for i, v in enumerate(node) for p in _paths(v, prefix + (i,))]
    return [prefix]


def _replace(node: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, new)}
    copy = list(node)
    copy[head] = _replace(node[head], rest, new)
    return copy


@st.composite
def mutated_policies(draw) -> Any:
    """The full valid policy with one node replaced by an arbitrary value."""
    path = draw(st.sampled_from(_paths(VALID)))
    return _replace(VALID, path, draw(values))


def _load(path: Path) -> Policy | None:
    """A policy, or None when it was refused with a ConfigError (anything else fails the test)."""
    try:
        return load_policy(path)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
        return None


fuzz = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz
@given(doc=mutated_policies())
def test_a_mutated_policy_loads_or_is_refused_clearly_and_its_checks_build(tmp_path, doc):
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    policy = _load(path)
    if policy is not None:
        build_checks(policy, None, None)  # a policy that loads must not fail later, per request


@fuzz
@given(text=st.text(max_size=300))
def test_arbitrary_text_loads_or_is_refused_clearly(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    _load(path)


@fuzz
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_are_refused_clearly(tmp_path, raw):
    path = tmp_path / "p.yaml"
    path.write_bytes(raw)
    _load(path)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x [*x]\n",  # a recursive alias
        "name: x\ninput: &i {max_messages: 2}\nsampling: *i\n",
        "? [1, 2]\n: 3\n",  # a key that is a list
        "name: x\ncheck:\n  patterns: {}\n",  # a typo in a key
        "\ufeffname: bom\n",
        "name: x\nchecks:\n  patterns:\n    deny: ['(unclosed']\n",
    ],
)
def test_tricky_yaml_is_refused_or_loaded(tmp_path, text):
    path = tmp_path / "p.yaml"
    path.write_text(text, encoding="utf-8")
    policy = _load(path)
    if policy is not None:
        build_checks(policy, None, None)
