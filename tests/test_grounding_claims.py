"""The claim classifier (guard.checks.grounding.claims) against tables written for the project.

Each row of tests/fixtures/claims_{en,zh}.tsv gives the kinds of the pieces one answer is cut
into, in order ("hedge+claim"), the answer, and optionally the question it answers.
"""

from pathlib import Path

import pytest

from guard.checks.grounding.claims import classify, is_polar_question, split_answer

FIXTURES = Path(__file__).parent / "fixtures"


def _rows(name: str) -> list[tuple[str, str, str]]:
    rows = []
    for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        kinds, text, *rest = line.split("\t")
        rows.append((kinds, text, rest[0] if rest else ""))
    return rows


@pytest.mark.parametrize("name", ["claims_en.tsv", "claims_zh.tsv"])
def test_tables_have_at_least_100_rows_and_every_kind(name):
    rows = _rows(name)
    assert len(rows) >= 100
    kinds = {k for row in rows for k in row[0].split("+")}
    assert kinds == {"claim", "chitchat", "hedge", "question", "opinion", "refusal"}


@pytest.mark.parametrize("kinds,text,question", _rows("claims_en.tsv") + _rows("claims_zh.tsv"))
def test_every_row_is_classed_as_labelled(kinds, text, question):
    pieces = split_answer(text, question, min_chars=8)
    assert "+".join(p.kind for p in pieces) == kinds, [(p.kind, p.text) for p in pieces]
    # offsets index the answer, and the pieces cover it in order
    for p in pieces:
        assert text[p.start : p.end] == p.text
    assert [p.start for p in pieces] == sorted(p.start for p in pieces)


def test_a_hedge_exempts_only_itself():
    answer = "I don't know about the history, but it is one of the major forms of throwing sports."
    pieces = split_answer(answer)
    assert [p.kind for p in pieces] == ["hedge", "claim"]
    assert pieces[1].text.startswith("but it is one of the major forms")


def test_a_clause_with_nothing_of_its_own_stays_with_its_neighbour():
    pieces = split_answer("The model supports English, and Chinese.")
    assert [p.text for p in pieces] == ["The model supports English, and Chinese."]
    assert [p.text for p in split_answer("据了解，该政策于2015年推出。")][-1] == "该政策于2015年推出。"


def test_a_bare_yes_to_a_yes_no_question_asserts_the_question():
    assert is_polar_question("Is Qwen2.5 made by Google?") and is_polar_question("Qwen2.5是谷歌发布的吗？")
    assert not is_polar_question("Who made Qwen2.5?")
    [piece] = split_answer("Yes.", "Is Qwen2.5 made by Google?")
    assert piece.checked and "Google" in piece.graded_text
    [piece] = split_answer("Yes.", "Who made Qwen2.5? Tell me.")
    assert not piece.checked


def test_figures_are_always_claims():
    assert classify("I'm sorry, the fee is 30 dollars")[0] == "claim"
    assert classify("I love that it has 405B parameters")[0] == "claim"


def test_claims_of_one_sentence_are_graded_together_unless_separate():
    text = "The 7B model fits on one GPU, and the 70B model needs four."
    assert [p.kind for p in split_answer(text, separate=True)] == ["claim", "claim"]
    [joined] = split_answer(text, separate=False)
    assert joined.text == text and not joined.sentence
    # talk still splits off a claim when clauses are not separate
    hedged = "I don't know about the history, but it is one of the major forms of throwing sports."
    assert [p.kind for p in split_answer(hedged, separate=False)] == ["hedge", "claim"]
    # a clause knows its sentence, whose words help find its evidence
    first, second = split_answer(text, separate=True)
    assert first.sentence == second.sentence == text


@pytest.mark.parametrize("answer", [
    "He won in 2001, did you know?",  # the short claim used to be moved after its question
    "I love Qwen2.5 and remember that it was pre-trained on 18 trillion tokens.",  # and overlap the talk
    "It is a mystery novel, do you like that genre?",
    "Unfortunately, I don't know much about this team other than they play basketball in Japan.",
    "Well, I think so. Thanks! Llama 3.1 was released in July 2024, and it has 405B parameters.",
])
def test_pieces_are_in_order_and_do_not_overlap(answer):
    for separate in (False, True):
        pieces = split_answer(answer, "", 8, separate=separate)
        assert all(a.end <= b.start for a, b in zip(pieces, pieces[1:])), pieces
        assert all(answer[p.start:p.end] == p.text for p in pieces)


