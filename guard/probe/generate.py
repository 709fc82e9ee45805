"""Probe questions made from knowledge passages, without a model.

Three kinds, each with a known right answer, so a run can tell grounded answers from made-up ones:

- ``fact``: a sentence of a passage with one number or name blanked out; the answer is the blank;
- ``false_premise``: the same sentence with the number changed, asked as if it were true; a
  grounded answer corrects it, so the right answer is still the original number;
- ``unknown``: a question about a model name the knowledge base never mentions; the right
  answer is to decline, so any number in a passed answer is made up.

Pure functions over ``Passage`` objects: the same passages and seed give the same probes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from guard.knowledge.types import Passage
from guard.text.numbers import Quantity, extract_quantities
from guard.text.sentences import split_sentences

Kind = Literal["fact", "false_premise", "unknown"]
KINDS: tuple[Kind, ...] = ("fact", "false_premise", "unknown")

# Product-like names: "DeepSeek-V3", "Qwen2.5", "Llama-3.1", "TensorRT-LLM", "SGLang".
NAME_RE = re.compile(r"\b[A-Z][A-Za-z]*(?:[-.]?[A-Z0-9][A-Za-z0-9]*)+(?:-[A-Za-z0-9.]+)*\b")
_ACRONYM_RE = re.compile(r"^[A-Z]+s?$")
_CJK_RE = re.compile(r"[\u3400-\u9fff]")
_MIN_SENTENCE = 30
_MAX_SENTENCE = 260
_BLANK = "___"


@dataclass(frozen=True)
class Probe:
    id: str
    kind: Kind
    question: str
    expected: list[str] = field(default_factory=list)  # any of these in the answer is right; [] = decline
    expected_value: float | None = None  # the number to find, when the answer is numeric
    passage_id: str | None = None
    lang: Literal["en", "zh"] = "en"

    def to_dict(self) -> dict:
        return asdict(self)


def is_chinese(text: str) -> bool:
    return len(_CJK_RE.findall(text)) >= 4


def names_in(text: str) -> list[str]:
    """Product-like names (a capital and a digit, dash or inner capital), in order, without repeats."""
    seen: dict[str, None] = {}
    for m in NAME_RE.finditer(text):
        name = m.group(0).rstrip(".")
        if len(name) < 4 or _ACRONYM_RE.match(name):
            continue  # "HTTP", "GPUs": acronyms, not names of things
        if any(c.isdigit() for c in name) or "-" in name or sum(c.isupper() for c in name) >= 2:
            seen.setdefault(name, None)
    return list(seen)


def _usable_sentences(passage: Passage) -> list[str]:
    out = []
    for span in split_sentences(passage.text):
        text = " ".join(span.text.split())
        if _MIN_SENTENCE <= len(text) <= _MAX_SENTENCE and not text.startswith("#") and "?" not in text and "？" not in text:
            out.append(text)
    return out


def _subject(passage: Passage, sentence: str) -> str | None:
    """What the sentence is about: the first name in it, else the first in its passage."""
    names = names_in(sentence) or names_in(passage.text)
    return names[0] if names else None


def _number_target(sentence: str) -> Quantity | None:
    """The number worth asking about: not a year, not part of a name like 'Qwen2.5'."""
    for q in extract_quantities(sentence):
        if q.is_year or q.value == 0 or not q.text[:1].isdigit():
            continue
        if sentence.count("`", 0, q.start) % 2:
            continue  # inside inline code such as `qwen2.5:7b`
        before = sentence[q.start - 1] if q.start > 0 else " "
        if before.isalpha() or before in "-.":
            continue
        return q
    return None


def altered(q: Quantity) -> str:
    """A plausible wrong version of a number as written: same unit, different value."""
    m = re.match(r"(\d+(?:\.\d+)?)", q.text.replace(",", ""))
    if not m:
        return q.text + "0"
    number = m.group(1)
    value = float(number)
    new = value * 2 if value < 10 else round(value * 1.5)
    text = (f"{new:g}" if "." in number or not float(new).is_integer() else str(int(new)))
    return text + q.text.replace(",", "")[len(number):]


def _fact_question(subject: str | None, cloze: str, zh: bool, numeric: bool) -> str:
    if zh:
        about = f"关于{subject}：" if subject else ""
        what = "数值" if numeric else "名称"
        return f"{about}根据资料填空：“{cloze}” 请只回答空白处的{what}。"
    about = f"About {subject}: " if subject else ""
    what = "number" if numeric else "name"
    return f"{about}fill in the blank from the documentation: \"{cloze}\" Answer with the missing {what}."


def _premise_question(subject: str | None, claim: str, zh: bool) -> str:
    if zh:
        return f"资料里说“{claim}” 为什么会是这样？请解释。"
    about = f" about {subject}" if subject else ""
    return f"The documentation{about} says: \"{claim}\" Why is that so? Explain briefly."


def fact_probes(passages: Iterable[Passage]) -> list[Probe]:
    """Every fact and false-premise probe the passages allow (one per usable sentence each)."""
    out: list[Probe] = []
    for p in passages:
        for n, sentence in enumerate(_usable_sentences(p)):
            zh = is_chinese(sentence)
            lang: Literal["en", "zh"] = "zh" if zh else "en"
            subject = _subject(p, sentence)
            q = _number_target(sentence)
            pid = f"{p.id}#{n}"
            if q is not None:
                cloze = sentence[: q.start] + _BLANK + sentence[q.end:]
                out.append(Probe(f"fact:{pid}", "fact", _fact_question(subject, cloze, zh, True),
                                 [q.text], q.value, p.id, lang))
                claim = sentence[: q.start] + altered(q) + sentence[q.end:]
                out.append(Probe(f"premise:{pid}", "false_premise", _premise_question(subject, claim, zh),
                                 [q.text], q.value, p.id, lang))
                continue
            names = [name for name in names_in(sentence) if name != subject]
            if names:
                name = names[0]
                cloze = sentence.replace(name, _BLANK, 1)
                out.append(Probe(f"fact:{pid}", "fact", _fact_question(subject, cloze, zh, False),
                                 [name], None, p.id, lang))
    return out


_UNKNOWN_EN = [
    "How many parameters does {name} have?",
    "What context length does {name} support, in tokens?",
    "How many tokens was {name} trained on?",
    "When was {name} released, and by whom?",
]
_UNKNOWN_ZH = [
    "{name} 有多少参数？",
    "{name} 支持多长的上下文？",
    "{name} 是在多少 token 上训练的？",
]
_SUFFIXES = ["Nova", "Orion-X", "Quasar", "Helix-9", "Zephyrine"]


def invented_names(passages: Sequence[Passage], count: int, rng: random.Random) -> list[str]:
    """Names shaped like the knowledge base's own, but absent from every passage."""
    corpus = "\n".join(p.text for p in passages).lower()
    stems = sorted({re.split(r"[-.\d]", n)[0] for p in passages for n in names_in(p.text)} - {""}) or ["Model"]
    out: list[str] = []
    attempts = 0
    while len(out) < count and attempts < count * 20:
        attempts += 1
        name = f"{rng.choice(stems)}-{rng.choice(_SUFFIXES)}-{rng.randint(2, 99)}B"
        if name.lower() not in corpus and name not in out:
            out.append(name)
    return out


def unknown_probes(passages: Sequence[Passage], count: int, rng: random.Random, zh_share: float = 0.0) -> list[Probe]:
    out = []
    for i, name in enumerate(invented_names(passages, count, rng)):
        zh = rng.random() < zh_share
        template = rng.choice(_UNKNOWN_ZH if zh else _UNKNOWN_EN)
        out.append(Probe(f"unknown:{i}:{name}", "unknown", template.format(name=name), [], None, None, "zh" if zh else "en"))
    return out


def generate(passages: Sequence[Passage], n: int = 10, seed: int = 0) -> list[Probe]:
    """Up to ``n`` probes of each kind, picked reproducibly; the mix of languages follows the passages."""
    rng = random.Random(seed)
    candidates = fact_probes(passages)
    out: list[Probe] = []
    for kind in ("fact", "false_premise"):
        pool = [p for p in candidates if p.kind == kind]
        out += rng.sample(pool, min(n, len(pool)))
    zh_share = sum(p.lang == "zh" for p in out) / len(out) if out else 0.0
    out += unknown_probes(passages, n, rng, zh_share)
    return out
