"""``/metrics``: per-app registries, request outcomes, token timings, check latency, queue gauges."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from guard.api.app import create_app
from guard.review.models import NewItem
from guard.review.store import open_store
from tests.support import serve_app, settings_for, write_policies

CHAT = "/v1/chat/completions"
ASK = [{"role": "user", "content": "What is the capital of France?"}]


def scrape(base: str) -> dict[tuple[str, frozenset], float]:
    r = httpx.get(base + "/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def chat(base: str, **body: Any) -> httpx.Response:
    return httpx.post(base + CHAT, json={"model": "test-model", "messages": ASK, **body}, timeout=15)


def test_requests_are_counted_by_model_policy_decision_and_status(fake_backend):
    with serve_app(create_app(settings_for(fake_backend.base_url))) as base:
        assert chat(base).status_code == 200
        assert chat(base, stream=True).status_code == 200
        assert chat(base, fake={"fault": "status", "status": 500}).status_code == 502
        assert chat(base, model="nope").status_code == 404
        m = scrape(base)
    common = {"model": "test-model", "policy": "default"}
    assert value(m, "guard_requests_total", **common, decision="none", status="200", stream="false") == 1
    assert value(m, "guard_requests_total", **common, decision="none", status="200", stream="true") == 1
    assert value(m, "guard_requests_total", **common, decision="error", status="502", stream="false") == 1
    # An unknown model is not a label (clients could invent endless names): it counts under "".
    assert value(m, "guard_requests_total", model="", policy="", decision="error", status="404", stream="false") == 1
    assert value(m, "guard_request_duration_seconds_count", model="test-model", stream="false") == 2


def test_each_app_has_its_own_registry(fake_backend):
    with serve_app(create_app(settings_for(fake_backend.base_url))) as a, serve_app(create_app(settings_for(fake_backend.base_url))) as b:
        chat(a)
        chat(a)
        chat(b)
        ma, mb = scrape(a), scrape(b)
    labels = {"model": "test-model", "policy": "default", "decision": "none", "status": "200", "stream": "false"}
    assert value(ma, "guard_requests_total", **labels) == 2
    assert value(mb, "guard_requests_total", **labels) == 1


def test_stream_token_timings(fake_backend):
    # First token after 300 ms, then 9 more 40 ms apart: TTFT ~0.3 s, TPOT ~0.04 s.
    with serve_app(create_app(settings_for(fake_backend.base_url))) as base:
        r = chat(base, stream=True, stream_options={"include_usage": True}, fake={"ttft_ms": 300, "tpot_ms": 40, "tokens": 10})
        assert r.status_code == 200
        m = scrape(base)
    assert value(m, "guard_time_to_first_token_seconds_count", model="test-model") == 1
    ttft = value(m, "guard_time_to_first_token_seconds_sum", model="test-model")
    assert 0.29 < ttft < 0.6
    tpot = value(m, "guard_time_per_output_token_seconds_sum", model="test-model")
    assert 0.035 < tpot < 0.08
    tps = value(m, "guard_output_tokens_per_second_sum", model="test-model")
    assert 10 / 0.9 < tps < 10 / 0.65  # 10 tokens over ~0.66 s of request time
    assert value(m, "guard_time_to_first_token_seconds_bucket", model="test-model", le="0.25") == 0
    assert value(m, "guard_time_to_first_token_seconds_bucket", model="test-model", le="0.5") == 1


def test_non_stream_tokens_per_second_from_usage(fake_backend):
    with serve_app(create_app(settings_for(fake_backend.base_url))) as base:
        chat(base, fake={"ttft_ms": 200, "tokens": 20})
        m = scrape(base)
    tps = value(m, "guard_output_tokens_per_second_sum", model="test-model")
    assert 20 / 0.5 < tps < 20 / 0.2
    assert value(m, "guard_time_to_first_token_seconds_count", model="test-model") == 0  # not knowable


def test_check_latency_and_decisions_are_recorded(fake_backend, tmp_path):
    policy = {"name": "default", "checks": {"patterns": {"deny": ["(?i)forbidden"]}}}
    settings = settings_for(fake_backend.base_url, write_policies(tmp_path / "p", policy))
    with serve_app(create_app(settings)) as base:
        assert chat(base, fake={"text": "Paris is the capital."}).status_code == 200
        assert chat(base, fake={"text": "This is forbidden."}).status_code == 200
        m = scrape(base)
    assert value(m, "guard_check_duration_seconds_count", policy="default") == 2
    common = {"model": "test-model", "policy": "default", "status": "200", "stream": "false"}
    assert value(m, "guard_requests_total", **common, decision="pass") == 1
    assert value(m, "guard_requests_total", **common, decision="block") == 1


@pytest.mark.parametrize("items", [0, 3])
def test_review_queue_depth_and_oldest_age(fake_backend, tmp_path, items):
    url = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    store = open_store(url, clock=lambda: time.time() - 120)  # items filed two minutes ago
    for i in range(items):
        asyncio.run(store.create_item(NewItem(policy="default", tenant="t", model="m", answer=f"a{i}", deadline_s=3600)))
    store.close()
    with serve_app(create_app(settings_for(fake_backend.base_url, review={"store_url": url}))) as base:
        m = scrape(base)
    assert value(m, "guard_review_queue_depth") == items
    oldest = value(m, "guard_review_oldest_pending_age_seconds")
    assert (119 < oldest < 150) if items else oldest == 0
