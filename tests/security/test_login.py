"""Issue 12 item 4: failed reviewer log-ins must not stall the proxy or reveal user names.

The attacks: wrong passwords posted to /review/login while chat requests run; unknown user
names timed against real ones; a guesser that never stops; a huge form posted to the log-in.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from review_queue import auth
from tests.security.sec_support import (
    PASSWORD, USER, chat, fast_hash, login_form, post_login, review_web, serve_guard, settings,
)
from tests.support import FakeClock


def bcrypt_cost(hashed: str) -> int:
    return int(hashed.split("$")[2])


def test_a_password_check_in_progress_does_not_block_chat(fake_backend, tmp_path, monkeypatch):
    """bcrypt once ran on the event loop: while one wrong password was hashed, every tenant waited."""
    hashing, release = threading.Event(), threading.Event()
    real = auth.check_password

    def slow_check(password: str, hashed: str) -> bool:
        hashing.set()
        release.wait(15)  # stands for a costly hash; on the loop it would freeze the whole proxy
        return real(password, hashed)

    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        monkeypatch.setattr(auth, "check_password", slow_check)  # after the start-up sample-password check
        with httpx.Client() as client:
            token = login_form(client, base)
            attempt = threading.Thread(target=post_login, args=(client, base, token, USER, "wrong"), daemon=True)
            attempt.start()
            try:
                assert hashing.wait(5), "the log-in never reached the password check"
                r = chat(base, timeout=3)  # a loop blocked by the hash would not answer at all
                assert r.status_code == 200
            finally:
                release.set()
                attempt.join(10)


def test_an_unknown_user_costs_a_bcrypt_check_as_dear_as_a_real_one(fake_backend, tmp_path, monkeypatch):
    """The dummy hash was cost 4 against real cost-10+ hashes: 6.5 ms against 490 ms told which
    names exist. Now an unknown name is checked against a hash of the reviewers' own cost."""
    seen: list[str] = []
    real = auth.check_password

    def spy(password: str, hashed: str) -> bool:
        seen.append(hashed)
        return real(password, hashed)

    monkeypatch.setattr(auth, "check_password", spy)
    reviewers = [{"username": USER, "password_hash": fast_hash(PASSWORD, rounds=10)}]
    with serve_guard(settings(fake_backend.base_url, tmp_path, reviewers=reviewers)) as (base, _):
        with httpx.Client() as client:
            token = login_form(client, base)
            seen.clear()
            assert post_login(client, base, token, "nobody-by-this-name", "guess").status_code == 401
            assert post_login(client, base, token, USER, "guess").status_code == 401
    assert len(seen) == 2, "each attempt is exactly one bcrypt check"
    assert [bcrypt_cost(h) for h in seen] == [10, 10]


def test_a_guesser_is_slowed_down_and_locked_tries_cost_no_hashing(fake_backend, tmp_path, monkeypatch):
    calls = []
    real = auth.check_password
    monkeypatch.setattr(auth, "check_password", lambda p, h: calls.append(1) or real(p, h))
    from review_queue.throttle import LoginThrottle

    s = settings(fake_backend.base_url, tmp_path, review={"login_attempts_per_user": 3})
    with serve_guard(s) as (base, app):
        clock = FakeClock()
        web = review_web(app)
        web.throttle = LoginThrottle(free_per_user=3, free_per_address=20, clock=clock)
        with httpx.Client() as client:
            token = login_form(client, base)
            calls.clear()  # the start-up check for the sample password
            statuses = [post_login(client, base, token, USER, f"guess-{i}").status_code for i in range(3)]
            assert statuses == [401, 401, 401]
            locked = post_login(client, base, token, USER, PASSWORD)  # even the right password waits
            assert locked.status_code == 429 and int(locked.headers["retry-after"]) >= 1
            assert len(calls) == 3, "a locked-out attempt must not hash"
            clock.t += 2  # the first lock is 1 s
            assert post_login(client, base, token, USER, PASSWORD).status_code == 303


def test_the_per_user_limit_holds_across_addresses_and_backs_off():
    from review_queue.throttle import LoginThrottle

    clock = FakeClock()
    t = LoginThrottle(free_per_user=2, free_per_address=100, clock=clock)
    for address in ("10.0.0.1", "10.0.0.2"):
        t.failed(address, "Rita")
    assert t.retry_after("10.0.0.3", "rita") == pytest.approx(1.0)  # names fold case
    clock.t += 1.5
    t.failed("10.0.0.4", "rita")
    assert t.retry_after("10.0.0.9", "rita") == pytest.approx(2.0)  # doubled
    assert t.retry_after("10.0.0.9", "someone-else") == 0
    t.succeeded("10.0.0.9", "rita")
    assert t.retry_after("10.0.0.1", "rita") == 0


def test_the_per_address_limit_covers_many_user_names():
    from review_queue.throttle import LoginThrottle

    clock = FakeClock()
    t = LoginThrottle(free_per_user=100, free_per_address=3, clock=clock)
    for name in ("a", "b", "c"):
        t.failed("10.9.9.9", name)
    assert t.retry_after("10.9.9.9", "d") > 0
    assert t.retry_after("10.1.1.1", "d") == 0


def test_the_throttle_memory_is_bounded():
    from review_queue.throttle import LoginThrottle

    clock = FakeClock()
    t = LoginThrottle(max_entries=100, clock=clock)
    for i in range(1000):
        t.failed(f"10.0.{i // 250}.{i % 250}", f"user-{i}")
    assert len(t._state) <= 102


def test_a_full_hashing_queue_answers_429_at_once(fake_backend, tmp_path, monkeypatch):
    release = threading.Event()
    with serve_guard(settings(fake_backend.base_url, tmp_path, review={"login_attempts_per_address": 1000})) as (base, app):
        monkeypatch.setattr(auth, "check_password", lambda p, h: release.wait(15) and False)
        web = review_web(app)
        web.accounts.checker = auth.PasswordChecker(workers=1, max_waiting=1)
        with httpx.Client() as client:
            token = login_form(client, base)
            cookies = dict(client.cookies)
        results: list[int] = []

        def attempt(i: int) -> None:
            with httpx.Client(cookies=cookies) as c:
                results.append(post_login(c, base, token, f"user{i}", "x").status_code)

        threads = [threading.Thread(target=attempt, args=(i,), daemon=True) for i in range(2)]
        for th in threads:
            th.start()
        try:
            for _ in range(100):  # both slots taken
                if web.accounts.checker._pending == 2:
                    break
                threading.Event().wait(0.05)
            with httpx.Client(cookies=cookies) as c:
                r = post_login(c, base, token, "user9", "x")
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
        finally:
            release.set()
            for th in threads:
                th.join(10)
        assert sorted(results) == [401, 401]


def test_a_huge_log_in_form_is_refused_before_it_is_parsed(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with httpx.Client() as client:
            token = login_form(client, base)
            big = {"username": USER, "password": "x", "csrf": token, "padding": "p" * (3 * 1024 * 1024)}
            r = client.post(f"{base}/review/login", data=big, follow_redirects=False)
            assert r.status_code == 413
            # without a session cookie no token can match: refused before the body is read
            r = httpx.post(f"{base}/review/login", data={"username": USER, "password": PASSWORD, "csrf": token})
            assert r.status_code == 403
