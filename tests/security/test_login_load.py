"""Issue 12, "How it is checked": 4 and 16 clients post wrong passwords to the reviewer log-in
while chat requests run on loopback; the chat p50 stays within 2x of the quiet figure.

Before the change bcrypt ran on the event loop: 4 guessers raised the chat median from 6 ms to
505 ms, 16 to 7.3 s. The reviewer's hash here has bcrypt cost 10, like the sample guard.yaml.
The guessers run in another process (their own work does not share this interpreter with the
server) and each waits for its answer, as the report's clients did. Chat requests start on a
fixed schedule (20 a second) through the whole attack; the quiet figure is the larger of the
medians just before and just after it. The test machine is shared, so a round whose figures are
swamped by other load is measured again (at most 3 rounds); a proxy stalled by hashing fails
every round by far.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from review_queue.throttle import LoginThrottle
from tests.security.sec_support import PASSWORD, USER, attack_logins, fast_hash, review_web, serve_guard, settings

ATTACK_S = 7.0


def chat_p50(client: httpx.Client, base: str, seconds: float, every_s: float = 0.05) -> float:
    """Chat requests started on a fixed schedule (one every ``every_s``, open loop, as tenants'
    traffic arrives whatever guard is doing); the median time to their answers."""
    def one() -> float:
        started = time.perf_counter()
        r = client.post(f"{base}/v1/chat/completions",
                        json={"model": "test-model", "messages": [{"role": "user", "content": "Hello?"}]})
        assert r.status_code == 200
        return time.perf_counter() - started

    futures = []
    with ThreadPoolExecutor(16) as pool:
        start = time.monotonic()
        for i in range(int(seconds / every_s)):
            delay = start + i * every_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(one))
        return statistics.median(f.result() for f in futures)


def one_round(client: httpx.Client, base: str, guessers: int) -> tuple[float, float, dict]:
    before = chat_p50(client, base, 2.0)
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    attack = ctx.Process(target=attack_logins, args=(base, guessers, ATTACK_S, results), daemon=True)
    attack.start()
    try:
        assert results.get(timeout=60) == "posting"  # the guessers' process is up and posting
        loaded = chat_p50(client, base, ATTACK_S - 1.0)
        counts = results.get(timeout=30)
    finally:
        attack.join(10)
        if attack.is_alive():
            attack.kill()
    after = chat_p50(client, base, 2.0)
    return max(before, after), loaded, counts


@pytest.mark.slow
@pytest.mark.parametrize("guessers", [4, 16])
def test_chat_latency_holds_while_log_ins_are_guessed(fake_backend, tmp_path, guessers):
    reviewers = [{"username": USER, "password_hash": fast_hash(PASSWORD, rounds=10)}]
    with serve_guard(settings(fake_backend.base_url, tmp_path, reviewers=reviewers)) as (base, app):
        with httpx.Client(timeout=30) as client:
            chat_p50(client, base, 0.5)  # warm
            for attempt in range(3):
                review_web(app).throttle = LoginThrottle()  # each round meets a fresh throttle
                quiet, loaded, counts = one_round(client, base, guessers)
                print(f"guessers={guessers} round={attempt} quiet_p50_ms={quiet * 1000:.1f} "
                      f"loaded_p50_ms={loaded * 1000:.1f} ratio={loaded / quiet:.2f} statuses={counts}")
                assert sum(counts.values()) >= guessers  # the attack really ran
                if loaded <= 2 * quiet:
                    break
    assert counts.get(401, 0) > 0  # passwords were checked
    assert loaded <= 2 * quiet, f"chat p50 {loaded * 1000:.1f} ms against {quiet * 1000:.1f} ms quiet"
