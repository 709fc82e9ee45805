"""The relay's HTTP/1.1 client against scripted servers: reuse, retries, framing, failures."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import pytest

from guard.backend.wire import ConnectFailed, Disconnected, Pool, Timeouts
from tests.support import free_port

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0)
    return head + await reader.readexactly(length)


def run(
    handler: Handler, test: Callable[[Pool, dict], Awaitable[None]], *, read: float = 5.0,
    tls: ssl.SSLContext | None = None, host: str = "127.0.0.1",
) -> dict:
    """Serve ``handler`` on a free port (over TLS with ``tls``) and run ``test`` with a pool
    pointed at it as ``host``."""
    state: dict = {"connections": 0, "requests": []}

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state["connections"] += 1
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        port = free_port()
        server = await asyncio.start_server(serve, "127.0.0.1", port, ssl=tls)
        scheme = "https" if tls else "http"
        pool = Pool(f"{scheme}://{host}:{port}/v1", Timeouts(connect=2, read=read, total=10), {"authorization": "Bearer k"})
        try:
            await test(pool, state)
        finally:
            await pool.close()
            server.close()

    asyncio.run(main())
    return state


def keep_alive(response: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await read_request(reader)
            handler.seen.append(request)  # type: ignore[attr-defined]
            writer.write(response)
            await writer.drain()

    handler.seen = []  # type: ignore[attr-defined]
    return handler


def answer_once(response: bytes) -> Handler:
    """A server that reads one request, writes ``response`` as given and closes the connection."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(response)
        await writer.drain()

    return handler


async def post(pool: Pool, body: bytes = b'{"a":1}') -> tuple[int, bytes]:
    resp = await pool.request("POST", "chat/completions", body, {"x-request-id": "r1"})
    async with resp:
        return resp.status, await resp.read()


def test_requests_share_one_keep_alive_connection_and_carry_the_headers():
    handler = keep_alive(OK)

    async def test(pool: Pool, state: dict) -> None:
        for _ in range(3):
            assert await post(pool) == (200, b"{}")

    state = run(handler, test)
    assert state["connections"] == 1
    first = handler.seen[0]  # type: ignore[attr-defined]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\n")
    for line in (b"authorization: Bearer k", b"x-request-id: r1", b"content-length: 7"):
        assert line in first
    assert first.endswith(b'\r\n\r\n{"a":1}')


def test_a_connection_the_server_closed_while_idle_is_replaced_once():
    async def test(pool: Pool, state: dict) -> None:
        assert await post(pool) == (200, b"{}")
        await asyncio.sleep(0)  # the close may or may not have been seen yet: both must work
        assert await post(pool) == (200, b"{}")

    # OK is keep-alive by default, but the server closes right after it
    assert run(answer_once(OK), test)["connections"] == 2


