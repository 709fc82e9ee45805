"""Whether the evidence names what a claim names (guard/checks/grounding/names.py): the
spellings it legitimately uses, and the near misses that are other names."""

from __future__ import annotations

from guard.checks.grounding.evidence import EvidenceText
from guard.checks.grounding.features import Claim, measure, score
from guard.checks.grounding.names import name_found, subtitle_names


def test_a_place_name_is_found_without_its_kind_word():
    ev = EvidenceText("AIR TRAINING COMMAND (HQ: Hamamatsu, Shizuoka)")
    assert name_found("Shizuoka Prefecture", ev) and not name_found("Aichi Prefecture", ev)
    assert not name_found("Prefecture", ev)
    assert name_found("First World War", EvidenceText("He enlisted early in World War I."))


def test_a_name_ending_in_a_numeral_is_not_found_inside_another():
    # "World War I" was found as a substring of "World War II", and then by its words and fuzzily
    ev = EvidenceText("Fritz von Brodowski was a German officer killed in World War II. Route 113 opened in 1970.")
    assert not name_found("World War I", ev) and name_found("World War II", ev)
    assert not name_found("Route 11", ev) and name_found("Route 113", ev)
    assert name_found("Aurora X", EvidenceText("The Aurora X1 chip weighs 9 kg."))  # not a longer numeral
    assert name_found("World War I", EvidenceText("He served in the First World War, then in World War I's aftermath."))
    f = measure(Claim.of("Fritz von Brodowski was killed during World War I."), ev, None, [ev])
    assert f.missing_names == ["World War I"] and score(f) <= 0.5


def test_a_name_is_found_without_its_country_unless_the_evidence_names_another():
    us = EvidenceText("LOS ANGELES (AP) - The National Film Registry is turning 30.")
    assert name_found("United States National Film Registry", us)
    assert name_found("U.S. National Film Registry", us)
    assert not name_found("United States Film Board", us)
    court = EvidenceText("Brown v. Board was a 1954 Supreme Court case in the United States.")
    assert name_found("US Supreme Court", court) and not name_found("Canadian Supreme Court", court)
    assert not name_found("Canadian Grand Prix", EvidenceText("He won the Monaco Grand Prix in France."))


def test_an_initialism_and_the_name_it_stands_for_are_one_name():
    ev = EvidenceText("Iron Man is starring Robert Downey Jr. The National Basketball Association was formed in 1946, "
                      "and Taiwan Semiconductor Manufacturing Company makes chips. The NFL expanded.")
    assert name_found("RDJ", ev) and name_found("TSMC", ev) and name_found("NBA", ev)
    assert name_found("National Football League", ev)  # the evidence writes "NFL"
    assert not name_found("IBM", ev) and not name_found("National Hockey League", ev)
    assert not name_found("RD", ev)  # two letters: any two capitalised words would spell one
    assert not name_found("RMS", ev)  # "Robert ... Man ... starring": initials of one run only


def test_a_subtitle_is_optional_when_the_main_title_is_named():
    text = 'The band covered it for "Maiden Heaven: A Tribute to Iron Maiden" the same year.'
    assert subtitle_names(text, ["Maiden Heaven", "Tribute", "Iron Maiden"]) == {"Tribute": "Maiden Heaven", "Iron Maiden": "Maiden Heaven"}
    assert subtitle_names("Maiden Heaven: A Tribute to Iron Maiden, unquoted", ["Tribute"]) == {}
    claim = Claim.of(text)
    assert "Tribute" in claim.names
    cited = measure(claim, EvidenceText('Kerrang! magazine\'s latest collection "Maiden Heaven" features bands covering Iron Maiden.'), None)
    assert cited.missing_names == []
    other = measure(claim, EvidenceText("Kerrang! magazine features bands covering Iron Maiden."), None)
    assert "Tribute" in other.missing_names and "Maiden Heaven" in other.missing_names


def test_a_demonym_finds_its_country():
    assert name_found("England", EvidenceText("one of the finest sides to grace the English game"))
    assert name_found("British", EvidenceText("He was born in the United Kingdom."))
    assert not name_found("France", EvidenceText("one of the finest sides to grace the English game"))


def test_a_name_right_after_a_negation_is_denied_not_stated():
    from guard.checks.grounding.names import names_to_state
    from guard.text.normalize import default_aliases

    ev = EvidenceText("Qwen2.5 is from the Qwen team at Alibaba Cloud.")
    text = "Qwen2.5 was not released by Google; it comes from Alibaba Cloud."
    assert names_to_state(text, ("Google", "Alibaba Cloud"), ev, default_aliases()) == ("Alibaba Cloud",)
    assert names_to_state("Qwen2.5 不是谷歌发布的，而是阿里云发布的。", ("谷歌", "阿里云"), ev, default_aliases()) == ("阿里云",)
    assert names_to_state("Qwen2.5 不仅是谷歌发布的。", ("谷歌",), ev, default_aliases()) == ("谷歌",)
    far = "I couldn't believe she would marry Sean Bean."
    assert names_to_state(far, ("Sean Bean",), ev, default_aliases()) == ("Sean Bean",)
