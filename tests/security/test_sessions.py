"""Issue 12 item 7: a reviewer session must end at log-out and after idling, for every copy of
its cookie, and the cookie must be Secure behind a TLS-terminating proxy."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from guard.review import open_store
from review_queue.auth import COOKIE
from tests.review_support import pg_unreachable_reason, run, store_urls
from tests.security.sec_support import csrf_of, login_form, post_login, serve_guard, settings
from tests.support import FakeClock


@contextmanager
def logged_in(base: str) -> Iterator[httpx.Client]:
    with httpx.Client() as client:
        token = login_form(client, base)
        assert post_login(client, base, token).status_code == 303
        yield client


def test_a_copied_cookie_dies_at_log_out(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with logged_in(base) as client:
            stolen = client.cookies[COOKIE]
            token = csrf_of(client.get(f"{base}/review/").text)
            assert client.post(f"{base}/review/logout", data={"csrf": token}, follow_redirects=False).status_code == 303
        r = httpx.get(f"{base}/review/", cookies={COOKIE: stolen}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].endswith("/review/login")


def test_an_idle_session_ends(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path, review={"idle_timeout_s": 1.0})) as (base, _):
        with logged_in(base) as client:
            assert client.get(f"{base}/review/", follow_redirects=False).status_code == 200
            time.sleep(1.3)
            r = client.get(f"{base}/review/", follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"].endswith("/review/login")


def test_a_session_in_use_stays_alive_past_the_idle_timeout(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path, review={"idle_timeout_s": 1.2})) as (base, _):
        with logged_in(base) as client:
            for _ in range(5):  # 2 s in all, never idle for 1.2 s
                time.sleep(0.4)
                assert client.get(f"{base}/review/", follow_redirects=False).status_code == 200


def test_log_in_replaces_the_session_it_came_from(fake_backend, tmp_path):
    """A session id planted before log-in (fixation) or an earlier log-in's id does not survive it."""
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with logged_in(base) as client:
            first = client.cookies[COOKIE]
            token = login_form(client, base)
            assert post_login(client, base, token).status_code == 303
            r = httpx.get(f"{base}/review/", cookies={COOKIE: first}, follow_redirects=False)
            assert r.status_code == 303


def test_the_cookie_is_secure_when_configured(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path, review={"cookie_secure": True})) as (base, _):
        r = httpx.get(f"{base}/review/login")
        assert "secure" in r.headers["set-cookie"].lower()


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(fake_backend, tmp_path):
    s = settings(fake_backend.base_url, tmp_path, server={"forwarded_allow_ips": ["127.0.0.1"]})
    with serve_guard(s) as (base, _):
        r = httpx.get(f"{base}/review/login", headers={"x-forwarded-proto": "https"})
        assert "secure" in r.headers["set-cookie"].lower()
    s = settings(fake_backend.base_url, tmp_path)  # no trusted proxy: the header is not believed
    with serve_guard(s) as (base, _):
        r = httpx.get(f"{base}/review/login", headers={"x-forwarded-proto": "https"})
        assert "secure" not in r.headers["set-cookie"].lower()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    if request.param == "postgresql" and (reason := pg_unreachable_reason()):
        pytest.skip(reason)
    for url in store_urls(request.param, tmp_path):
        s = open_store(url)
        yield s
        s.close()


def test_server_side_sessions_on_both_databases(store):
    from guard.review.sessions import ReviewerSessions

    clock = FakeClock()
    sessions = ReviewerSessions(store, idle_s=60, max_age_s=3600, clock=clock)
    a, b = run(sessions.start("rita")), run(sessions.start("rita"))
    assert run(sessions.user(a)) == "rita" and run(sessions.user("forged")) is None
    run(sessions.end(a))
    assert run(sessions.user(a)) is None and run(sessions.user(b)) == "rita"
    clock.t += 61
    assert run(sessions.user(b)) is None  # idle
    c = run(sessions.start("rita"))
    for _ in range(70):  # in use every 55 s: alive until the absolute age
        clock.t += 55
        if run(sessions.user(c)) is None:
            break
    assert 3600 - 55 <= clock.t - 1061 <= 3600 + 55
    d = run(sessions.start("sam"))
    assert run(sessions.end_all("sam")) == 1 and run(sessions.user(d)) is None
