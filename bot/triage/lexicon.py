"""The signal lexicon: YAML word groups and signal rules (data/lexicon/), matched with spaCy's PhraseMatcher.

A *group* is a named list of words or short phrases (base forms; inflections, spelling variants and
typos are generated) and is matched with spaCy's PhraseMatcher on the normalised form (NORM). A *signal* says which groups (or literal words) must occur together in one
sentence to raise a tier, e.g. `all: [hit, person]` for "ik heb hem geslagen".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Set, Tuple

import yaml
from spacy.matcher import PhraseMatcher
from spacy.tokens import Doc, Token
from spacy.vocab import Vocab

from bot.triage.forms import WORD_MARK, expand_word, normalise
from bot.triage.tiers import Tier

NORM_ATTR = "adem_norm"  # kept for code that reads token._.adem_norm; matching uses token.norm_
if not Token.has_extension(NORM_ATTR):
    Token.set_extension(NORM_ATTR, getter=lambda token: token.norm_)

NOT_TYPOS = "not_typos"  # a list of words, not a group: Dutch words the lemma table lacks ("gestopt" is no typo of "gestompt")
# Groups the engine itself relies on (speaker, modifiers); the lexicon must define them.
REQUIRED_GROUPS = (
    "first_subject",
    "first_object",
    "child_writer",
    "witness",
    "fear",
    "negation",
    "hyperbole",
    "harmless_context",
    "immediacy",
    "sibling",
    "passive",
    "past",
    "young_agent",
    "not_immediate",
    "adult_writer",
    "third_party",
    "passive_aux",
    "no_longer",
    "habit",
    "subordinator",
    "tantrum",
    "play_context",
    "third_subject",
    "not_object",
)


@dataclass(frozen=True)
class Signal:
    """One rule: every item of `all` in the same sentence (within `window` tokens if set)."""

    id: str
    tier: Tier
    all: Tuple[str, ...]
    window: Optional[int] = None
    weak: bool = False  # cancelled by harmless context (sports, games, films) and hyperbole
    speaker: Optional[str] = None  # fixed speaker, else worked out from the sentence
    unless: Tuple[str, ...] = ()
    unless_near: Tuple[str, ...] = ()  # not when such words touch the signal's words: "slaat de deur dicht", "dreigt weg te lopen"
    can_be_now: bool = False  # becomes acute next to "nu", "op dit moment", ...
    at_end: bool = False  # only when the words end the sentence ("... maar eigenlijk wil ik niet meer")
    past_tier: Tier = Tier.violence  # an acute signal told in the past ("vorige zomer pillen geslikt")


@dataclass
class Lexicon:
    """Compiled groups and signals."""

    groups: Dict[str, List[List[Set[str]]]]
    signals: List[Signal]
    matcher: PhraseMatcher = field(repr=False)

    @classmethod
    def load(cls, directory: Path, vocab: Vocab, lemma_forms: Optional[Dict[str, Set[str]]] = None) -> "Lexicon":
        """Read every *.yml in `directory` (keys `groups` and `signals`) and compile the matcher."""
        sources = {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(directory).glob("*.yml"))}
        return cls.from_sources(sources, vocab, lemma_forms)

    @classmethod
    def from_sources(cls, sources: Dict[str, str], vocab: Vocab, lemma_forms: Optional[Dict[str, Set[str]]] = None) -> "Lexicon":
        """Compile from file name -> YAML text (as stored in a trained model)."""
        raw_groups: Dict[str, list] = {}
        raw_signals: List[dict] = []
        for name in sorted(sources):
            content = yaml.safe_load(sources[name]) or {}
            for name, entries in (content.get("groups") or {}).items():
                raw_groups.setdefault(name, []).extend(entries)
            for signal in content.get("signals") or []:
                raw_signals.append({**signal, "_file": name})
        real_words = {normalise(str(w)) for w in raw_groups.pop(NOT_TYPOS, [])}
        groups = {name: compile_entries(entries, lemma_forms, real_words) for name, entries in raw_groups.items()}
        signals = []
        for raw in raw_signals:
            items = tuple(str(i) for i in raw["all"])
            for item in items:
                if item not in groups:
                    groups[item] = compile_entries([item], lemma_forms, real_words)
            for item in [*(raw.get("unless") or []), *(raw.get("unless_near") or [])]:
                if item not in groups:
                    groups[item] = compile_entries([item], lemma_forms, real_words)
            signals.append(
                Signal(
                    id=str(raw["id"]),
                    tier=Tier.parse(raw["tier"]),
                    all=items,
                    window=raw.get("window"),
                    weak=bool(raw.get("weak", False)),
                    speaker=raw.get("speaker"),
                    unless=tuple(raw.get("unless", []) or []),
                    unless_near=tuple(raw.get("unless_near", []) or []),
                    can_be_now=bool(raw.get("can_be_now", False)),
                    at_end=bool(raw.get("at_end", False)),
                    past_tier=Tier.parse(raw.get("past_tier", "violence")),
                )
            )
        missing = [g for g in REQUIRED_GROUPS if g not in groups]
        if missing:
            raise ValueError(f"lexicon misses required groups: {missing}")
        matcher = PhraseMatcher(vocab, attr="NORM")
        for name, phrases in groups.items():
            matcher.add(name, [pattern_doc(vocab, words) for phrase in phrases for words in product(*map(sorted, phrase))])
        return cls(groups=groups, signals=signals, matcher=matcher)

    def find(self, doc: Doc) -> Dict[str, List[Tuple[int, int]]]:
        """Group name -> token spans (start, end) where it occurs in the doc."""
        for token in doc:  # lower case, no diacritics: one Python call per token, then C-level matching
            token.norm_ = normalise(token.text)
        found: Dict[str, List[Tuple[int, int]]] = {}
        for match_id, start, end in self.matcher(doc):
            name = self.matcher.vocab.strings[match_id]
            found.setdefault(name, []).append((start, end))
        return found


def pattern_doc(vocab: Vocab, words: Tuple[str, ...]) -> Doc:
    """A pattern for the PhraseMatcher: the normalised words as NORM."""
    doc = Doc(vocab, words=list(words))
    for token, word in zip(doc, words):
        token.norm_ = word
    return doc


def compile_entries(entries: Iterable, lemma_forms: Optional[Dict[str, Set[str]]], real_words: Set[str] = frozenset()) -> List[List[Set[str]]]:
    """YAML entries -> phrases -> per-token sets of accepted normalised forms.

    An entry is `word`, `multi word phrase`, or `{word: [extra forms]}` for irregular forms.
    `real_words` are Dutch words missing from spaCy's lemma table: never read as a typo of a lexicon word.
    """
    phrases: List[List[Set[str]]] = []
    for entry in entries:
        if isinstance(entry, dict):
            for word, extra in entry.items():
                phrases.append([token_forms(str(word), extra or [], lemma_forms, real_words=real_words)])
            continue
        words = str(entry).split()
        single = len(words) == 1  # phrases keep their wording: inflection rules only, no lemma table or typos
        phrases.append([token_forms(w, [], lemma_forms if single else None, typos=single, real_words=real_words) for w in words])
    return phrases


def token_forms(
    word: str, extra: Iterable[str], lemma_forms: Optional[Dict[str, Set[str]]], typos: bool = True, real_words: Set[str] = frozenset()
) -> Set[str]:
    """All accepted forms of one token of a lexicon entry."""
    word = normalise(word)
    known = set(lemma_forms.get(word, ())) if lemma_forms else set()
    if word.endswith("aan") and len(word) > 3:
        known.add(word[:-1] + "t")  # slaan -> slaat
    is_word = (lambda form: form in real_words or lemma_forms.get(WORD_MARK + form) is not None) if lemma_forms else (lambda form: form in real_words)
    return expand_word(word, list(extra) + sorted(known), typos=typos, is_word=is_word, not_forms=real_words)
