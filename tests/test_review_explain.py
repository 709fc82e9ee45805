"""The pure pieces of the reviewer page: marked evidence, diffs, flagged claims left, groups, readable details."""

from __future__ import annotations

from review_support import new_item

from review_queue.explain import changed, diff, mark_claim, mark_evidence, reason_texts, still_unsupported
from review_queue.groups import group_rows, siblings
from review_queue.render import readable


def kinds(pieces, kind):
    return [p.text for p in pieces if p.kind == kind]


def test_evidence_marks_shared_words_same_numbers_and_conflicting_ones():
    codes = [{"code": "number_missing", "params": {"value": "670B"}}]
    pieces = mark_evidence("DeepSeek-V3 has 670B parameters.", "DeepSeek-V3 has 671B total parameters, 37B active.", codes)
    assert "".join(p.text for p in pieces) == "DeepSeek-V3 has 671B total parameters, 37B active."
    assert kinds(pieces, "conflict") == ["671B", "37B"]
    assert "parameters" in kinds(pieces, "match") and "has" not in kinds(pieces, "match")  # stopwords stay plain
    same = mark_evidence("It has 2048 GPUs.", "The cluster has 2,048 GPUs.")
    assert kinds(same, "number") == ["2,048"] and kinds(same, "match") == ["GPUs"]


def test_years_conflict_with_years_only():
    codes = [{"code": "number_missing", "params": {"value": "2019"}}]
    pieces = mark_evidence("Built in 2019.", "Built in 2021 for 300 people.", codes)
    assert kinds(pieces, "conflict") == ["2021"]


def test_contradiction_words_from_the_codes_are_marked_on_both_sides():
    codes = [{"code": "contradiction", "params": {"claim_word": "north", "evidence_word": "south"}}]
    assert kinds(mark_evidence("It is in the north.", "It is in the south.", codes), "conflict") == ["south"]
    assert kinds(mark_claim("It is in the North.", codes), "conflict") == ["North"]
    cn = [{"code": "contradiction", "params": {"claim_word": "北部", "evidence_word": "南部"}}]
    assert kinds(mark_evidence("位于北部。", "位于南部。", cn), "conflict") == ["南部"]
    assert "位" in kinds(mark_evidence("位于北部。", "位于南部。", cn), "match")


def test_words_a_claim_adds_unstated_and_a_misdated_pick_are_marked_in_the_claim():
    added = [{"code": "unstated_addition", "params": {"words": "chocolate-flavoured, sweet"}}]
    assert kinds(mark_claim("Kendal Mint Cake is sweet and chocolate-flavoured.", added), "conflict") == [
        "sweet", "chocolate-flavoured"]
    from guard.checks.grounding.choice import check_order

    conflict = check_order("Which was released first, DeepSeek-V3 or DeepSeek-R1?", "DeepSeek-R1 was released first.",
                           "DeepSeek-V3 was released in December 2024. DeepSeek-R1 was released in January 2025.").conflict()
    codes = [{"code": "contradiction_order", "params": conflict.as_params()}]
    assert kinds(mark_claim("DeepSeek-R1 was released first.", codes), "conflict") == ["DeepSeek-R1"]
    assert reason_texts({"codes": codes}, "en") == [
        "contradicts the order in the evidence: DeepSeek-R1 2025-01, DeepSeek-V3 2024-12"]


def test_reasons_render_per_language_with_english_for_old_items():
    sentence = {"reasons": ["number 670B not in evidence"], "codes": [{"code": "number_missing", "params": {"value": "670B"}}]}
    assert reason_texts(sentence, "zh") == ["证据中没有数字 670B"]
    assert reason_texts({"reasons": ["number 670B not in evidence"]}, "zh") == ["number 670B not in evidence"]


def test_diff_and_changes():
    assert not changed("It uses 2048 GPUs.", "It uses 2048 GPUs.\r\n")
    assert changed("It uses 2048 GPUs.", "It uses 2049 GPUs.")
    pieces = diff("It uses 670B GPUs.", "It uses 2048 GPUs.")
    assert kinds(pieces, "del") == ["670B"] and kinds(pieces, "ins") == ["2048"]
    assert kinds(diff("共有六千台", "共有八千台"), "del") == ["六"]


def test_flagged_claims_left_in_the_final_answer():
    sentences = [{"text": "A is 1.", "unsupported": True}, {"text": "B is 2.", "unsupported": False},
                 {"text": "C is 3.", "unsupported": True}]
    assert still_unsupported(sentences, "A is 1.  b is 2. C is 4.") == ["A is 1."]


def test_groups_fold_identical_pending_items_and_offer_near_duplicates():
    a = new_item(answer="Refunds within 30 days.")
    items = []
    from guard.review.models import Item

    def item(i, **kw):
        base = dict(id=f"rv_{i}", kind="hold", status="pending", policy="support", tenant="acme", model="m",
                    key_id="", request=a.request, answer=a.answer, reasoning=None, annotation={}, reasons=[],
                    risk=0.5, created_at=float(i), deadline=None, on_expire="fallback", fallback_answer=None,
                    response_id=None, reviewer=None, lease_until=None, decided_at=None, final_answer=None,
                    reject_reason=None, webhook_url=None, webhook_secret_env=None)
        base.update(kw)
        return Item(**base)

    items = [item(1), item(2, answer="refunds  within 30 days"), item(3, policy="other"),
             item(4, answer="Refunds within 31 days."), item(5, status="claimed")]
    rows = group_rows(items)
    assert [(r.leader.id, [m.id for m in r.members]) for r in rows] == [
        ("rv_1", ["rv_2"]), ("rv_3", []), ("rv_4", []), ("rv_5", [])]
    assert rows[0].similar == 1
    same, near = siblings(items[0], items)
    assert [i.id for i in same] == ["rv_2"] and [i.id for i in near] == ["rv_4"]


def test_event_details_read_as_text():
    assert readable({"reason": "编造的数字", "final_answer": "对"}) == "reason: 编造的数字; final_answer: 对"
    assert readable({"forced": False, "holder": None}) == "forced: False; holder: –"
