"""The folded view (guard.text.fold): what it reads through, and offsets back to the original."""

from __future__ import annotations

from guard.checks.pii import find_pii, mask_pii
from guard.text.fold import fold, fold_text, fold_words, views


def test_folded_offsets_point_at_the_original_characters():
    text = "Mail ｊｏｈｎ\u200b＠ｅｘａｍｐｌｅ．ｃｏｍ now"
    f = fold(text)
    assert f.text == "Mail john@example.com now"
    start = f.text.index("john")
    s, e = f.span(start, start + len("john@example.com"))
    assert text[s:e] == "ｊｏｈｎ\u200b＠ｅｘａｍｐｌｅ．ｃｏｍ"


def test_masking_keeps_everything_but_the_finding():
    text = "卡号 ４１１１ １１１１ １１１１ １１１１，邮箱 a.b [at] ex [dot] com。"
    masked = mask_pii(text, find_pii(text, ["email", "bank_card"]))
    assert masked.startswith("卡号 ") and masked.endswith("。") and "，邮箱 " in masked
    assert "４１１１ １１１１ １１１１" not in masked and "１１１１" in masked  # last four kept
    assert "[at] ex [dot] com" not in masked


def test_genuine_non_latin_text_still_matches_its_own_rules():
    assert views("это секрет")[0] == "это секрет"  # the original view is always matched
    assert fold_words("Straße") == "Straße"
    assert fold("plain ascii text").text == "plain ascii text"


def test_the_string_views_and_the_offset_view_agree():
    samples = ["a\u200bb  c\n\nd", "ｊｏｈｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "x [at] y [dot] z", "保證\u3000收益", "ﬁne\u00adly", "plain"]
    for t in samples:
        assert fold(t).text == fold_text(t), t


def test_rules_are_folded_outside_character_classes_only():
    from guard.text.fold import fold_pattern

    assert fold_pattern("保證收益") == "保证收益"
    assert fold_pattern("[а-я]{5}") == "[а-я]{5}"  # a Cyrillic class must not start matching Latin
    assert fold_pattern(r"\[保證]") == r"\[保证]"
