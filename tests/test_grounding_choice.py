"""Which of two comes first (guard/checks/grounding/choice.py): the options a question offers,
the claim's pick, and the dates the evidence gives each."""

from __future__ import annotations

import pytest

from guard.checks.grounding.choice import check_order, date_of, options, pick

LIVES = ("Del Lord (October 7, 1894 – March 23, 1970) was a Canadian film director.Wang Xiaoshuai "
         "(born May 22, 1966) is a Chinese film director. Ada Park (1901 – 1990) and her brother Ben Park "
         "(1899 – 1995) were painters.")


@pytest.mark.parametrize("question, expected", [
    ("Who was born earlier, Gerina Dunwich or Erich Maria Remarque?", ("Gerina Dunwich", "Erich Maria Remarque")),
    ("Was Allen Drury or Jean Giono born first?", ("Allen Drury", "Jean Giono")),
    ("Which magazine came out first The Christian Science Monitor or The Atlantic ?", ("The Christian Science Monitor", "The Atlantic")),
    ("Which was founded first, Stellenbosch University or Wayne State University?", ("Stellenbosch University", "Wayne State University")),
    ("Which genus contains more species: Fallopia, or Nicandra?", ("Fallopia", "Nicandra")),
    ("Which was released first, DeepSeek-V3 or DeepSeek-R1?", ("DeepSeek-V3", "DeepSeek-R1")),
    ("What is the capital of France?", None),
    ("Do you want tea or coffee?", None),
])
def test_options(question, expected):
    assert options(question) == expected


def test_the_pick_and_its_direction_come_from_the_claim_else_from_the_question():
    q = "Which film director is younger, Del Lord or Wang Xiaoshuai?"
    assert pick(q, "Wang Xiaoshuai.") == pick(q, "Wang Xiaoshuai is younger.")
    assert pick(q, "Wang Xiaoshuai.").earlier is False and pick(q, "Wang Xiaoshuai.").option == "Wang Xiaoshuai"
    assert pick(q, "Wang Xiaoshuai was born earlier.").earlier is True  # the claim's own word
    assert pick(q, "Del Lord was born before Wang Xiaoshuai.").option == "Del Lord"  # the subject
    assert pick(q, "Both are directors.") is None
    assert pick("Who is the director of Up?", "Pete Docter.") is None


@pytest.mark.parametrize("question, claim, evidence", [
    # the other option by its initials
    ("Which was founded first, Stellenbosch University or Wayne State University?", "Stellenbosch University was founded first.",
     "Stellenbosch University received full university status in 1918. Founded in 1868, WSU consists of 13 schools."),
    # a date between the two names of one sentence; "ca." does not end it
    ("Which member of the band was older, Anita Lane or Nick Cave?", "Anita Lane was older than Nick Cave.",
     "Anita Louise Lane (born ca. 1959) is a singer who was a member of the Bad Seeds with Nick Cave. "
     "Nicholas Edward Cave (born 22 September 1957) is an Australian musician."),
    # a lifespan that lost its spaces
    ("who passed away first Perry N. Vekroff or Paul Cox ?", "Paul Cox passed away first.",
     "Perry N. Vekroff (3 June 1881 – 3 January 1937) was a film director.Paulus Henrique Benedictus \"Paul\" Cox "
     "(16 April 194018 June 2016) was a Dutch-Australian filmmaker."),
    # passages glued after a year
    ("Which was released first, The Plow That Broke the Plains or The Man Who Skied Down Everest?",
     "The Man Who Skied Down Everest was released first.",
     "The Man Who Skied Down Everest is a documentary released in 1975.The Plow That Broke the Plains is a 1936 short documentary film."),
])
def test_scraped_spellings_of_dates_and_names_still_order_the_pick(question, claim, evidence):
    order = check_order(question, claim, evidence)
    assert order is not None and not order.agrees

def test_dates_come_from_a_sentence_naming_the_option_and_not_the_other():
    assert date_of("Del Lord", "Wang Xiaoshuai", LIVES, death=False)[0] == (1894, 10, 7)
    assert date_of("Wang Xiaoshuai", "Del Lord", LIVES, death=False)[0] == (1966, 5, 22)  # glued after "director."
    assert date_of("Del Lord", "Wang Xiaoshuai", LIVES, death=True)[0] == (1970, None, None)
    assert date_of("Wang Xiaoshuai", "Del Lord", LIVES, death=True) is None  # alive: no lifespan
    # one sentence names both: the first one's date between the two names, none for the second
    assert date_of("Ada Park", "Ben Park", LIVES, death=False)[0] == (1901, None, None)
    assert date_of("Ben Park", "Ada Park", LIVES, death=False) is None


@pytest.mark.parametrize("question, claim, agrees", [
    ("Which film director is younger, Del Lord or Wang Xiaoshuai?", "Wang Xiaoshuai", True),
    ("Which film director is younger, Del Lord or Wang Xiaoshuai?", "Del Lord is younger.", False),
    ("Which film director is younger, Del Lord or Wang Xiaoshuai?", "Wang Xiaoshuai was born earlier.", False),
    ("Who was born first, Del Lord or Wang Xiaoshuai?", "Wang Xiaoshuai was born after Del Lord.", True),
    ("Who died first, Del Lord or Wang Xiaoshuai?", "Del Lord.", None),  # no death date for the other
])
def test_check_order(question, claim, agrees):
    order = check_order(question, claim, LIVES)
    assert (None if order is None else order.agrees) is agrees
    if agrees is False:
        conflict = order.conflict()
        assert conflict.kind == "order" and "1894" in conflict.evidence_word and "1966" in conflict.evidence_word


def test_same_year_is_decided_by_the_month_and_never_guessed():
    ev = "Model A was released in March 2024. Model B was released in July 2024. Model C came out in 2024."
    assert check_order("Which came first, Model A or Model B?", "Model B came first.", ev).agrees is False
    assert check_order("Which came first, Model A or Model C?", "Model C came first.", ev) is None