def test_a_statement_before_a_tagged_question_or_after_a_concession_is_a_claim():
    def kinds(answer):
        return [(p.kind, p.text) for p in split_answer(answer, "", 8, separate=False)]

    assert kinds("It is a mystery novel, do you like that genre?") == [
        ("claim", "It is a mystery novel"), ("question", "do you like that genre?")]
    assert kinds("I don't know much about them other than they play basketball in Japan.")[-1] == (
        "claim", "they play basketball in Japan.")
    assert kinds("I like basketball the most and remember that George Halas played both baseball and football.") == [
        ("opinion", "I like basketball the most"), ("chitchat", "and remember that"),
        ("claim", "George Halas played both baseball and football.")]
    assert kinds("Have you seen it, or do you prefer books?") == [("question", "Have you seen it, or do you prefer books?")]


def test_a_quoted_title_with_a_question_mark_is_not_a_question():
    assert classify('Mudvayne released the single "Happy?"')[0] == "claim"
    assert classify("Bonnie Wright was one of the cast members?")[0] == "claim"
    assert classify("Which one do you need?")[0] == "question"


def test_words_from_the_question_are_not_support():
    from guard.checks.grounding.additions import fresh_coverage, question_units
    from guard.checks.grounding.evidence import EvidenceText
    from guard.checks.grounding.features import Claim, overlap

    ev = EvidenceText.of("Qwen2.5 is a family of dense models from the Qwen team at Alibaba Cloud.")
    given = question_units("Who makes the Qwen2.5 dense models?")
    echo_plus = Claim.of("Qwen2.5 dense models are built by Google engineers.")
    plain = overlap(echo_plus, ev)
    assert fresh_coverage(echo_plus, ev, given, plain) < plain - 0.2
    # a claim of its own words, or one only echoing the question, keeps its coverage
    own = Claim.of("Alibaba Cloud builds them.")
    assert fresh_coverage(own, ev, given, overlap(own, ev)) == overlap(own, ev)
    echo = Claim.of("The Qwen2.5 dense models.")
    assert fresh_coverage(echo, ev, given, overlap(echo, ev)) == overlap(echo, ev)
    assert fresh_coverage(echo_plus, ev, frozenset(), plain) == plain



def test_what_a_claim_adds_to_the_question_must_be_in_the_evidence():
    from guard.checks.grounding.additions import question_units, unstated_addition
    from guard.checks.grounding.evidence import EvidenceText
    from guard.checks.grounding.features import Claim

    ev = EvidenceText.of("Kendal Mint Cake is a glucose-based confection flavoured with peppermint.")
    given = question_units("What is the main flavour of Kendal Mint Cake?")
    assert unstated_addition(Claim.of("Kendal Mint Cake is chocolate-flavoured."), ev, given) == ["chocolate-flavoured"]
    assert unstated_addition(Claim.of("Kendal Mint Cake has a vanilla and caramel taste."), ev, given) == [
        "vanilla", "caramel", "taste"]
    # one added word in the evidence is enough: the rest may be paraphrase
    assert unstated_addition(Claim.of("Kendal Mint Cake is a sweet peppermint bar."), ev, given) == []
    # an echo adds nothing; without a question there is nothing to add to
    assert unstated_addition(Claim.of("The flavour of Kendal Mint Cake."), ev, given) == []
    assert unstated_addition(Claim.of("Kendal Mint Cake is chocolate-flavoured."), ev, frozenset()) == []
    # Chinese: the added bigrams
    zh = EvidenceText.of("通义千问是阿里云发布的大模型。")
    assert unstated_addition(Claim.of("通义千问是阿里云发布的。"), zh, question_units("通义千问是谁发布的？")) == []
    assert unstated_addition(Claim.of("通义千问是谷歌发布的。"), zh, question_units("通义千问是谁发布的？")) == ["谷歌"]


