"""Why a claim scored as it did, as a code with parameters, rendered per language.

Checks record reasons as codes (``{"code": "number_missing", "params": {"value": "670B"}}``)
beside English text, so the reviewer page and ``guard check`` can show them in the reader's
language without parsing English. Every code a check emits has a template here in each
supported language; a code without one renders its English text (or its name), never fails.
"""

from __future__ import annotations

from typing import Any

# code -> language -> template (str.format with the code's params).
TEMPLATES: dict[str, dict[str, str]] = {
    "number_missing": {"en": "number {value} not in evidence", "zh": "证据中没有数字 {value}"},
    "name_missing": {"en": "name {value} not in evidence", "zh": "证据中没有名称 {value}"},
    "novel_run": {"en": "{count} consecutive characters not in evidence", "zh": "连续 {count} 个字不在证据中"},
    "unstated_addition": {
        "en": "what it adds to the question is not in evidence: {words}",
        "zh": "回答在问题之外补充的内容不在证据中：{words}",
    },
    "low_coverage": {"en": "only {share} of the words are in the evidence", "zh": "只有 {share} 的词出现在证据中"},
    "refusal": {"en": "refusal", "zh": "拒答"},
    # Talk the grounding check does not grade (guard.checks.grounding.claims): never lowers confidence.
    "greeting": {"en": "greeting, not checked", "zh": "问候语，不检查"},
    "thanks": {"en": "thanks, not checked", "zh": "致谢，不检查"},
    "apology": {"en": "apology or sympathy, not checked", "zh": "道歉或慰问，不检查"},
    "agreement": {"en": "agreement or acknowledgement, not checked", "zh": "附和或确认，不检查"},
    "pleasantry": {"en": "pleasantry, not checked", "zh": "客套话，不检查"},
    "chitchat": {"en": "small talk, not checked", "zh": "闲聊，不检查"},
    "framing": {"en": "framing (a source, a lead-in, a heading or a transition), not checked", "zh": "引导语（出处、引言、标题或过渡），不检查"},
    "hedge": {"en": "hedge (uncertainty about itself only), not checked", "zh": "不确定的表述（仅限本句），不检查"},
    "question": {"en": "question to the user, not checked", "zh": "向用户提问，不检查"},
    "opinion": {"en": "first-person feeling or opinion, not checked", "zh": "个人感受或观点，不检查"},
    # Contradictions carry the clashing words as params (claim_word, evidence_word, kind), so
    # the reviewer page can mark them in the claim and in the evidence span.
    "contradiction_polarity": {
        "en": "contradicts: “{evidence_word}” in evidence, “{claim_word}” in the claim",
        "zh": "与证据矛盾：证据为“{evidence_word}”，回答为“{claim_word}”",
    },
    "contradiction_antonym": {
        "en": "contradicts: “{evidence_word}” in evidence, not “{claim_word}”",
        "zh": "与证据矛盾：证据为“{evidence_word}”，不是“{claim_word}”",
    },
    "contradiction_exclusive": {
        "en": "contradicts: the evidence says “{evidence_word}”, not “{claim_word}”",
        "zh": "与证据矛盾：证据说的是“{evidence_word}”，不是“{claim_word}”",
    },
    "contradiction_order": {
        "en": "contradicts the order in the evidence: {evidence_word}",
        "zh": "与证据中的先后顺序矛盾：{evidence_word}",
    },
    "contradiction_only": {
        "en": "contradicts: “{claim_word}”, but the evidence lists “{evidence_word}” too",
        "zh": "与证据矛盾：回答为“{claim_word}”，但证据还列出了“{evidence_word}”",
    },
    "contradiction_role": {
        "en": "contradicts: roles reversed, the evidence says “{evidence_word}”",
        "zh": "与证据矛盾：角色颠倒，证据为“{evidence_word}”",
    },
    "number_misbound": {
        "en": "{value} is stated for “{evidence_word}” in the evidence, not for “{claim_word}” ({other} is)",
        "zh": "证据中 {value} 对应“{evidence_word}”，不是“{claim_word}”（“{claim_word}”对应 {other}）",
    },
    "name_unbound": {
        "en": "{value} is named for {found_for}, not {subject}",
        "zh": "证据中 {value} 属于 {found_for}，不是 {subject}",
    },
}


def code(name: str, **params: Any) -> dict[str, Any]:
    """One reason code, JSON-safe."""
    return {"code": name, "params": {k: v if isinstance(v, (int, float, bool)) else str(v) for k, v in params.items()}}


def render(reason: dict[str, Any], lang: str = "en") -> str:
    """The reason in ``lang`` ("en" or "zh"), falling back to English, then to the code's name."""
    name = str(reason.get("code", ""))
    params = reason.get("params") or {}
    templates = TEMPLATES.get(name)
    if not templates:
        return name
    template = templates.get(lang) or templates["en"]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return templates["en"] if template is not templates["en"] else name
