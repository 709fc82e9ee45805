"""Browser clients: the CORS preflight and headers, on the fast completion routes too."""

from __future__ import annotations

import httpx
import pytest

from tests.support import run_guard, settings_for

ORIGIN = "http://chat.example.test"
PREFLIGHT = {"origin": ORIGIN, "access-control-request-method": "POST", "access-control-request-headers": "authorization,content-type,x-stainless-os"}
BODY = {"model": "test-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def cors_guard(fake_backend):
    settings = settings_for(fake_backend.base_url, server={"cors": {"allow_origins": [ORIGIN], "max_age": 123}})
    with run_guard(settings) as base:
        yield base


@pytest.mark.parametrize("path", ["chat/completions", "completions", "models"])
def test_preflight_is_answered(cors_guard, path) -> None:
    r = httpx.options(f"{cors_guard}/{path}", headers=PREFLIGHT, timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    assert "x-stainless-os" in r.headers["access-control-allow-headers"].lower()
    assert r.headers["access-control-max-age"] == "123"


def test_answers_carry_the_headers_stream_and_not(cors_guard) -> None:
    r = httpx.post(f"{cors_guard}/chat/completions", json=BODY, headers={"origin": ORIGIN}, timeout=10)
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in r.headers["access-control-expose-headers"]
    with httpx.stream("POST", f"{cors_guard}/chat/completions", json={**BODY, "stream": True}, headers={"origin": ORIGIN}, timeout=10) as s:
        assert s.headers["access-control-allow-origin"] == ORIGIN
        assert s.read().endswith(b"data: [DONE]\n\n")
    err = httpx.post(f"{cors_guard}/chat/completions", json={"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, headers={"origin": ORIGIN}, timeout=10)
    assert err.status_code == 404 and err.headers["access-control-allow-origin"] == ORIGIN


def test_other_origins_get_no_grant(cors_guard) -> None:
    r = httpx.options(f"{cors_guard}/chat/completions", headers={**PREFLIGHT, "origin": "http://evil.test"}, timeout=10)
    assert r.status_code == 400 and "access-control-allow-origin" not in r.headers


def test_off_by_default(fake_backend) -> None:
    with run_guard(settings_for(fake_backend.base_url)) as base:
        r = httpx.options(f"{base}/chat/completions", headers=PREFLIGHT, timeout=10)
        assert "access-control-allow-origin" not in r.headers
        r = httpx.post(f"{base}/chat/completions", json=BODY, headers={"origin": ORIGIN}, timeout=10)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
