"""What callers of a held or blocked answer read: human text in their language, nothing withheld."""

from __future__ import annotations

import json

import httpx
from test_hold_release import FALSE, KEY, QUESTION, guarded, store_url  # noqa: F401 - fixtures

from guard.policy.messages import accepted_languages, end_user_message, hold_message, pick_language
from guard.policy.schema import Policy

ZH = "请问DeepSeek-V3有多少参数？"


def ask(base, question=QUESTION, **headers):
    r = httpx.post(f"{base}/chat/completions", timeout=60,
                   headers={"authorization": f"Bearer {KEY}", **headers},
                   json={"model": "test-model", "messages": [{"role": "user", "content": question}]})
    assert r.status_code == 200, r.text
    return r.json()


def test_accept_language_is_ranked_by_quality():
    assert accepted_languages("en-US;q=0.5, zh-CN, fr;q=0") == ["zh", "en"]
    assert accepted_languages("*") == [] and accepted_languages(None) == []
    assert pick_language(["en", "zh"], "fr, zh-TW;q=0.8") == "zh"
    assert pick_language(["en", "zh"], None, ZH) == "zh"
    assert pick_language(["en", "zh"], "de", "How many?") == "en"


def test_an_old_policy_hold_message_still_wins():
    policy = Policy.model_validate({"name": "p", "hold": {"message": "Held as {review_id}."}})
    assert hold_message(policy, "rv_1", "zh") == "Held as rv_1."


def test_block_and_fallback_messages_have_chinese_unless_the_policy_wrote_its_own():
    default = Policy.model_validate({"name": "p"})
    assert end_user_message(default, "block_message", "zh-CN") == "该回答无法核实，已被拦截。"
    assert end_user_message(default, "fallback_message", None, ZH).startswith("根据现有资料")
    assert end_user_message(default, "block_message", "en") == default.decision.block_message
    own = Policy.model_validate({"name": "p", "decision": {"block_message": "Not verified."}})
    assert end_user_message(own, "block_message", "zh") == "Not verified."
    both = Policy.model_validate({"name": "p", "decision": {"block_message": "Not verified.",
                                                            "translations": {"block_message": {"zh": "未核实。"}}}})
    assert end_user_message(both, "block_message", "zh") == "未核实。"


def test_held_answer_says_so_in_the_callers_language_without_an_api_path(guarded, fake_backend):  # noqa: F811
    fake_backend.set(text=FALSE)
    custom = {"hold_message": {"en": "A person checks this first.", "zh": "人工核对后回复。"}}
    with guarded(hold={"wait_s": 0}) as base:
        english = ask(base)
        chinese = ask(base, **{"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
        by_question = ask(base, question=ZH)
    for body in (english, chinese, by_question):
        text = body["choices"][0]["message"]["content"]
        assert body["guard"]["decision"] == "hold" and body["guard"]["review_id"].startswith("rv_")
        assert "rv_" not in text and "/v1/guard" not in text and "GET " not in text
    assert english["choices"][0]["message"]["content"].startswith("A person is checking this answer")
    assert chinese["choices"][0]["message"]["content"] == "该回答需经人工审核后才能发送，请稍后再来查看。"
    assert by_question["choices"][0]["message"]["content"] == chinese["choices"][0]["message"]["content"]
    decision = {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "hold"}], "timeout_ms": 60000, **custom}
    with guarded(hold={"wait_s": 0}, decision=decision) as base:
        assert ask(base, **{"accept-language": "zh"})["choices"][0]["message"]["content"] == "人工核对后回复。"


def test_blocked_answer_reasons_do_not_quote_the_withheld_text(guarded, fake_backend):  # noqa: F811
    fake_backend.set(text=FALSE)
    block = {"bands": [{"min": 0.6, "action": "pass"}, {"min": 0.0, "action": "block"}], "timeout_ms": 60000}
    with guarded(decision=block) as base:
        body = ask(base)
        chinese = ask(base, **{"accept-language": "zh-CN"})
    assert chinese["choices"][0]["message"]["content"] == "该回答无法核实，已被拦截。"
    assert body["guard"]["decision"] == "block"
    reasons = " ".join(body["guard"]["reasons"])
    assert "670B" not in reasons and "DeepSeek" not in reasons and "(withheld)" in reasons
    assert "670B" not in json.dumps(body["guard"], ensure_ascii=False)
    assert body["choices"][0]["message"]["content"] == "The answer was withheld because it could not be verified."
    with guarded(decision={**block, "expose_reasons": "full"}) as base:
        full = ask(base)
    assert any(r.startswith("unsupported: DeepSeek-V3 has 670B") for r in full["guard"]["reasons"])
