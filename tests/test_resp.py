"""guard.resp, the pipelined Redis client of the shared limits: the wire format on its own, then
against a real redis-server of the module's own (scripts get flushed and clients killed here)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import uuid

import pytest

from guard.redis_url import parse_url
from guard.resp import INCOMPLETE, ConnectionLost, RespClient, RespError, Script, pack, parse
from tests.redis_support import RedisServer, needs_redis
from tests.support import free_port

PASSWORD = "p@ss:w/rd"  # needs quoting in a URL


# ---------------------------------------------------------------------------------- wire format


def test_pack_encodes_every_argument_as_a_bulk_string():
    assert pack(("SET", b"k\r\n", 12, 1.5)) == b"*4\r\n$3\r\nSET\r\n$3\r\nk\r\n\r\n$2\r\n12\r\n$3\r\n1.5\r\n"
    with pytest.raises(TypeError):
        pack(("SET", True))  # a bool is not a Redis value: 1 or "True" would both surprise someone


def test_parse_reads_every_reply_type_and_waits_for_the_rest_of_one():
    wire = b"*6\r\n:-3\r\n+OK\r\n$5\r\nab\r\nc\r\n$-1\r\n*1\r\n-ERR nested\r\n*0\r\n:7\r\n"
    for cut in range(len(wire) - 4):  # every prefix of the array is incomplete, never wrong
        assert parse(wire[:cut]) == (INCOMPLETE, 0)
    reply, after = parse(wire)
    assert reply[:4] == [-3, "OK", b"ab\r\nc", None] and reply[5] == []
    assert isinstance(reply[4][0], RespError) and str(reply[4][0]) == "ERR nested"
    assert parse(wire, after) == (7, len(wire))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6380/3", dict(host="127.0.0.1", port=6380, db=3, password=None, tls=False)),
        ("redis://:p%40ss%3Aw%2Frd@cache.internal", dict(host="cache.internal", port=6379, db=0, password=PASSWORD)),
        ("redis://guard:secret@h:1/2", dict(username="guard", password="secret", db=2)),
        ("rediss://h:6390", dict(host="h", port=6390, tls=True)),
        ("unix:///run/redis.sock?db=4&password=x", dict(path="/run/redis.sock", db=4, password="x")),
    ],
)
def test_parse_url(url, expected):
    address = parse_url(url)
    assert {name: getattr(address, name) for name in expected} == expected


@pytest.mark.parametrize("url", ["http://h:6379", "redis://h/?ssl_cert_reqs=none", "redis://h/zero", "unix://", "redis://h:port"])
def test_a_url_it_cannot_honour_is_refused(url):
    with pytest.raises(ValueError):
        parse_url(url)


def test_settings_refuse_the_url_at_load_time():
    from pydantic import ValidationError

    from guard.settings import LimitsConfig

    with pytest.raises(ValidationError, match="unsupported option"):
        LimitsConfig(store_url="rediss://cache:6380/0?ssl_cert_reqs=none")


def test_passwords_stay_out_of_errors_and_logs():
    from pydantic import ValidationError

    from guard.redis_url import redacted
    from guard.settings import LimitsConfig, Settings

    with pytest.raises(ValidationError) as caught:
        LimitsConfig(store_url="http://guard:s3cret@cache:6379/0")
    with pytest.raises(ValidationError) as nested:
        Settings.model_validate({"limits": {"store_url": "redis://:s3cret@cache:6379/0?tls=1"}})
    assert "s3cret" not in str(nested.value)
    assert "s3cret" not in str(caught.value) and "guard:***@cache" in str(caught.value)
    assert redacted("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redacted("unix:///run/redis.sock?db=1&password=s3cret") == "unix:///run/redis.sock?db=1&password=***"
    assert redacted("redis://cache:6379/0") == "redis://cache:6379/0"


# ---------------------------------------------------------------------------------- a real Redis


@pytest.fixture(scope="module")
def redis_url():
    server = RedisServer()
    server.start()
    yield server.url
    server.stop()


@contextlib.asynccontextmanager
async def client(url: str, **options):
    c = RespClient(url, **options)
    try:
        yield c
    finally:
        await c.close()


@needs_redis
async def test_replies_reach_their_own_callers_under_concurrency(redis_url):
    key = f"t:{uuid.uuid4().hex}"
    big = b"x" * 300_000  # its reply spans many reads
    async with client(redis_url) as c:
        await c.call("SET", key + ":big", big)

        async def one(i: int) -> object:
            if i % 3 == 0:
                assert c.send("INCR", key + ":sent")  # its reply must not be taken by a caller
            if i % 50 == 0:
                return await c.call("GET", key + ":big")
            return await c.call("ECHO", f"value {i}")

        replies = await asyncio.gather(*(one(i) for i in range(600)))
        assert replies == [big if i % 50 == 0 else f"value {i}".encode() for i in range(600)]
        assert await c.call("GET", key + ":sent") == b"200"


@needs_redis
async def test_an_error_reply_raises_for_its_caller_only(redis_url):
    key = f"t:{uuid.uuid4().hex}"
    async with client(redis_url) as c:
        await c.call("SET", key, "text")
        replies = await asyncio.gather(c.call("PING"), c.call("INCR", key), c.call("NOSUCHCOMMAND"), c.call("ECHO", "after"), return_exceptions=True)
        assert replies[0] == "PONG" and replies[3] == b"after"
        assert isinstance(replies[1], RespError) and "not an integer" in str(replies[1])
        assert isinstance(replies[2], RespError) and "unknown command" in str(replies[2])


@needs_redis
async def test_evalsha_loads_the_script_again_after_script_flush(redis_url):
    script = Script("return {tonumber(ARGV[1]) + 1, KEYS[1]}")
    async with client(redis_url) as c:
        assert await c.evalsha(script, ("k",), (41,)) == [42, b"k"]
        await c.call("SCRIPT", "FLUSH")
        assert await c.call("SCRIPT", "EXISTS", script.sha) == [0]
        assert await asyncio.gather(*(c.evalsha(script, ("k",), (i,)) for i in range(3))) == [[1, b"k"], [2, b"k"], [3, b"k"]]
        assert await c.call("SCRIPT", "EXISTS", script.sha) == [1]
        with pytest.raises(RespError, match="Unknown Redis command|unknown command"):
            await c.evalsha(Script("return redis.call('NOSUCHCOMMAND')"), (), ())


@needs_redis
async def test_a_killed_connection_fails_what_is_in_flight_and_the_next_call_reconnects(redis_url):
    async with client(redis_url, timeout_s=10) as c, client(redis_url) as admin:
        first = await c.call("CLIENT", "ID")
        blocked = asyncio.ensure_future(c.call("BLPOP", f"t:{uuid.uuid4().hex}", 5))  # in flight until killed
        while b"cmd=blpop" not in await admin.call("CLIENT", "LIST", "ID", first):
            await asyncio.sleep(0.01)
        assert await admin.call("CLIENT", "KILL", "ID", first) == 1
        with pytest.raises(ConnectionLost):
            await blocked
        assert not c.send("PING")  # no open connection: nothing is sent, the caller is told
        second = await c.call("CLIENT", "ID")
        assert second != first


async def test_a_call_without_reply_times_out_and_drops_the_connection():
    connections: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # reads nothing, answers nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with client(f"redis://127.0.0.1:{port}/0", timeout_s=0.2) as c:
            results = await asyncio.gather(c.call("PING"), c.call("PING"), return_exceptions=True)
            assert [type(r) for r in results] == [TimeoutError, ConnectionLost]  # the second fails with the first
            with pytest.raises(TimeoutError):
                await c.call("PING")
            assert len(connections) == 2  # the half-open connection was not reused
    finally:
        for writer in connections:
            writer.close()
        server.close()
        await server.wait_closed()


@needs_redis
async def test_password_and_database_come_from_the_url():
    server = RedisServer("--requirepass", PASSWORD)
    server.start()
    quoted = "p%40ss%3Aw%2Frd"
    try:
        async with client(f"redis://:{quoted}@127.0.0.1:{server.port}/3") as c:
            assert b" db=3 " in await c.call("CLIENT", "INFO")
        async with client(f"redis://default:{quoted}@127.0.0.1:{server.port}") as c:  # an ACL user name too
            assert b" db=0 " in await c.call("CLIENT", "INFO")
        async with client(f"redis://:wrong@127.0.0.1:{server.port}/0") as c:
            with pytest.raises(RespError, match="WRONGPASS|invalid password"):
                await c.call("PING")
        async with client(f"redis://127.0.0.1:{server.port}/0") as c:
            with pytest.raises(RespError, match="NOAUTH"):
                await c.call("PING")
    finally:
        server.stop()


@needs_redis
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
async def test_rediss_speaks_tls_and_verifies_the_certificate(tmp_path, monkeypatch):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )
    tls_port = free_port()
    server = RedisServer("--tls-port", str(tls_port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
                         "--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no")
    server.start()
    try:
        async with client(f"rediss://127.0.0.1:{tls_port}/0", timeout_s=5) as c:  # a certificate no CA signed
            with pytest.raises(ssl.SSLCertVerificationError):
                await c.call("PING")
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # now the system's trust includes it
        async with client(f"rediss://127.0.0.1:{tls_port}/2", timeout_s=5) as c:
            assert b" db=2 " in await c.call("CLIENT", "INFO")
    finally:
        server.stop()
