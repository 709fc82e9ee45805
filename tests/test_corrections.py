"""A correction added on one replica reaches another replica's index through the shared store."""

from __future__ import annotations

import pytest

from guard.corrections import CorrectionSync
from guard.knowledge.embedder import shared_embedder
from guard.knowledge.index import KnowledgeIndex
from guard.knowledge.types import Passage
from guard.review import NewItem, open_store


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


def replica_index(embedder) -> KnowledgeIndex:
    """What each replica loads from the read-only index files: the same built passages."""
    return KnowledgeIndex.from_passages([Passage("faq#1", "Refunds take 5 business days.", "faq.md", {})], embedder)


async def corrected_item(store, answer: str) -> str:
    item = await store.create_item(NewItem(
        policy="default", tenant="acme", model="m", answer="It has 7 billion parameters.",
        request={"messages": [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]},
    ))
    assert await store.claim(item.id, "li.wei", 300)
    await store.decide(item.id, "li.wei", "edit", final_answer=answer)
    await store.add_event(item.id, "li.wei", "knowledge_added", {})
    return item.id


async def test_a_correction_recorded_in_the_store_reaches_another_replica(tmp_path, embedder):
    store = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    try:
        item_id = await corrected_item(store, "DeepSeek-V3 has 671B parameters, 37B active per token.")
        await store.add_event(item_id, "li.wei", "claimed", {})  # other events are not corrections
        index = replica_index(embedder)
        before = index.version
        sync = CorrectionSync(store, lambda: index)

        assert await sync.run_once() == 1
        passage = index.get(f"review-{item_id}")
        assert passage.text == "DeepSeek-V3 has 671B parameters, 37B active per token."
        assert passage.metadata["provenance"]["reviewer"] == "li.wei"
        assert passage.metadata["question"] == "How many parameters does DeepSeek-V3 have?"
        assert index.version != before
        hit = index.search("How many parameters does DeepSeek-V3 have?", k=1)[0]
        assert hit.passage.id == f"review-{item_id}"

        version = index.version
        assert await sync.run_once() == 0  # nothing new: nothing re-embedded
        assert index.version == version

        second = await corrected_item(store, "Refunds for damaged items take 3 business days.")
        assert await sync.run_once() == 1
        assert index.get(f"review-{second}") is not None
    finally:
        store.close()


async def test_a_new_replica_replays_every_correction_and_two_replicas_agree(tmp_path, embedder):
    store = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    try:
        for i in range(3):
            await corrected_item(store, f"Correction number {i} about GPUs.")
        first, late = replica_index(embedder), replica_index(embedder)
        assert await CorrectionSync(store, lambda: first).run_once() == 3
        assert await CorrectionSync(store, lambda: late).run_once() == 3
        assert [p.id for p in first.passages] == [p.id for p in late.passages]
        assert first.version == late.version  # same passages in the same order: the same version
    finally:
        store.close()


async def test_the_replica_that_served_the_reviewer_does_not_add_twice(tmp_path, embedder):
    from guard.corrections import correction_passage

    store = open_store(f"sqlite:///{tmp_path / 'review.sqlite3'}")
    try:
        item_id = await corrected_item(store, "DeepSeek-V3 was trained on 2048 H800 GPUs.")
        index = replica_index(embedder)
        item = await store.get(item_id)
        index.add_passages([correction_passage(item.final_answer, item.provenance("li.wei"))], persist=False)
        version = index.version
        assert await CorrectionSync(store, lambda: index).run_once() == 0
        assert index.version == version
    finally:
        store.close()
