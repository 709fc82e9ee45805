import pytest

from guard.checks.grounding.refusal import is_refusal


@pytest.mark.parametrize("text", [
    "I don't know.",
    "I do not have enough information to answer that.",
    "I'm not sure.",
    "The provided context does not mention his birth date.",
    "我不知道。",
    "抱歉，我无法回答这个问题。",
    "资料中没有提到这一点。",
    "目前没有相关信息。",
])
def test_refusals(text):
    assert is_refusal(text)


@pytest.mark.parametrize("text", [
    "He was born in 1990.",
    "I don't know his age, but he was born in 1990.",
    "我不知道他的年龄，但他出生于1990年。",
    "The committee met on Tuesday.",
    "他表示抱歉。",
])
def test_claims_are_not_refusals(text):
    assert not is_refusal(text)
