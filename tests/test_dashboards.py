"""The Grafana dashboard and the Prometheus alerts query only metrics that /metrics serves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from guard.api.app import create_app
from tests.support import serve_app, settings_for, write_policies

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "deploy" / "grafana" / "guard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"
_METRIC = re.compile(r"\bguard_[a-z_]+")


def dashboard_exprs() -> list[str]:
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in board["templating"]["list"] if v.get("type") == "query"]
    return exprs


def alert_exprs() -> list[str]:
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    return [r["expr"] for g in rules["groups"] for r in g["rules"]]


def served_names(fake_backend, tmp_path) -> set[str]:
    url = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    policies = write_policies(tmp_path / "policies", {"name": "default", "checks": {"max_chars": 10_000}})
    with serve_app(create_app(settings_for(fake_backend.base_url, policies, review={"store_url": url}))) as base:
        ask = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(base + "/v1/chat/completions", json=ask, timeout=15).status_code == 200
        assert httpx.post(base + "/v1/chat/completions", json={**ask, "stream": True}, timeout=15).status_code == 200
        text = httpx.get(base + "/metrics").text
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_every_queried_metric_is_served(fake_backend, tmp_path):
    served = served_names(fake_backend, tmp_path)
    queried = {m for e in dashboard_exprs() + alert_exprs() for m in _METRIC.findall(e)}
    assert queried, "the dashboard and the alerts query guard's metrics"
    missing = sorted(queried - served)
    assert not missing, f"queried but not served by /metrics: {missing}"


def test_dashboard_covers_what_operators_watch():
    exprs = " ".join(dashboard_exprs())
    for metric in ("guard_requests_total", "guard_request_duration_seconds_bucket", "guard_time_to_first_token_seconds_bucket",
                   "guard_check_duration_seconds_bucket", "guard_review_queue_depth", "guard_review_oldest_pending_age_seconds",
                   "guard_backend_circuit_state"):
        assert metric in exprs, metric
    names = {r["alert"] for g in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for r in g["rules"]}
    assert {"GuardReviewQueuePastDeadline", "GuardServerErrorRate", "GuardBackendCircuitOpen"} <= names
