"""Issue 12 item 9: limits that were missing on bodies, connections, feedback and paging.

The attacks: 100 MB and endless feedback posts; a request line and headers sent a byte at a
time; a connection that never speaks; a body that stops half-way; 100 KB of headers; a queue
page number far beyond the end.
"""

from __future__ import annotations

import socket
import time

import httpx

from tests.security.sec_support import KEY_A, login_form, post_login, serve_guard, settings


def feedback(base: str, key: str = KEY_A, **body) -> httpx.Response:
    payload = {"response_id": "chatcmpl-1", "reason": "wrong", "answer": "It is 42.", **body}
    return httpx.post(f"{base}/v1/guard/feedback", json=payload, headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_feedback_is_rate_limited_per_key(fake_backend, tmp_path):
    s = settings(fake_backend.base_url, tmp_path, keys=True, limits={"feedback_per_minute": 3})
    with serve_guard(s) as (base, _):
        assert [feedback(base).status_code for _ in range(3)] == [202, 202, 202]
        r = feedback(base)
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert feedback(base, key="key-bravo").status_code == 202  # another key has its own budget


def test_a_huge_feedback_body_is_refused_unread(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path, keys=True)) as (base, _):
        r = feedback(base, answer="x" * (5 * 1024 * 1024))
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks():  # no content-length: counted as it arrives
            yield b'{"response_id": "r", "reason": "x", "answer": "'
            for _ in range(80):
                yield b"y" * 65536
            yield b'"}'

        r = httpx.post(f"{base}/v1/guard/feedback", content=chunks(), timeout=10,
                       headers={"authorization": f"Bearer {KEY_A}", "content-type": "application/json"})
        assert r.status_code == 413


def test_a_page_far_beyond_the_end_is_not_a_500(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with httpx.Client() as client:
            assert post_login(client, base, login_form(client, base)).status_code == 303
            for number in ("99999999999999999999", "184467440737095516", "-5", "x"):
                r = client.get(f"{base}/review/", params={"page": number})
                assert r.status_code == 200, number
                r = client.get(f"{base}/review/audit", params={"page": number})
                assert r.status_code == 200, number


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    sock.settimeout(5)
    return sock


def _closed_within(sock: socket.socket, seconds: float, dribble: bytes = b"") -> tuple[bool, bytes]:
    """Send ``dribble`` a byte every 0.2 s; whether the server closed within ``seconds``, and what it said."""
    deadline = time.monotonic() + seconds
    got = b""
    sock.settimeout(0.2)
    i = 0
    while time.monotonic() < deadline:
        try:
            if i < len(dribble):
                sock.sendall(dribble[i:i + 1])
                i += 1
            data = sock.recv(65536)
            if not data:
                return True, got
            got += data
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True, got
    return False, got


def test_headers_sent_a_byte_at_a_time_are_cut_off(fake_backend, tmp_path):
    s = settings(fake_backend.base_url, tmp_path, limits={"header_timeout_s": 1.0})
    with serve_guard(s) as (base, _):
        with _connect(base) as sock:
            slow = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n" + b"X-Pad: " + b"a" * 200
            closed, said = _closed_within(sock, 4, slow)
            assert closed and said.startswith(b"HTTP/1.1 408")
        with _connect(base) as sock:  # a connection that never says anything
            closed, _ = _closed_within(sock, 4)
            assert closed
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200


def test_a_body_that_stops_half_way_gets_408(fake_backend, tmp_path):
    s = settings(fake_backend.base_url, tmp_path, limits={"body_timeout_s": 1.0})
    with serve_guard(s) as (base, _):
        for path in ("/v1/chat/completions", "/v1/guard/feedback"):
            with _connect(base) as sock:
                sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
                             "content-length: 1000\r\n\r\n{\"model\": ".encode())
                closed, said = _closed_within(sock, 4)
                assert closed and said.startswith(b"HTTP/1.1 408"), (path, said[:80])


def test_oversized_headers_get_431(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path)) as (base, _):
        with _connect(base) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(100)) + b"\r\n")
            closed, said = _closed_within(sock, 4)
            assert closed and said.startswith(b"HTTP/1.1 431")
