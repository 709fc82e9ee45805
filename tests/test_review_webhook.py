"""Decision webhooks against a real aiohttp server on loopback: signed, retried, recorded."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from aiohttp import web
from review_support import new_item

from guard.review import open_store
from guard.review.housekeeping import sweep
from guard.review.webhook import SIGNATURE_HEADER, WebhookSender, sign, verify

SECRET = "whsec-test-1234"


class Receiver:
    """A webhook endpoint that fails the first ``failures`` calls with ``fail_status``."""

    def __init__(self, failures: int = 0, fail_status: int = 500) -> None:
        self.failures = failures
        self.fail_status = fail_status
        self.calls: list[tuple[dict, bytes]] = []

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.calls.append((dict(request.headers), body))
        if len(self.calls) <= self.failures:
            return web.Response(status=self.fail_status)
        return web.Response(status=204)


@pytest.fixture
async def serve():
    runners = []

    async def start(receiver: Receiver) -> str:
        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = site._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    yield s
    s.close()


def fast_sender(attempts: int = 4) -> WebhookSender:
    return WebhookSender(attempts=attempts, backoff_s=0.05, timeout_s=5)


def test_sign_and_verify():
    body = b'{"a":1}'
    header = sign(SECRET, body)
    assert header.startswith("sha256=") and verify(SECRET, body, header)
    assert not verify(SECRET, body + b" ", header)
    assert not verify("other", body, header)
    assert not verify(SECRET, body, None)


async def test_delivery_is_signed_and_retried_until_it_succeeds(serve, store, monkeypatch):
    receiver = Receiver(failures=2)
    url = await serve(receiver)
    monkeypatch.setenv("GUARD_TEST_WEBHOOK_SECRET", SECRET)
    item = await store.create_item(new_item(webhook_url=url, webhook_secret_env="GUARD_TEST_WEBHOOK_SECRET"))
    assert await store.claim(item.id, "ann", 60)
    decided = await store.decide(item.id, "ann", "edit", final_answer="Fixed answer.")
    assert await fast_sender().deliver(store, decided) is True
    assert len(receiver.calls) == 3
    deliveries = {headers["x-guard-delivery"] for headers, _ in receiver.calls}
    assert len(deliveries) == 1  # one delivery id across its retries
    headers, body = receiver.calls[-1]
    assert verify(SECRET, body, headers[SIGNATURE_HEADER])
    payload = json.loads(body)
    assert payload == {**payload, "event": "review.decided", "review_id": item.id, "status": "edited",
                       "final_answer": "Fixed answer.", "reviewer": "ann"}
    assert [e.action for e in await store.events(item.id)][-1] == "webhook_sent"


async def test_client_errors_are_not_retried(serve, store):
    receiver = Receiver(failures=10, fail_status=400)
    url = await serve(receiver)
    assert await fast_sender().send(url, SECRET, {"event": "review.decided"}) is False
    assert len(receiver.calls) == 1


async def test_gives_up_after_the_last_attempt(serve, store):
    receiver = Receiver(failures=10, fail_status=503)
    url = await serve(receiver)
    item = await store.create_item(new_item(webhook_url=url))
    assert await fast_sender(attempts=3).deliver(store, item) is False
    assert len(receiver.calls) == 3
    assert SIGNATURE_HEADER not in {k.lower() for k in receiver.calls[0][0]}  # no secret configured: unsigned
    assert [e.action for e in await store.events(item.id)][-1] == "webhook_failed"


async def test_connection_refused_is_retried_then_fails():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    assert await fast_sender(attempts=2).send(f"http://127.0.0.1:{port}/hook", SECRET, {}) is False


async def test_expiry_sweep_sends_the_expired_event(serve, store, monkeypatch):
    receiver = Receiver()
    url = await serve(receiver)
    monkeypatch.setenv("GUARD_TEST_WEBHOOK_SECRET", SECRET)
    item = await store.create_item(new_item(deadline_s=0.01, on_expire="release", webhook_url=url,
                                            webhook_secret_env="GUARD_TEST_WEBHOOK_SECRET"))
    sender = fast_sender()
    await asyncio.sleep(0.05)
    assert await sweep(store, sender) == 1
    await sender.aclose()
    assert len(receiver.calls) == 1
    payload = json.loads(receiver.calls[0][1])
    assert (payload["event"], payload["status"], payload["final_answer"]) == ("review.expired", "expired", item.answer)
    assert await sweep(store, sender) == 0
