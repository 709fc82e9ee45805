"""Reasoning models: thinking kept apart from the answer, kept or stripped per policy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openai import OpenAI

from guard.reasoning import ThinkSplitter, split_think
from tests.support import run_guard, settings_for, write_policies


def test_split_think_variants():
    assert split_think("<think>a b</think>\n\nAnswer.") == ("a b", "Answer.")
    assert split_think("  <think>\nhm\n</think>Yes") == ("hm", "Yes")
    # a bare closing tag is answer text unless the model's prompt opened the block
    assert split_think("mid-thought</think>The answer") == (None, "mid-thought</think>The answer")
    assert split_think("mid-thought</think>The answer", opened=True) == ("mid-thought", "The answer")
    assert split_think("Plain answer") == (None, "Plain answer")
    assert split_think("<think>cut off") == ("cut off", "")


@given(st.text(alphabet="ab<>/thinkx ", max_size=30), st.text(alphabet="ab<>/thinkx ", max_size=30), st.lists(st.integers(1, 7), max_size=20))
def test_streaming_splitter_agrees_with_whole_split(thought, answer, cuts):
    if "</think>" in thought or "<think>" in thought or "<think>" in answer or "</think>" in answer:
        # a literal tag in the answer is the answer's own text; the property is about the reasoning's tags
        return
    whole = f"<think>{thought}</think>{answer}"
    pieces, i = [], 0
    for c in cuts:
        pieces.append(whole[i : i + c])
        i += c
    pieces.append(whole[i:])
    s = ThinkSplitter()
    r, a = "", ""
    for p in pieces:
        dr, da = s.feed(p)
        r, a = r + dr, a + da
    dr, da = s.flush()
    r, a = r + dr, a + da
    exp_r, exp_a = split_think(whole)
    assert r.strip() == (exp_r or "").strip()
    assert a.strip() == exp_a.strip()
    assert "<think>" not in a and "</think>" not in a


@pytest.fixture
def base_for(fake_backend, tmp_path):
    def make(client_mode: str):
        d = tmp_path / client_mode
        write_policies(d, {"name": "default", "reasoning": {"client": client_mode}})
        return run_guard(settings_for(fake_backend.base_url, d))

    return make


@pytest.mark.parametrize("style", ["field", "think"])
@pytest.mark.parametrize("mode", ["keep", "strip"])
def test_reasoning_through_the_proxy(base_for, fake_backend, style, mode):
    fake_backend.set(reasoning=style, reasoning_text="Let me count the letters.", text="There are three.")
    with base_for(mode) as base:
        c = OpenAI(base_url=base, api_key="x", max_retries=0)
        r = c.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "q"}])
        msg = r.choices[0].message
        assert msg.content == "There are three."
        got = (msg.model_extra or {}).get("reasoning_content")
        assert got == ("Let me count the letters." if mode == "keep" else None)

        chunks = list(c.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "q"}], stream=True))
        content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        thought = "".join((ch.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for ch in chunks if ch.choices)
        assert content.strip() == "There are three."
        assert "<think>" not in content and "</think>" not in content
        assert thought.strip() == ("Let me count the letters." if mode == "keep" else "")


def test_stream_that_starts_mid_thought_when_the_template_opened_think(fake_backend, tmp_path):
    """R1 distills whose chat template opens <think>: the output has only the closing tag."""
    write_policies(tmp_path / "p", {"name": "default", "reasoning": {"client": "keep"}})
    settings = settings_for(fake_backend.base_url, tmp_path / "p")
    settings.models[0].think_opened_in_prompt = True
    fake_backend.set(text="Counting the letters first.</think>There are three.")
    with run_guard(settings) as base:
        c = OpenAI(base_url=base, api_key="x", max_retries=0)
        chunks = list(c.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "q"}], stream=True))
        content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
        thought = "".join((ch.choices[0].delta.model_extra or {}).get("reasoning_content") or "" for ch in chunks if ch.choices)
        assert content.strip() == "There are three."
        assert thought.strip() == "Counting the letters first."
        whole = c.chat.completions.create(model="test-model", messages=[{"role": "user", "content": "q"}])
        assert whole.choices[0].message.content == "There are three."
