from guard.checks.base import CheckInput
from guard.checks.pii import PiiCheck, cn_id_valid, find_pii, luhn_valid

# 11010519491231002X is the checksum example from GB 11643; 4111 1111 1111 1111 is a Luhn test card.
VALID_ID = "11010519491231002X"
CARD = "4111 1111 1111 1111"


def test_checksums():
    assert cn_id_valid(VALID_ID)
    assert not cn_id_valid("110105194912310021")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


def test_finds_each_kind():
    text = f"写信到 zhang.san@example.cn，电话 13812345678，身份证 {VALID_ID}，卡号 {CARD}。"
    kinds = [f.kind for f in find_pii(text, ["email", "phone", "cn_id", "bank_card"])]
    assert kinds == ["email", "phone", "cn_id", "bank_card"]


def test_card_groupings():
    for card in ["4111111111111111", "3782 822463 10005", "6011-0009-9013-9424"]:
        assert [f.kind for f in find_pii(f"card {card}.", ["bank_card", "phone"])] == ["bank_card"], card


def test_invalid_numbers_are_not_personal_data():
    text = "Order 110105194912310021 and ref 4111111111111112 shipped."
    assert find_pii(text, ["cn_id", "bank_card", "phone"]) == []


def test_phone_formats():
    for phone in ["+86 138 1234 5678", "010-12345678", "(555) 123-4567", "+44 20 7946 0958"]:
        assert [f.kind for f in find_pii(f"call {phone} now", ["phone"])] == ["phone"], phone


def test_mask_rewrites_answer_and_passes():
    inp = CheckInput(question="", answer=f"Mail a.b@x.org or call 13812345678, card {CARD}, id {VALID_ID}.")
    out = PiiCheck(["email", "phone", "cn_id", "bank_card"], "mask").run(inp)
    assert out.passed and out.violations == []
    assert out.answer == "Mail a***@x.org or call 138****5678, card **** **** **** 1111, id 110105********002X."
    assert out.details["found"] == {"email": 1, "phone": 1, "bank_card": 1, "cn_id": 1}


def test_flag_reports_violation_without_rewriting():
    out = PiiCheck(["email"], "flag").run(CheckInput(question="", answer="write to a@b.com"))
    assert not out.passed and out.answer is None
    assert out.violations == ["personal data: email (1)"]


def test_only_configured_kinds():
    out = PiiCheck(["email"], "mask").run(CheckInput(question="", answer="call 13812345678"))
    assert out.passed and out.answer is None
