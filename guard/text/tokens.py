"""English word tokens, stems and named-entity-like terms, for lexical grounding.

The stemmer is deliberately crude (a word's first five letters): it lets "elected" meet
"election" and "married" meet "marriage" without a language model or a dictionary, and its
false matches join words of one family, which is harmless for coverage.
"""

from __future__ import annotations

import re

WORD_RE = re.compile(r"[A-Za-z][A-Za-z'’\-]*[A-Za-z]|[A-Za-z]")
_CAP_RE = re.compile(
    r"\b(?<![a-z]-)(?:[A-Z][a-zA-Z'’\-]*[a-z][a-zA-Z'’\-]*|[A-Z]{2,}[a-z]?s?)"
    r"(?:\s+(?:(?:of|de|da|van|von|der|den|la|le|the)\s+){0,2}(?:[A-Z][a-zA-Z'’\-]*|[A-Z]{2,}))*"
)

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves s t don may might must shall upon via per among within without
    whose however although though yet still around one yes""".split()
    # contractions: a pronoun or an auxiliary with its ending ("he's" would stem to "he"),
    # as little content as the words they join; negation is read from the raw text (polarity)
    + """i'm i'd i've i'll you're you've you'd you'll he's he'd he'll she's she'd she'll it's
    it'd it'll we're we've we'd we'll they're they've they'd they'll that's there's here's
    what's who's let's isn't aren't wasn't weren't don't doesn't didn't can't couldn't won't
    wouldn't shouldn't hasn't haven't hadn't""".split()
)

# English finite verbs, as regex alternations for the rules that ask whether a clause states
# something (claims, hedges, talk): the auxiliaries, and the suffixes of a past or third-person
# form ("released", "uses"). Each rule builds its pattern from these, so they agree on what a
# verb is; they differ only in what else they admit (modals, contractions), said where they do.
EN_AUXILIARIES = r"is|are|was|were|has|have|had|did|does|will|can|could|would"
# the common irregular past forms: "I like Qwen because Google made it" states who made it
_EN_IRREGULAR_PAST = (
    "made|won|wrote|built|led|took|gave|came|went|became|began|sold|bought|found|held|ran|said|told|left|got|"
    "brought|taught|fought|sent|spent|lost|paid|met|kept|stood|grew|knew|drew|threw|flew|rose|fell|broke|chose|"
    "spoke|drove|rode|wore|beat|struck|sang|swam|sat|overtook|shut|cut|hit|quit|cost|split|cast"
)
EN_PAST = rf"(?:[a-z]{{3,}}ed|{_EN_IRREGULAR_PAST})"
EN_PAST_OR_PRESENT = rf"(?:[a-z]{{3,}}(?:ed|s)|{_EN_IRREGULAR_PAST})"

# Words that start a sentence or a clause capitalised without being names.
_NOT_NAMES = STOPWORDS | {
    "yes", "no", "according", "based", "however", "although", "during", "after", "before",
    "since", "because", "while", "when", "where", "there", "here", "it", "this", "that",
    # calendar words are capitalised but are not names; dates are compared as numbers
    "january", "february", "march", "april", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug",
    "sep", "sept", "oct", "nov", "dec", "monday", "tuesday", "wednesday", "thursday",
    "friday", "saturday", "sunday",
}


# Stopwords that are also given names: a capitalised "Don" or "Will" before another name word
# starts the name ("Don Stoops", "Will Power"); dropping it turned "Don Stoops" into a
# "Stoops" the evidence has for Bob Stoops. ("May" stays out: "5 May Smith resigned".)
_GIVEN_NAMES = frozenset({"don", "will"})
# ... and stopwords that end a name after a name word: "Theresa May", "Formula One", "Air
# Force One" (dropping "May" left a sentence-start "Theresa", so no name was checked at all).
_NAME_ENDS = frozenset({"may", "one"})
# Imperatives an answer starts a sentence with, capitalised before a name: "Enjoy Llama 3.1,
# released by Meta" names Llama 3.1, not "Enjoy Llama".
_IMPERATIVES = frozenset(
    "enjoy try use visit see check consider ask contact watch read join follow choose pick download install "
    "meet call compare note remember imagine explore run start launch set add keep leave".split()
)
# ... and prepositions and sentence adverbs: "Besides CPUs, llama.cpp runs on GPUs" named
# "Besides CPUs", which no evidence has.
_OPENERS = frozenset(
    "besides unlike like despite except beyond instead overall today currently generally usually typically "
    "roughly approximately plus additionally moreover furthermore meanwhile otherwise similarly likewise "
    "alternatively finally firstly secondly lastly nowadays recently originally next thus therefore hence".split()
)
STARTERS = _IMPERATIVES | _OPENERS  # capitalised sentence starts that are not names


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in WORD_RE.findall(text)]


def stem(word: str) -> str:
    word = word.lower()
    if word.endswith("'s"):
        word = word[:-2]
    return word[:5]


def content_words(text: str) -> list[str]:
    """Lower-cased words without stopwords or possessive endings."""
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in content_words(text)]


def _regnal(parts: list[str]) -> bool:
    """A closing "I" after a name is a numeral ("World War I", "Elizabeth I"), not the pronoun."""
    return parts[-1] == "I" and len(parts) >= 2 and parts[-2].lower() not in _NOT_NAMES


def _given_name(parts: list[str]) -> bool:
    return len(parts) >= 2 and parts[0].lower() in _GIVEN_NAMES and parts[1].lower() not in _NOT_NAMES


def _name_end(parts: list[str]) -> bool:
    return len(parts) >= 2 and parts[-1].lower() in _NAME_ENDS and parts[-2].lower() not in _NOT_NAMES


def capitalised_terms(text: str) -> list[str]:
    """Name-like phrases: runs of capitalised words and acronyms ("Erich Maria Remarque", "NBA").

    Sentence-initial function words (The, However) are dropped; what remains is a cheap stand-in
    for named entities that works on any English text.
    """
    terms: list[str] = []
    for m in _CAP_RE.finditer(text):
        parts = [p for p in re.split(r"\s+", m.group(0)) if p]
        at_start = not text[: m.start()].strip() or text[: m.start()].rstrip()[-1] in ".!?:;\"'“‘(["
        asks = at_start and text.rstrip().endswith("?")  # "Will DeepSeek release it?"
        while parts and parts[0].lower() in _NOT_NAMES and (asks or not _given_name(parts)):
            parts = parts[1:]
        if at_start and len(parts) > 1 and parts[0] == m.group(0).split()[0] and parts[0].lower() in STARTERS:
            parts = parts[1:]
        while parts and parts[-1].lower() in _NOT_NAMES and not _regnal(parts) and not _name_end(parts):
            parts = parts[:-1]
        if not parts:
            continue
        if at_start and len(parts) == 2 and parts[1] == "I" and parts[0] == m.group(0).split()[0]:
            parts = parts[:1]  # "Sure I would...", "Today I": the pronoun after a sentence-start capital
        single_word = len(parts) == 1 and not parts[0].isupper()
        if at_start and single_word and parts[0] == m.group(0).split()[0]:
            continue  # "Contact me..." : a capital that only marks the sentence start
        terms.append(" ".join(parts))
    return terms