def test_a_request_the_server_dropped_unanswered_on_a_reused_connection_is_sent_again():
    async def drops_the_second(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(OK)
        await writer.drain()
        await read_request(reader)  # then closes without a word, as at a keep-alive timeout

    async def test(pool: Pool, state: dict) -> None:
        assert await post(pool) == (200, b"{}")
        assert await post(pool) == (200, b"{}")

    assert run(drops_the_second, test)["connections"] == 2


def test_a_fresh_connection_dropped_unanswered_is_not_sent_again():
    async def drops(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)

    async def test(pool: Pool, state: dict) -> None:
        with pytest.raises(Disconnected):
            await post(pool)

    assert run(drops, test)["connections"] == 1


def test_a_connection_the_server_closes_while_idle_leaves_the_pool():
    async def test(pool: Pool, state: dict) -> None:
        assert await post(pool) == (200, b"{}")
        for _ in range(100):
            if not pool._idle:
                break
            await asyncio.sleep(0.01)
        assert not pool._idle

    run(answer_once(OK), test)


def test_a_chunked_body_arrives_in_pieces():
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
        for piece in (b"data: 1\n\n", b"data: 2\n\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)

    async def test(pool: Pool, state: dict) -> None:
        resp = await pool.request("POST", "chat/completions", b"{}", {})
        async with resp:
            assert [c async for c in resp.chunks()] == [b"data: 1\n\n", b"data: 2\n\n"]
        assert len(pool._idle) == 1  # read to its end: kept

    run(chunked, test)


def test_a_body_without_length_ends_with_the_connection():
    async def test(pool: Pool, state: dict) -> None:
        assert await post(pool) == (200, b'{"x": 1}')
        assert not pool._idle

    run(answer_once(b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n{\"x\": 1}"), test)


def test_a_body_cut_short_is_an_error():
    async def test(pool: Pool, state: dict) -> None:
        with pytest.raises(Disconnected):
            await post(pool)

    run(answer_once(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"partial\""), test)


def test_no_answer_within_the_read_timeout():
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def test(pool: Pool, state: dict) -> None:
        with pytest.raises(TimeoutError):
            await post(pool)
        assert not pool._idle and not pool._busy

    run(silent, test, read=0.1)


def test_a_response_left_unread_closes_its_connection():
    handler = keep_alive(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")

    async def test(pool: Pool, state: dict) -> None:
        resp = await pool.request("POST", "chat/completions", b"{}", {})
        async with resp:
            pass
        assert not pool._idle

    run(handler, test)


def test_nothing_listening_is_a_connect_failure():
    async def test() -> None:
        pool = Pool(f"http://127.0.0.1:{free_port()}/v1", Timeouts(connect=2, read=2, total=5), {})
        with pytest.raises(ConnectFailed):
            await post(pool)

    asyncio.run(test())


def test_line_breaks_in_headers_are_refused():
    with pytest.raises(ValueError):
        Pool("http://127.0.0.1:1/v1", Timeouts(1, 1, 1), {"x-a": "b\r\nevil: 1"})
    pool = Pool("http://127.0.0.1:1/v1", Timeouts(1, 1, 1), {})
    with pytest.raises(ValueError):
        pool.request_bytes("POST", "x", b"", {"x-request-id": "a\nb"})


def test_a_request_header_replaces_a_fixed_one():
    pool = Pool("https://api.example.com/v1", Timeouts(1, 1, 1), {"Authorization": "Bearer a"})
    data = pool.request_bytes("POST", "chat/completions", b"{}", {"authorization": "Bearer b"})
    assert b"host: api.example.com\r\n" in data
    assert data.count(b"authorization") == 1 and b"Bearer b" in data


def test_a_relay_base_url_must_be_http_or_https():
    from pydantic import ValidationError

    from guard.settings import BackendConfig

    BackendConfig(kind="openai", model="m", api_base="https://api.example.com/v1")
    with pytest.raises(ValidationError, match="not an http"):
        BackendConfig(kind="openai", model="m", api_base="localhost:8000/v1")


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = str(folder / "cert.pem"), str(folder / "key.pem")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    return cert, key


def _tls_exchange(cert: str, key: str) -> tuple[list[tuple[int, bytes]], int]:
    """Two requests over HTTPS to a local TLS server named localhost; the answers and the
    connections opened."""
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    answers: list[tuple[int, bytes]] = []

    async def test(pool: Pool, state: dict) -> None:
        answers.extend([await post(pool), await post(pool)])

    state = run(keep_alive(OK), test, tls=server_ctx, host="localhost")
    return answers, state["connections"]


def test_https_backends_are_verified_and_reused(self_signed, monkeypatch) -> None:
    """Hosted APIs are HTTPS: the certificate is checked against the trusted CAs (here the test
    certificate through SSL_CERT_FILE, as a private CA would be) and the connection is kept."""
    cert, key = self_signed
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    answers, connections = _tls_exchange(cert, key)
    assert answers == [(200, b"{}"), (200, b"{}")] and connections == 1


def test_an_untrusted_certificate_is_refused(self_signed, monkeypatch) -> None:
    cert, key = self_signed
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(ConnectFailed, match="certificate"):
        _tls_exchange(cert, key)
