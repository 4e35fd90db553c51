"""Dutch word forms: expand a lexicon word to its inflections, spelling variants and typos.

Helpline staff write lexicon words in their base form ("slaan", "blauwe plek"); this module makes the
forms people actually type ("sloeg", "geslagen", "slaat", "geslage", "sloech") so that matching is
robust to inflection, missing diacritics and small typos.
"""
from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Callable, Dict, Iterable, Optional, Set

VOWELS = set("aeiou")
INSEPARABLE_PREFIXES = ("be", "ver", "ont", "her", "mis", "ge", "er")


def strip_accents(text: str) -> str:
    """'één' -> 'een', 'suïcide' -> 'suicide'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


# Chat spellings of short words, written out so that one lexicon entry ("mijn vader") finds both.
CHAT_SPELLINGS = {"mn": "mijn", "m'n": "mijn", "mijne": "mijn", "zn": "zijn", "z'n": "zijn", "k": "ik", "'k": "ik", "ff": "even", "iemd": "iemand"}


def normalise(text: str) -> str:
    """Lower case, no diacritics, curly quotes straightened, chat spellings written out ('mn' -> 'mijn')."""
    text = strip_accents(text.lower()).replace("\u2019", "'").replace("\u2018", "'")
    if len(text) > 1 and text[-1] in ".,!?" and text[-2].isalpha():
        text = text.rstrip(".,!?")  # the tokenizer keeps 'me.' (an abbreviation in its rules) as one token
    return " ".join(CHAT_SPELLINGS.get(word, word) for word in text.split(" "))


def verb_stem(infinitive: str) -> str:
    """The Dutch first-person stem of a (regular) infinitive: 'maken' -> 'maak', 'meppen' -> 'mep'."""
    if infinitive.endswith("aan"):
        return infinitive[:-2]  # slaan -> sla, staan -> sta
    if infinitive.endswith(("oen", "zien")):
        return infinitive[:-1]  # doen -> doe, zien -> zie
    stem = infinitive[:-2]
    if len(stem) >= 2 and stem[-1] == stem[-2] and stem[-1] not in VOWELS:
        return stem[:-1]  # meppen -> mep
    if stem.endswith("v"):
        stem = stem[:-1] + "f"
    elif stem.endswith("z"):
        stem = stem[:-1] + "s"
    opens = len(stem) >= 3 and stem[-1] not in VOWELS | {"w", "j"} and stem[-3] not in VOWELS
    if opens and stem[-2] in "aou":
        stem = stem[:-1] + stem[-2] + stem[-1]  # maken -> maak, halen -> haal
    elif opens and stem[-2] == "e" and not infinitive.endswith(("eren", "elen", "enen")):
        stem = stem[:-1] + "e" + stem[-1]  # geven -> geef
    return stem


def verb_forms(infinitive: str) -> Set[str]:
    """Present, weak past and participle forms of a Dutch infinitive (strong pasts come from data)."""
    stem = verb_stem(infinitive)
    root = infinitive[:-2]
    voiceless = root[-1:] in set("tkfsp") or root.endswith("ch")  # 't kofschip, on the infinitive
    past = "te" if voiceless else "de"
    forms = {infinitive, stem, stem + past, stem + past + "n"}
    if not stem.endswith("t"):
        forms.add(stem + "t")
    ending = "t" if voiceless else "d"
    participle_core = stem if stem.endswith(ending) else stem + ending
    if infinitive.startswith(INSEPARABLE_PREFIXES):
        forms.add(participle_core)
    else:
        forms.add("ge" + participle_core)
    return forms


def typo_variants(word: str) -> Set[str]:
    """Single deletions and adjacent swaps, only for long words so short ones never collide."""
    if len(word) < 7 or " " in word:
        return set()
    variants = set()
    for i in range(1, len(word)):  # keep the first letter
        variants.add(word[:i] + word[i + 1 :])
        if i < len(word) - 1:
            variants.add(word[:i] + word[i + 1] + word[i] + word[i + 2 :])
    variants.discard(word)
    return variants


def expand_word(
    word: str, extra_forms: Iterable[str] = (), typos: bool = True, is_word: Optional[Callable[[str], bool]] = None, not_forms: Iterable[str] = ()
) -> Set[str]:
    """Every form of one lexicon word (single token, normalised). A typo that is itself a Dutch word
    (`is_word`: "aanraden" for "aanranden", "stopte" for "stompte") is no typo and is left out; a
    generated form listed in `not_forms` is left out too ("ben" is no verb form of the noun "benen")."""
    word = normalise(word)
    forms = {word} | {normalise(f) for f in extra_forms}
    if word.endswith("en") and len(word) > 4:
        forms |= verb_forms(word) - set(not_forms)
    spoken = set()
    for form in forms:
        if form.endswith("en") and len(form) > 4:
            spoken.add(form[:-1])  # geslagen -> geslage (spoken Dutch drops the n)
        if form.endswith(("d", "dt")) and len(form) > 4:
            spoken.add(form.rstrip("dt") + "t")  # vermoord -> vermoort
    forms |= spoken
    if typos:
        for form in list(forms):
            forms |= {v for v in typo_variants(form) if not (is_word and is_word(v))}
    return forms


WORD_MARK = "~"  # key prefix in the lemma_forms table: "~aanraden" means "aanraden" is a Dutch word


def lemma_forms(language: str = "nl") -> Dict[str, Set[str]]:
    """lemma -> inflected forms, reversed from spacy-lookups-data's lookup table (form -> lemma)."""
    import gzip
    import json

    import spacy_lookups_data

    path = Path(spacy_lookups_data.__file__).parent / "data" / f"{language}_lemma_lookup.json.gz"
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        table: Dict[str, str] = json.load(handle)
    reverse: Dict[str, Set[str]] = {}
    for form, lemma in table.items():
        reverse.setdefault(normalise(lemma), set()).add(normalise(form))
    for word in {normalise(w) for pair in table.items() for w in pair}:
        reverse[WORD_MARK + word] = set()  # "is a Dutch word": a typo variant that is one is no typo
    return reverse
