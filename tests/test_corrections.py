"""Corrections recorded in the shared store reach every replica, for their own tenant, until retracted."""

from __future__ import annotations

import pytest

from guard.corrections import (
    CorrectionSet,
    CorrectionSync,
    correction_passage,
    list_corrections,
    retract,
    visible_to,
)
from guard.knowledge.embedder import shared_embedder
from guard.review import NewItem, open_store

QUESTION = "How many parameters does DeepSeek-V3 have?"


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


@pytest.fixture
def store(tmp_path):
    s = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    yield s
    s.close()


async def corrected_item(store, answer: str, tenant: str = "acme", detail: dict | None = None) -> str:
    item = await store.create_item(NewItem(
        policy="default", tenant=tenant, model="m", answer="It has 7 billion parameters.",
        request={"messages": [{"role": "user", "content": QUESTION}]},
    ))
    assert await store.claim(item.id, "li.wei", 300)
    await store.decide(item.id, "li.wei", "edit", final_answer=answer)
    await store.add_event(item.id, "li.wei", "knowledge_added", {"scope": "tenant", "tenant": tenant} if detail is None else detail)
    return item.id


def hit_ids(corrections: CorrectionSet, tenant: str, query: str = QUESTION) -> list[str]:
    view = corrections.for_tenant(tenant)
    return [h.passage.id for h in view.search(query, 3, "lexical")] if view is not None else []


async def test_a_correction_recorded_in_the_store_reaches_another_replica(store, embedder):
    item_id = await corrected_item(store, "DeepSeek-V3 has 671B parameters, 37B active per token.")
    await store.add_event(item_id, "li.wei", "claimed", {})  # other events are not corrections
    replica = CorrectionSet(lambda: embedder)
    sync = CorrectionSync(store, replica)

    assert await sync.run_once() == 1
    passage = replica.get(f"review-{item_id}")
    assert passage.text == "DeepSeek-V3 has 671B parameters, 37B active per token."
    assert passage.metadata["provenance"]["reviewer"] == "li.wei"
    assert passage.metadata["provenance"]["scope"] == "tenant"
    assert passage.metadata["question"] == QUESTION
    assert hit_ids(replica, "acme") == [f"review-{item_id}"]
    assert await sync.run_once() == 0  # nothing new

    second = await corrected_item(store, "Refunds for damaged items take 3 business days.")
    assert await sync.run_once() == 1
    assert replica.get(f"review-{second}") is not None


async def test_a_tenants_correction_is_its_own_and_a_global_one_is_everyone_s(store, embedder):
    """Today a tenant's approved feedback made the same false claim pass for every tenant."""
    own = await corrected_item(store, "DeepSeek-V3 has 671B parameters.", tenant="acme")
    replica = CorrectionSet(lambda: embedder)
    await CorrectionSync(store, replica).run_once()
    assert hit_ids(replica, "acme") == [f"review-{own}"]
    assert hit_ids(replica, "globex") == []
    assert not visible_to(replica.get(f"review-{own}"), "globex")

    everyone = await corrected_item(store, "DeepSeek-V3 has 671B parameters in all.", tenant="acme",
                                    detail={"scope": "global", "tenant": "acme"})
    await CorrectionSync(store, replica).run_once()
    assert hit_ids(replica, "globex") == [f"review-{everyone}"]


async def test_corrections_recorded_before_scopes_stay_with_their_tenant(store, embedder):
    legacy = await corrected_item(store, "DeepSeek-V3 has 671B parameters.", tenant="acme", detail={})
    replica = CorrectionSet(lambda: embedder)
    await CorrectionSync(store, replica).run_once()
    assert hit_ids(replica, "acme") == [f"review-{legacy}"] and hit_ids(replica, "globex") == []


async def test_a_retracted_correction_leaves_every_replica_within_one_sync(store, embedder):
    kept = await corrected_item(store, "Correction about GPUs: 2048 H800.")
    gone = await corrected_item(store, "DeepSeek-V3 has 671B parameters.")
    first, second = CorrectionSet(lambda: embedder), CorrectionSet(lambda: embedder)
    syncs = [CorrectionSync(store, first), CorrectionSync(store, second)]
    for s in syncs:
        assert await s.run_once() == 2

    await retract(store, gone, "admin", "superseded")
    for s in syncs:
        assert await s.run_once() == 1
    for replica in (first, second):
        assert replica.get(f"review-{gone}") is None and replica.get(f"review-{kept}") is not None
        assert f"review-{gone}" not in hit_ids(replica, "acme")
    late = CorrectionSet(lambda: embedder)  # a replica started after the retraction
    await CorrectionSync(store, late).run_once()
    assert [p.id for p in late.passages] == [f"review-{kept}"]

    listed = {c.item_id: c for c in await list_corrections(store)}
    assert listed[gone].status == "retracted" and listed[gone].retracted_by == "admin" and listed[gone].reason == "superseded"
    assert listed[kept].status == "active"
    with pytest.raises(LookupError):
        await retract(store, gone, "admin")


async def test_the_replica_that_served_the_reviewer_does_not_add_twice(store, embedder):
    item_id = await corrected_item(store, "DeepSeek-V3 was trained on 2048 H800 GPUs.")
    replica = CorrectionSet(lambda: embedder)
    item = await store.get(item_id)
    assert replica.put(correction_passage(item.final_answer, dict(item.provenance("li.wei"), scope="tenant")))
    assert await CorrectionSync(store, replica).run_once() == 0
    assert len(replica) == 1