def test_an_answer_restating_the_question_must_have_most_of_what_it_adds_in_the_evidence():
    from guard.checks.grounding.additions import question_units, unstated_addition
    from guard.checks.grounding.evidence import EvidenceText
    from guard.checks.grounding.features import Claim

    ev = EvidenceText.of("Kendal Mint Cake is a glucose-based confection flavoured with peppermint.")
    given = question_units("What is Kendal Mint Cake made of?")
    wrong = Claim.of("Kendal Mint Cake is a glucose-based sweet made with melted chocolate and roasted hazelnuts.")
    # "glucose-based" is there (so not every added word is missing), the rest is not
    assert unstated_addition(wrong, ev, given) == []
    assert unstated_addition(wrong, ev, given, asked=True) == ["sweet", "melted", "chocolate", "roasted", "hazelnuts"]
    right = Claim.of("Kendal Mint Cake is a glucose-based sweet flavoured with peppermint.")
    assert unstated_addition(right, ev, given, asked=True) == []
    # half found is not "most missing": one new word in two may be paraphrase
    ev = EvidenceText.of("DeepSeek-V3 supports a context length of 128K tokens.")
    given = question_units("What context length does DeepSeek-V3 support?")
    window = Claim.of("DeepSeek-V3 supports a context window of 128K tokens.")
    assert unstated_addition(window, ev, given, asked=True, figures=1) == []
    # a figure the evidence states counts as found: without it, "window" is one missing word in two
    assert unstated_addition(Claim.of("DeepSeek-V3 handles a context window of 128K tokens."), ev, given, asked=True, figures=1) == []
    assert unstated_addition(Claim.of("DeepSeek-V3 handles a context window of 128K tokens."), ev, given, asked=True) == [
        "handles", "window"]
    # an answer that does not restate the question (two of its words) is left to coverage
    assert unstated_addition(Claim.of("It handles a window of 128K tokens."), ev, given, asked=True) == []


def test_a_denial_of_a_wh_questions_premise_needs_a_denial_in_the_evidence():
    from guard.checks.grounding.additions import denied_premise

    question = "Sky Rocket was renovated into which roller coaster?"
    evidence = "Sky Rocket is a steel roller coaster at Kennywood. It was renovated into Phantom's Revenge."
    assert denied_premise("Sky Rocket was not renovated.", question, evidence) == ["not renovated"]
    assert denied_premise("Sky Rocket was renovated into Phantom's Revenge.", question, evidence) == []
    assert denied_premise("The current president has no nickname.", "What is the nickname of the president?",
                          "The president is Alex Vella, The Maltese Falcon.") == ["no nickname"]
    # evidence that denies something, or answers "No.", may back the denial: left to contradiction
    assert denied_premise("DeepSeek-R1-Zero did not use supervised fine-tuning.",
                          "What supervised fine-tuning did DeepSeek-R1-Zero use?",
                          "DeepSeek-R1-Zero was trained without a supervised fine-tuning stage.") == []
    assert denied_premise("A MoE model does not need less memory.", "Why does a MoE model need less memory?",
                          "Does a MoE model need less memory? No. All experts must be loaded.") == []
    # a yes/no question takes nothing for granted
    assert denied_premise("It does not support 1M tokens.", "Does DeepSeek-V3 support 1M tokens?", "It supports 128K.") == []

def test_a_question_asks_by_its_mark_or_its_first_word():
    from guard.checks.grounding.additions import asks

    assert asks("What does TTFT include?") and asks("Which has more films The Silent World or Zeitgeist")
    assert asks("I read the handbook. Explain TTFT.") and asks("TTFT 包括什么？")
    assert not asks("I love his films.") and not asks("Yes i like him too did you know he also was in Zodiac")
    assert not asks("")

def test_contractions_are_not_content_words():
    from guard.text.tokens import content_words

    assert content_words("He's also in it, and I'm sure it's the one they'd pick; it didn't win.") == ["sure", "pick", "win"]
