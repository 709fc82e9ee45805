"""Issue 12, Low: a client-chosen ``x-request-id`` must not let one key hide another key's review.

The attack: key B of the same tenant sends a held request with the ``x-request-id`` key A used;
key A's look-up by request id then found B's newer item, saw another key, and answered 404.
"""

from __future__ import annotations

import httpx

from tests.review_support import new_item, run
from tests.security.sec_support import KEY_A, KEY_B, serve_guard, settings


def key_id(key: str) -> str:
    from guard.settings import hash_key

    return hash_key(key)[7:19]  # what guard.api.deps records for a key


def look_up(base: str, key: str, request_id: str) -> httpx.Response:
    return httpx.get(f"{base}/v1/guard/reviews", params={"request_id": request_id},
                     headers={"authorization": f"Bearer {key}"}, timeout=10)


def test_another_key_reusing_a_request_id_cannot_shadow_a_review(fake_backend, tmp_path):
    with serve_guard(settings(fake_backend.base_url, tmp_path, keys=True)) as (base, app):
        store = app.state.runtime.review.store
        mine = run(store.create_item(new_item(tenant="t1", key_id=key_id(KEY_A), request_id="order-1")))
        run(store.create_item(new_item(tenant="t1", key_id=key_id(KEY_B), request_id="order-1")))  # later: newest
        r = look_up(base, KEY_A, "order-1")
        assert r.status_code == 200 and r.json()["id"] == mine.id
        theirs = look_up(base, KEY_B, "order-1")
        assert theirs.status_code == 200 and theirs.json()["id"] != mine.id
        assert look_up(base, KEY_A, "order-2").status_code == 404
