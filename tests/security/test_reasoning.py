"""Issue 12, items 1 and 2: reasoning is checked when it is delivered, a replaced answer never
ships its reasoning, and a bare ``</think>`` does not hide text from the checks.

Every attack goes through a real guard on loopback before the shipped fake backend, in the
non-stream path and the buffer and sentence stream modes.
"""

from __future__ import annotations

import pytest

from tests.security.helpers import USER, guard_with, raw_unescaped, received

EMAIL, CARD = "alice.secret@example.com", "4111 1111 1111 1111"
DENIED = "the secret plan"
CHECKED = {
    "reasoning": {"client": "keep"},
    "checks": {"patterns": {"deny": ["(?i)secret plan"]}, "pii": {"enabled": True}, "max_chars": 2000},
}
MODES = ["nonstream", "buffer", "sentence"]


def policy(mode: str, **over):
    p = {**CHECKED, **over}
    if mode != "nonstream":
        p["streaming"] = {"mode": mode}
    return p


def ask(base: str, mode: str) -> dict:
    return received(base, {"messages": USER, "stream": mode != "nonstream"})


@pytest.mark.parametrize("style", ["field", "think"])
@pytest.mark.parametrize("mode", MODES)
def test_personal_data_in_reasoning_is_masked(fake_backend, tmp_path, mode, style):
    fake_backend.set(reasoning=style, reasoning_text=f"The user is {EMAIL}, card {CARD}. Fine.", text="Here is the answer.")
    with guard_with(fake_backend, tmp_path, policy(mode)) as base:
        got = ask(base, mode)
    assert got["content"].strip() == "Here is the answer."
    assert got["reasoning"], "the policy keeps reasoning: the client should get it, masked"
    assert EMAIL not in got["reasoning"] and CARD not in got["reasoning"]
    assert "1111" in got["reasoning"]  # the card's last four digits stay, as in the answer
    assert EMAIL not in raw_unescaped(got) and CARD not in raw_unescaped(got)


@pytest.mark.parametrize("style", ["field", "think"])
@pytest.mark.parametrize("mode", MODES)
def test_denied_phrase_in_reasoning_blocks_and_the_reasoning_is_not_sent(fake_backend, tmp_path, mode, style):
    fake_backend.set(reasoning=style, reasoning_text=f"I will reveal {DENIED} now.", text="All good here.")
    with guard_with(fake_backend, tmp_path, policy(mode)) as base:
        got = ask(base, mode)
    assert got["guard"]["decision"] == "block"
    assert any("reasoning" in r for r in got["guard"].get("reasons", []))
    assert "secret" not in got["reasoning"] and DENIED not in raw_unescaped(got)


@pytest.mark.parametrize("mode", MODES)
def test_a_blocked_answer_does_not_ship_its_reasoning(fake_backend, tmp_path, mode):
    fake_backend.set(reasoning="field", reasoning_text="Thinking about the customer.", text=f"Here is {DENIED}.")
    with guard_with(fake_backend, tmp_path, policy(mode)) as base:
        got = ask(base, mode)
    assert got["guard"]["decision"] == "block"
    assert got["reasoning"] == "" and "Thinking about the customer" not in got["raw"]


@pytest.mark.parametrize("mode", MODES)
def test_reasoning_longer_than_the_limit_is_a_violation(fake_backend, tmp_path, mode):
    fake_backend.set(reasoning="field", reasoning_text="Hmm. " * 600, text="Short answer.")
    with guard_with(fake_backend, tmp_path, policy(mode)) as base:
        got = ask(base, mode)
    assert got["guard"]["decision"] == "block"
    assert "Hmm." not in got["raw"]


def test_check_none_sends_reasoning_unchecked_but_never_with_a_replaced_answer(fake_backend, tmp_path):
    fake_backend.set(reasoning="field", reasoning_text=f"Mail {EMAIL}.", text="Fine answer.")
    with guard_with(fake_backend, tmp_path, policy("nonstream", reasoning={"client": "keep", "check": "none"})) as base:
        got = ask(base, "nonstream")
        assert EMAIL in got["reasoning"]  # the operator chose this
        fake_backend.set(reasoning="field", reasoning_text=f"Mail {EMAIL}.", text=f"Fine answer with {DENIED}.")
        got = ask(base, "nonstream")
        assert got["guard"]["decision"] == "block" and got["reasoning"] == ""


