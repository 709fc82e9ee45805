"""Request evidence, piece by piece: parsing, limits, the per-request index cache, merging, citations,
and what the reviewer page shows of a held item's documents."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from review_support import new_item, run

from guard.checks.base import CheckReport, Evidence, SentenceScore
from guard.checks.citations import label_citations
from guard.errors import BodyTooLarge, InvalidRequest
from guard.knowledge.combined import MergedRetriever
from guard.knowledge.documents import DocumentIndexes, check_document_limits, document_passages, parse_documents
from guard.knowledge.embedder import shared_embedder
from guard.settings import ReviewConfig, Reviewer
from review_queue.app import create_review_app
from review_queue.auth import hash_password

TEXT = "Intro line.\n\nThe Falcon cluster has 2048 GPUs. It is run by the platform team."


@pytest.fixture(scope="module")
def embedder():
    return shared_embedder()


def test_documents_are_strings_or_objects_and_a_bad_entry_is_named():
    docs = parse_documents(["plain", {"text": "t", "title": "T", "id": 7, "source": "s", "score": 0.3}])
    assert [(d.position, d.id, d.title, d.source) for d in docs] == [(0, None, None, None), (1, "7", "T", "s")]
    assert docs[1].label == "7" and docs[0].label == "documents[0]"
    for bad, param in (([{"title": "x"}], "documents[0].text"), (["ok", 3], "documents[1]"), ({"text": "x"}, "documents"),
                       ([{"text": "x", "title": ["no"]}], "documents[0].title")):
        with pytest.raises(InvalidRequest) as e:
            parse_documents(bad)
        assert e.value.param == param and e.value.status == 400


def test_limits_on_count_and_characters_are_413s():
    docs = parse_documents(["abc", "defg"])
    check_document_limits(docs, 2, 7)
    with pytest.raises(BodyTooLarge, match="2 documents; the limit is 1"):
        check_document_limits(docs, 1, 100)
    with pytest.raises(BodyTooLarge, match="7 characters; the limit is 6"):
        check_document_limits(docs, 5, 6)


def test_passages_know_their_document_and_offset():
    docs = parse_documents([{"text": TEXT, "title": "Sheet", "id": "s-1"}])
    passages = document_passages(docs)
    assert all(p.metadata["document"] == 0 and p.metadata["title"] == "Sheet" for p in passages)
    for p in passages:
        assert TEXT[p.metadata["offset"]:p.metadata["offset"] + len(p.text)] == p.text


def test_the_index_is_cached_by_content_and_bounded(embedder):
    cache = DocumentIndexes(lambda: embedder, max_entries=2, max_chars=50)
    a = cache.get(parse_documents(["The Falcon cluster has 2048 GPUs."]))
    assert cache.get(parse_documents(["The Falcon cluster has 2048 GPUs."])) is a  # the next turn pays nothing
    assert (cache.hits, cache.misses) == (1, 1)
    assert cache.get(parse_documents([{"text": "The Falcon cluster has 2048 GPUs.", "title": "other"}])) is not a
    cache.get(parse_documents(["Another conversation entirely."]))
    assert len(cache) <= 2 and cache._chars <= 50
    assert a._index is None  # keyword search only so far: never embedded
    assert a.search("Falcon GPUs", 1, "lexical")[0].passage.metadata["kind"] == "document"
    assert a._index is None


def test_merged_search_keeps_every_source_and_citations_name_the_document(embedder):
    cache = DocumentIndexes(embedder)
    docs = cache.get(parse_documents([{"text": TEXT, "title": "Sheet"}]))
    other = cache.get(parse_documents(["Falcon is also a bird. Falcon GPUs are fast."]))
    merged = MergedRetriever([docs, other])
    hits = merged.search("Falcon cluster GPUs", 3, "lexical")
    assert {h.passage.source for h in hits} == {"documents[0]"} and len({h.passage.id for h in hits}) == len(hits)
    assert merged.version == f"{docs.version}+{other.version}"
    passage = next(h.passage for h in hits if "2048" in h.passage.text)
    span = "The Falcon cluster has 2048 GPUs."
    report = CheckReport(confidence=0.1, answer="x", outcomes=[])
    sentence = SentenceScore("The cluster has 4096 GPUs.", 0, 26, 0.1, [Evidence(passage.id, passage.source, span, 1.0)])
    report.outcomes.append(type("O", (), {"sentences": [sentence]})())  # only .sentences is read
    label_citations(report, merged)
    e = sentence.evidence[0]
    assert (e.kind, e.document, e.title) == ("document", 0, "Sheet")
    assert TEXT[e.span_start:e.span_end] == span


def test_the_reviewer_page_lists_a_held_items_documents_with_the_cited_spans(store, monkeypatch):
    monkeypatch.setenv("GUARD_TEST_REVIEW_SECRET", "s" * 40)
    config = ReviewConfig(store_url="sqlite:///unused", session_secret_env="GUARD_TEST_REVIEW_SECRET",
                          reviewers=[Reviewer(username="ann", password_hash=hash_password("ann-password", rounds=4))])
    evidence = {"passage_id": "documents[1]#1", "source": "documents[1]", "span": "The Falcon cluster has 2048 GPUs.",
                "score": 1.0, "kind": "document", "document": 1, "title": "Cluster sheet"}
    item = run(store.create_item(new_item(
        annotation={"sentences": [{"text": "It has 4096 GPUs.", "start": 0, "end": 17, "support": 0.1, "unsupported": True,
                                   "reasons": [], "evidence": [evidence]}]},
        documents=[{"kind": "document", "position": 0, "text": "Office hours are nine to five."},
                   {"kind": "document", "position": 1, "title": "Cluster sheet", "text": "The Falcon cluster has 2048 GPUs. <b>x</b>"}],
    )))
    client = TestClient(create_review_app(store, config))
    import re

    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    client.post("/login", data={"username": "ann", "password": "ann-password", "csrf": token})
    page = client.get(f"/items/{item.id}").text
    assert 'id="documents"' in page and "Cluster sheet" in page and "documents[0]" in page
    assert "[1] The Falcon cluster has 2048 GPUs." in page and "1 cited" in page
    assert "<b>x</b>" not in page  # documents are untrusted: escaped
