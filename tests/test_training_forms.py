"""``guard train verifier --sentence-forms``: each record's other answer form, made of its own words."""

from __future__ import annotations

import pytest

from guard.checks.evaluate import EvalRow
from guard.training.forms import sentence_forms, swapped, wrong_span

CONTEXT = "Karl Shapiro was appointed Poet Laureate Consultant in 1946. Southbank had 11,235 residents."


def _record(question: str, right: str, wrong: str) -> list[EvalRow]:
    return [EvalRow(id="r/right", context=CONTEXT, question=question, answer=right, label=0),
            EvalRow(id="r/halluc", context=CONTEXT, question=question, answer=wrong, label=1)]


@pytest.mark.parametrize("question, wrong, right, sentence, pick", [
    ("The Queen Paola Foundation was started by the wife of which Belgian monarch?",
     "The Queen Paola Foundation was started by King Baudouin.", "King Albert II",
     "The Queen Paola Foundation was started by King Albert II.", "King Baudouin"),
    ('The person who released "Sun Arise" was born in what year?',
     'The person who released "Sun Arise" was born in 1929.', "1930.",
     'The person who released "Sun Arise" was born in 1930.', "1929"),
    ("What hip hop group from Hollis, Queens was brought out by the first rap crew from Dallas, Texas?",
     "Nemesis is a hip hop group from Dallas, Texas.", "Run-D.M.C",
     "Run-D.M.C is a hip hop group from Dallas, Texas.", "Nemesis"),
])
def test_the_wrong_span_is_swapped_for_the_right_answer(question, wrong, right, sentence, pick):
    assert swapped(question, wrong, right) == (sentence, pick)


@pytest.mark.parametrize("question, wrong, right", [
    # the wrong pick is one of the question's own options: no run of new words to replace
    ("Who was appointed Poet Laureate in 1946, Woody Allen or Karl Shapiro?",
     "Woody Allen was appointed Poet Laureate in 1946.", "Karl Shapiro"),
    # two runs of new words ("Southbank", "11,235") with the question's words between them
    ("The neighbourhood Eureka Tower is in had a population of what in 2011?",
     "Southbank had a population of 11,235 in 2011.", "Southbank"),
    # yes / no is not a fact to put in a sentence
    ("Can Fuyang and Gaozhou be found in the same province?",
     "No, Fuyang and Gaozhou are in the same province.", "Yes"),
    # the hallucination is a pick already
    ("Which city?", "Paris", "Lyon"),
    # a lower-case span is a phrase, not a name or figure: replacing it breaks the sentence
    ("Are Thums Up and Mott's based in the same country?",
     "Thums Up is actually a Japanese cola brand.", "No"),
])
def test_records_without_one_clean_wrong_span_give_nothing(question, wrong, right):
    assert swapped(question, wrong, right) is None


def test_wrong_span_offsets():
    sentence = "Dumb Flesh is the third album by John Power."
    start, end = wrong_span("Dumb Flesh is the third album by whom?", sentence)
    assert sentence[start:end] == "John Power"


def test_sentence_forms_add_a_grounded_sentence_and_a_hallucinated_pick():
    rows = _record("Who was appointed Poet Laureate Consultant in 1946?", "Karl Shapiro",
                   "Robert Lowell was appointed Poet Laureate Consultant in 1946.")
    made = sentence_forms(rows)
    assert [(r.id, r.label, r.answer) for r in made] == [
        ("r/right/sentence", 0, "Karl Shapiro was appointed Poet Laureate Consultant in 1946."),
        ("r/halluc/pick", 1, "Robert Lowell"),
    ]
    assert all(r.context == CONTEXT and r.question == rows[0].question for r in made)


def test_rows_that_are_not_one_grounded_and_one_hallucinated_answer_are_left_alone():
    rows = _record("Who was appointed Poet Laureate Consultant in 1946?", "Karl Shapiro",
                   "Robert Lowell was appointed Poet Laureate Consultant in 1946.")
    assert sentence_forms(rows[:1]) == []  # no partner
    assert sentence_forms(rows + [rows[1].model_copy(update={"id": "r/other"})]) == []  # two hallucinations
    no_question = [r.model_copy(update={"question": ""}) for r in rows]
    assert sentence_forms(no_question) == []


def test_train_verifier_reads_the_other_forms_with_the_file(tmp_path, capsys):
    """``--sentence-forms``: the extra rows join their file before it is sampled, and the
    command says how many there were."""
    from guard.training.cli import _read

    path = tmp_path / "qa.jsonl"
    rows = _record("Who was appointed Poet Laureate Consultant in 1946?", "Karl Shapiro",
                   "Robert Lowell was appointed Poet Laureate Consultant in 1946.")
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")
    [(name, plain)] = _read((path,), None, 0)
    [(_, formed)] = _read((path,), None, 0, forms=True)
    assert name == "qa" and len(plain) == 2
    assert sorted(r.id for r in formed) == ["r/halluc", "r/halluc/pick", "r/right", "r/right/sentence"]
    assert "qa: 2 rows in the other answer form" in capsys.readouterr().err