def test_reasoning_check_setting_is_validated():
    from guard.policy.schema import ReasoningPolicy

    assert ReasoningPolicy().check == "patterns"
    with pytest.raises(ValueError):
        ReasoningPolicy.model_validate({"check": "everything"})


# ---------------------------------------------------------------- item 2: a bare </think>


@pytest.mark.parametrize("mode", MODES)
def test_text_before_a_bare_closing_tag_is_checked_as_answer(fake_backend, tmp_path, mode):
    fake_backend.set(text=f"Here is {DENIED} and {EMAIL}.</think>Nothing to see.")
    with guard_with(fake_backend, tmp_path, policy(mode, reasoning={"client": "strip"})) as base:
        got = ask(base, mode)
    assert got["guard"]["decision"] == "block"
    assert DENIED not in raw_unescaped(got) and EMAIL not in raw_unescaped(got)


@pytest.mark.parametrize("mode", MODES)
def test_stream_and_non_stream_agree_on_a_bare_closing_tag(fake_backend, tmp_path, mode):
    fake_backend.set(text="First part.</think> Second part.")
    with guard_with(fake_backend, tmp_path, {"reasoning": {"client": "keep"}, "checks": {"max_chars": 4000}, "streaming": {"mode": "buffer" if mode == "nonstream" else mode}}) as base:
        got = ask(base, mode)
    assert got["reasoning"] == ""
    assert got["content"].replace(" ", "") == "Firstpart.</think>Secondpart."


def test_a_model_whose_prompt_opens_think_still_splits_at_the_first_closing_tag(fake_backend, tmp_path):
    from tests.support import run_guard, settings_for, write_policies

    write_policies(tmp_path / "p", {"name": "default", **CHECKED})
    settings = settings_for(fake_backend.base_url, tmp_path / "p")
    settings.models[0].think_opened_in_prompt = True
    fake_backend.set(text=f"Thinking, mail {EMAIL}.</think>The answer.")
    with run_guard(settings) as base:
        for mode in ("nonstream", "stream"):
            got = received(base, {"messages": USER, "stream": mode == "stream"})
            assert got["content"].strip() == "The answer."
            assert "Thinking" in got["reasoning"] and EMAIL not in got["reasoning"]


# ---------------------------------------------------------------- reasoning.check: all

TRUE = "DeepSeek-V3 has 671B total parameters, with 37B activated per token."
FALSE = "DeepSeek-V3 has 670B parameters and was trained on 18 trillion tokens."


@pytest.mark.parametrize("check,decision", [("patterns", "pass"), ("all", "block")])
def test_unsupported_figures_in_reasoning_count_when_the_policy_grounds_reasoning(fake_backend, tmp_path, knowledge_index, check, decision):
    from tests.support import run_guard, settings_for, write_policies

    write_policies(tmp_path / "p", {
        "name": "default",
        "reasoning": {"client": "keep", "check": check},
        "checks": {"grounding": {"top_k": 4}},
        "decision": {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "block"}], "timeout_ms": 60000},
    })
    fake_backend.set(reasoning="field", reasoning_text=FALSE, text=TRUE)
    settings = settings_for(fake_backend.base_url, tmp_path / "p", knowledge={"index_dir": str(knowledge_index)})
    with run_guard(settings, warm=True) as base:
        got = received(base, {"messages": [{"role": "user", "content": "How many parameters does DeepSeek-V3 have?"}]})
    assert got["guard"]["decision"] == decision
    assert (FALSE in got["reasoning"]) == (decision == "pass")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab </>thinkx.", max_size=40), cuts=st.lists(st.integers(1, 6), max_size=12), opened=st.booleans())
def test_stream_splitter_and_whole_split_agree_on_any_text(text, cuts, opened):
    """Whatever tags a model emits, where they are and however the stream cuts them, the stream
    and non-stream paths take the same text as reasoning and the same as answer."""
    from guard.reasoning import ThinkSplitter, split_think

    pieces, i = [], 0
    for c in cuts:
        pieces.append(text[i : i + c])
        i += c
    pieces.append(text[i:])
    s = ThinkSplitter(opened=opened)
    r, a = "", ""
    for p in pieces:
        dr, da = s.feed(p)
        r, a = r + dr, a + da
    dr, da = s.flush()
    r, a = r + dr, a + da
    exp_r, exp_a = split_think(text, opened=opened)
    assert r.strip() == (exp_r or "").strip()
    assert a.strip() == exp_a.strip()
