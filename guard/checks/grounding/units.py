"""A claim's text cut once into the units the features compare: stems, word pairs, Chinese
bigrams and trigrams, figures, names, dates and the subject it is about."""

from __future__ import annotations

from dataclasses import dataclass

from guard.checks.grounding.binding import anchor
from guard.text import cjk, tokens
from guard.text.normalize import Aliases, DateMention, default_aliases, find_dates, strip_citations
from guard.text.numbers import Quantity, extract_quantities, is_unit


@dataclass(frozen=True, slots=True)
class Claim:
    """A sentence cut into the units the features compare, once per sentence."""

    text: str
    lower: str
    stems: tuple[str, ...]
    pairs: tuple[tuple[str, str], ...]
    cjk2: tuple[str, ...]
    cjk3: tuple[str, ...]
    quantities: tuple[Quantity, ...]
    names: tuple[str, ...]
    subject: str | None = None  # the leading name the claim is about (``binding.anchor``)
    dates: tuple[DateMention, ...] = ()

    @classmethod
    def of(cls, text: str, aliases: Aliases | None = None) -> "Claim":
        text = strip_citations(text)
        ws = tokens.words(text)
        names = [n for n in tokens.capitalised_terms(text) if not is_unit(n)] + cjk.foreign_names(text) + cjk.person_names(text)
        known = (aliases or default_aliases()).mentions(text)
        # A table name written in Chinese (谷歌, 阿里云) is a name the evidence must state too.
        names += [form for form, _ in known if not form.isascii() and all(form not in n for n in names)]
        return cls(
            text=text,
            lower=text.lower(),
            stems=tuple(tokens.content_stems(text)),
            pairs=tuple(zip(ws, ws[1:])),
            cjk2=tuple(cjk.content_ngrams(text, 2)),
            cjk3=tuple(cjk.content_ngrams(text, 3)),
            quantities=tuple(extract_quantities(text)),
            names=tuple(dict.fromkeys(names)),
            subject=anchor(text, names),
            dates=tuple(find_dates(text)),
        )
