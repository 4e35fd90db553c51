"""Triage: lexicon hits + DIET intent ranking -> risk tier, speaker, route and evidence."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from spacy.tokens import Doc

from bot.triage.lexicon import Lexicon, Signal
from bot.triage.tiers import (
    BYSTANDER,
    CHILD,
    INTENT_RISK,
    PERPETRATOR,
    VICTIM,
    Tier,
    route_for,
)

Span = Tuple[int, int]
UNCERTAIN_SPEAKER = {"injury", "abuse_named"}
# Word groups (data/lexicon/) that show a message is about harm at all. A classifier-only violence,
# self-harm or acute tier below `Thresholds.confirm`, or one whose first-ranked intent is harmless or
# stress (the danger is only summed from the intents below it), needs one of them, else it counts as tension.
_VIOLENCE_WORDS = ("hit", "kill", "threat", "threatened", "control", "sexual", "sexual_against_me", "neglect", "sexual_feelings_children",
                   "private_parts", "self_perpetrator", "throat_grip", "injury", "injury_soft", "bite", "abuse_words", "throw", "weapon", "kids_taken", "wrong_way", "bang", "violence_hints")
_SELF_HARM_WORDS = ("suicide_words", "no_more", "self_harm_signs", "means_place", "means_research", "head_wall", "death",
                    "self_injure", "self_harm_acts", "cut_verbs", "wont_anymore", "self_harm_hints")
_ACUTE_WORDS = ("weapon_now", "strangle_now", "medical_now", "heart_attack", "overdose", "pills", "jump_now", "fire", "break_in", "immediacy", "acute_hints")
HARM_WORDS = {
    Tier.violence: _VIOLENCE_WORDS,
    Tier.self_harm: _SELF_HARM_WORDS,
    Tier.acute: _VIOLENCE_WORDS + _SELF_HARM_WORDS + _ACUTE_WORDS,
}
SENTENCE_END = {".", "!", "?", "\n", ";"}
DROPPED_SUBJECT_VERBS = {"heb", "kheb"}  # a sentence that starts with one of these has an unwritten "ik"
SIGN_OFF_BEFORE = {".", ",", "!", "?", "(", "-"}  # what stands before an age signed at the end ('... nog. 12')
NOT_AGE_UNITS = {"maanden", "maand", "mnd", "weken", "week", "wk", "dagen", "dag", "uur", "minuten", "min", "kilo", "kg", "keer", "cm"}
SECONDARY_LEVELS = {"havo", "vwo", "vmbo", "mavo", "gym", "gymnasium", "atheneum", "klas"}
SCHOOL_YEARS = {"groep": {"6": 10, "7": 11, "8": 12}, "klas": {"1": 12, "2": 13, "3": 14, "4": 15}}  # school year -> age


@dataclass(frozen=True)
class Thresholds:
    """How sure the classifier must be before its intent counts on its own."""

    escalation: float = 0.5  # summed probability of intents at or above a tier
    speaker: float = 0.5  # a violence intent decides the speaker when the lexicon cannot
    top: float = 0.3  # an escalation intent ranked first with at least this confidence counts too
    confirm: float = 0.45  # below this summed reading, a classifier-only tier >= violence needs a word of harm (only a tier found by `top`: `escalation` is 0.5)
    play: float = 0.8  # at or above this, the classifier's tier stands even in a joke or game ("een spelletje in bad")
    now: float = 0.9  # an acute reading this sure stands even with a word of the past ('ging onder water toen ik ...')
    child: float = 0.8  # a violence_child reading this sure makes a victim or bystander a child writer
    other_speaker: float = 0.7  # a bystander or victim reading this sure overrules a perpetrator found in the words
    perpetrator: float = 0.7  # a perpetrator reading this sure overrules a bystander found in the words ('mn zoon zag hoe ik ...')
    perpetrator_over_victim: float = 0.9  # ... and this sure, a victim found in the words


@dataclass
class Assessment:
    """What the triage concluded about one message."""

    risk: Tier = Tier.none
    route: Optional[str] = None
    speaker: Optional[str] = None
    evidence: List[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"risk": self.risk.name, "route": self.route, "speaker": self.speaker, "evidence": self.evidence}


@dataclass
class Hit:
    signal: Signal
    sentence: Span
    spans: List[Span]
    tier: Tier
    speaker: Optional[str] = None
    note: Optional[str] = None
    serious: bool = False  # a laugh before it is taken back ('haha nee serieus, hij slaat me')


class Triage:
    """Combines the lexicon and the intent classifier; the highest tier wins."""

    def __init__(self, lexicon: Lexicon, thresholds: Thresholds = Thresholds()) -> None:
        self.lexicon = lexicon
        self.thresholds = thresholds

    def assess(self, doc: Doc, ranking: Sequence[Mapping[str, object]] = ()) -> Assessment:
        """Assess one parsed message; `ranking` is Rasa's intent_ranking (name, confidence)."""
        found = self.lexicon.find(doc)
        hits = self._lexicon_hits(doc, found)
        serious = bool(found.get("not_joking"))  # "ik speel fortnite enzo maar dit is echt: ..."
        joke, play = bool(found.get("hyperbole")) and not serious, bool(found.get("play_context")) and not serious
        intent_tier, intent_speaker, intent_evidence = self._intent_risk(ranking, joking=joke or play)
        intent_confidence = float((intent_evidence or {}).get("confidence") or 0.0)  # the steps below change the tier, never this
        lexicon_tier = max((h.tier for h in hits), default=Tier.none)
        first_tier = INTENT_RISK.get(str((intent_evidence or {}).get("intent")), (Tier.none, None))[0]
        if (
            intent_tier >= Tier.violence
            and lexicon_tier < Tier.violence
            and (intent_confidence < self.thresholds.confirm or first_tier < Tier.tension)
            and not any(found.get(group) for group in HARM_WORDS[intent_tier])
        ):
            intent_tier = Tier.tension
            intent_evidence = {**(intent_evidence or {}), "tier": intent_tier.name, "note": "classifier alone, no word of harm"}
        if (
            intent_tier >= Tier.violence
            and lexicon_tier < Tier.violence
            and found.get("care_topic")
            and not serious
            and intent_confidence < self.thresholds.play
            and not (intent_tier in (Tier.self_harm, Tier.acute) and intent_confidence >= self.thresholds.confirm)
        ):
            # a child's illness or first aid, a school assignment: the classifier alone is not trusted (not grief: docs/triage.md);
            # a sure self-harm or acute reading stands ('hij heeft zich verslikt en wordt blauw')
            intent_tier = Tier.stress
            intent_evidence = {**(intent_evidence or {}), "tier": intent_tier.name, "note": "care or school topic: classifier alone not trusted"}
        if intent_tier == Tier.acute and lexicon_tier < Tier.acute and self._not_now(doc, found) and _confidence(ranking, "acute") < self.thresholds.now:
            # the classifier alone says 'right now', but the message tells of the past or of a habit
            intent_tier = Tier.violence
            intent_evidence = {**(intent_evidence or {}), "tier": intent_tier.name, "note": "told as past or habit"}

        capped = Tier.stress if joke else Tier.tension
        confident = intent_confidence >= self.thresholds.play
        if (joke or play) and intent_tier > capped and intent_tier != Tier.self_harm and lexicon_tier < Tier.tension and not confident:
            # the classifier alone, on a message that jokes ("xD", "haha") or is about a game, film or sport
            intent_tier = capped
            intent_evidence = {**(intent_evidence or {}), "tier": intent_tier.name, "note": "joke or game: classifier alone not trusted"}
        if joke and Tier.violence <= lexicon_tier < Tier.acute and intent_tier < Tier.tension and all(h.signal.weak and not h.serious for h in hits if h.tier >= Tier.violence):
            # 'ik vermoord je als je mn chips opeet zei ik tegen mn man. (...) lol': the joke is in another sentence
            for h in hits:
                if h.tier >= Tier.violence:
                    h.tier, h.note = Tier.stress, "hyperbole in the message, the classifier reads no danger"
            lexicon_tier = max((h.tier for h in hits), default=Tier.none)
        tier = max(lexicon_tier, intent_tier)
        speaker = None
        if tier >= Tier.violence:
            speaker = self._sure_speaker(self._speaker(hits, found, doc, intent_speaker), found, doc, ranking)
        elif tier >= Tier.stress:
            # a stated age decides; without one a parent word counts only with a word of a child's own life
            # ('mama schreeuwt en ik zit op mijn kamer'): adults write "mama" too
            child = self._child_writer(doc, found) and (self._stated_age(doc) is not None or bool(found.get("child_life")))
            speaker = CHILD if child else None
        evidence = [
            {"source": "lexicon", "signal": h.signal.id, "tier": h.tier.name, "text": _span_text(doc, h.spans)}
            | ({"note": h.note} if h.note else {})
            for h in hits
        ]
        if intent_evidence:
            evidence.append(intent_evidence)
        return Assessment(risk=tier, route=route_for(tier, speaker), speaker=speaker, evidence=evidence)

    # -- intent -----------------------------------------------------------------------------------
    def _intent_risk(self, ranking: Sequence[Mapping[str, object]], joking: bool = False) -> Tuple[Tier, Optional[str], Optional[dict]]:
        """The highest tier whose intents together reach the escalation threshold."""
        scores: Dict[Tier, float] = {}
        best_violence: Tuple[float, Optional[str]] = (0.0, None)
        for entry in ranking:
            name = str(entry.get("name"))
            confidence = float(entry.get("confidence") or 0.0)
            if name not in INTENT_RISK:
                continue
            tier, speaker = INTENT_RISK[name]
            scores[tier] = scores.get(tier, 0.0) + confidence
            if tier == Tier.violence and confidence > best_violence[0]:
                best_violence = (confidence, speaker)
        top = ranking[0] if ranking else {}
        top_tier, top_speaker = INTENT_RISK.get(str(top.get("name")), (Tier.none, None))
        top_confidence = float(top.get("confidence") or 0.0)
        cumulative = 0.0
        for tier in sorted(Tier, reverse=True):
            cumulative += scores.get(tier, 0.0)  # the probability of this tier or a higher one
            if tier == top_tier and tier >= Tier.tension and top_confidence >= self.thresholds.top and not joking:
                # ranked first, though the probability is spread: a missed signal is worse than a needless one.
                # Its confidence is the summed reading, so 'violence_bystander 0.30, violence_victim 0.19, ...' passes the gate
                return tier, top_speaker, {"source": "intent", "intent": top.get("name"), "tier": tier.name, "confidence": round(cumulative, 3)}
            if tier > Tier.none and cumulative >= self.thresholds.escalation:
                speaker = best_violence[1] if best_violence[0] >= self.thresholds.speaker * 0.5 else None
                return tier, speaker, {
                    "source": "intent",
                    "intent": top.get("name"),
                    "tier": tier.name,
                    "confidence": round(cumulative, 3),
                }
        return Tier.none, None, None

    @staticmethod
    def _not_now(doc: Doc, found: Dict[str, List[Span]]) -> bool:
        """No 'nu' or 'net' that means 'right now', nothing that lasts until now ('ik hoor niks meer'), and a word
        of the past ('gisteren') or of a habit ('soms')."""
        return not _immediate(found) and not found.get("ongoing") and bool(found.get("past") or found.get("habit"))

    # -- lexicon ----------------------------------------------------------------------------------
    def _lexicon_hits(self, doc: Doc, found: Dict[str, List[Span]]) -> List[Hit]:
        hits: List[Hit] = []
        found = {**found, "immediacy": _immediate(found)}
        for sentence in _sentences(doc):
            local = {name: [s for s in spans if sentence[0] <= s[0] < sentence[1]] for name, spans in found.items()}
            for signal in self.lexicon.signals:
                spans = _co_occur(signal, local)
                if spans is None or any(local.get(u) for u in signal.unless) or _touches(signal.unless_near, local, spans):
                    continue
                if signal.at_end and not _ends_sentence(doc, max(e for _, e in spans), sentence[1]):
                    continue
                serious = any(t[0] < spans[0][0] for t in found.get("joke_taken_back", []))
                hits.append(self._modify(Hit(signal, sentence, spans, signal.tier, serious=serious), local, doc))
        return [h for h in hits if h.tier > Tier.none]

    def _modify(self, hit: Hit, local: Dict[str, List[Span]], doc: Doc) -> Hit:
        """Context that lowers or raises a hit: harmless context, hyperbole, negation, time."""
        fear = bool(local.get("fear"))
        if hit.signal.weak and local.get("harmless_context") and not hit.serious:
            hit.tier, hit.note = Tier.none, "harmless context (sport, game, film, idiom)"
        elif hit.signal.weak and local.get("hyperbole") and not hit.serious:
            hit.tier, hit.note = Tier.stress, "hyperbole"
        elif hit.signal.weak and hit.tier == Tier.violence and _negated(hit, local) and not fear:
            hit.tier, hit.note = Tier.tension, "negated"
        elif hit.tier == Tier.violence and _young_agent(local, hit):
            hit.tier, hit.note = Tier.stress, "a young child hitting or biting"
        elif hit.tier == Tier.tension and (local.get("tantrum") or _before(local.get("young_agent", []), hit)) and not _before(local.get("first_subject", []), hit):
            hit.tier, hit.note = Tier.stress, "a young child's tantrum"
        elif hit.tier == Tier.violence and local.get("sibling") and not local.get("first_object"):
            hit.tier, hit.note = Tier.tension, "children fighting each other"
        elif hit.tier == Tier.acute and (local.get("past") or local.get("habit")) and not local.get("immediacy"):
            hit.tier, hit.note = hit.signal.past_tier, "in the past or as a habit"
        elif hit.signal.can_be_now and hit.tier in (Tier.violence, Tier.self_harm) and not fear:
            if _near(hit, local.get("immediacy", []), 3) and not local.get("past") and not _perfect(doc, hit.sentence):
                hit.tier, hit.note = Tier.acute, "happening now"
        return hit

    # -- speaker ----------------------------------------------------------------------------------
    def _speaker(self, hits: List[Hit], found: Dict[str, List[Span]], doc: Doc, intent_speaker: Optional[str]) -> str:
        """Who is speaking about the violence: perpetrator, victim, child or bystander."""
        violent = [h for h in hits if h.tier >= Tier.violence]
        fixed = [h.signal.speaker for h in violent if h.signal.speaker]
        if CHILD in fixed or self._stated_child(doc):
            return CHILD
        if self._child_writer(doc, found) and any((h.signal.speaker or self._sentence_speaker(h, found, doc)) == VICTIM for h in violent):
            return CHILD
        if fixed:
            return fixed[0]
        for hit in violent:
            speaker = self._sentence_speaker(hit, found, doc)
            if speaker:
                return speaker
        if intent_speaker == CHILD and found.get("adult_writer"):
            return BYSTANDER  # a teacher, grandparent or parent tells about a child
        return intent_speaker or BYSTANDER

    def _sure_speaker(self, speaker: str, found: Dict[str, List[Span]], doc: Doc, ranking: Sequence[Mapping[str, object]]) -> str:
        """Where the words are misleading and the classifier is sure: 'me moeders vriend gooide een stoel naar
        me' is a child; 'ik ben oma en mijn schoonzoon slaat ze' and 'ik zie de moeder ze slaan' are bystanders;
        'mijn dochter zag hoe ik haar moeder duwde' is a perpetrator. An adult's stated age ('ik ben 22') stays adult."""
        if speaker == PERPETRATOR:
            for other in (BYSTANDER, VICTIM):
                if _confidence(ranking, f"violence_{other}") >= self.thresholds.other_speaker:
                    return other
            return speaker
        if (
            speaker in (VICTIM, BYSTANDER)
            and _confidence(ranking, "violence_child") >= self.thresholds.child
            and not found.get("adult_writer")
            and (self._stated_age(doc) or 0) < 18
        ):
            return CHILD
        # a victim sent to help for perpetrators is hurt most, so 'slaat me' needs the surer reading
        needed = self.thresholds.perpetrator if speaker == BYSTANDER else self.thresholds.perpetrator_over_victim
        if speaker in (VICTIM, BYSTANDER) and _confidence(ranking, "violence_perpetrator") >= needed:
            return PERPETRATOR
        return speaker

    def _sentence_speaker(self, hit: Hit, found: Dict[str, List[Span]], doc: Doc) -> Optional[str]:
        """The first person nearest to the violence words decides: 'ik sla' vs 'slaat me'."""
        sentence = hit.sentence

        def inside(name: str) -> List[Span]:
            return [s for s in found.get(name, []) if sentence[0] <= s[0] < sentence[1]]

        anchor = hit.spans[0][0]
        subordinators = inside("subordinator")
        boundaries_before = subordinators + inside("new_subject")

        def same_clause(span: Span) -> bool:
            # 'ik gaf hem een schop toen hij me uitschold': after 'toen', 'me' is in another clause;
            # 'ik denk dat mijn schoonzoon haar slaat', 'ik ben oma en mijn schoonzoon slaat haar': so is the 'ik' before them
            return not any(anchor < c[0] < span[0] for c in subordinators) and not any(span[0] < c[0] < anchor for c in boundaries_before)

        subjects = [s for s in inside("first_subject") if same_clause(s)]
        if not subjects and doc[sentence[0]]._.adem_norm in DROPPED_SUBJECT_VERBS:
            subjects = [(sentence[0], sentence[0] + 1)]  # 'heb mn vriendin tegen de muur geduwd': chat Dutch drops the 'ik'
        # 'ik schaam me', 'ik voel me': a 'me' right after 'ik' + verb is reflexive, not a victim
        objects = [o for o in inside("first_object") if not any(0 < o[0] - s[0] <= 2 for s in subjects)]
        objects = [o for o in objects if same_clause(o) and not any(_overlap(o, n) for n in inside("not_object"))]
        if any(_overlap(s, span) for s in subjects for span in hit.spans):
            return VICTIM  # 'zodat ik niet weg kan', 'kijken als ik douche': the phrase's own 'ik' is the one it is done to
        if subjects and _passive_participle(doc, hit, inside("passive_aux")):
            return VICTIM  # 'ik word thuis mishandeld'
        if hit.signal.id in UNCERTAIN_SPEAKER:
            return None  # an injury or a named abuse says little about who did it: the classifier decides
        if any(abs(s[0] - anchor) == 1 for s in subjects) and not any(abs(o[0] - anchor) <= 2 for o in objects):
            return PERPETRATOR  # 'ik stalk mn ex (...), denk ik', 'toen sloeg ik haar'
        if not subjects and not objects:
            return BYSTANDER if inside("third_party") else None
        if inside("third_party") and inside("witness") and not objects:
            return BYSTANDER
        if subjects and inside("passive"):
            return VICTIM  # 'ik word door hem geslagen'
        if any(abs(s[0] - anchor) <= 4 for s in objects):
            return VICTIM  # 'hij heeft me (...) geslagen', even with an 'ik' nearby
        nearest = min(
            [(abs(s[0] - anchor), VICTIM) for s in objects] + [(abs(s[0] - anchor), PERPETRATOR) for s in subjects]
        )[1]
        if nearest == PERPETRATOR:
            others = [o for o in inside("third_subject") + inside("child_writer") + (inside("third_party") if inside("witness") else []) if same_clause(o)]
            first = min(abs(s[0] - anchor) for s in subjects)
            if any(abs(o[0] - anchor) < first for o in others):
                # 'ik zag dat hij zijn zoontje kneep', 'ik durf niet naar huis want papa slaat': someone else acts
                return CHILD if self._child_writer(doc, found) else BYSTANDER
        return nearest

    @staticmethod
    def _first_person(found: Dict[str, List[Span]]) -> bool:
        return bool(found.get("first_object") or found.get("first_subject"))

    @staticmethod
    def _stated_age(doc: Doc) -> Optional[int]:
        """'ik ben 12', 'ik ben 14 jaar', 'im 13', '. ben 13', '15 hier', '(ik 13 zij 15)' -> the age the writer states."""
        words = [t._.adem_norm for t in doc]
        starts = ("ik", "k", "i", "en", ",", ".", "!", "?", "(", "-")
        for i in range(len(words) - 1):
            if i + 2 < len(words) and words[i + 2] in NOT_AGE_UNITS:
                continue  # 'ik ben 6 maanden zwanger', 'ik ben 3 weken thuis'
            if words[i] in ("ben", "bn", "im", "i'm") and words[i + 1].isdigit() and (i == 0 or words[i - 1] in starts):
                return int(words[i + 1])
            if words[i].isdigit() and words[i + 1] == "hier" and (i == 0 or words[i - 1] in starts):
                return int(words[i])
            if words[i] == "ik" and words[i + 1].isdigit() and i > 0 and words[i - 1] == "(":
                return int(words[i + 1])
            if words[i] in ("im", "i'm") and words[i + 1].isdigit():
                return int(words[i + 1])
            if words[i] == "ben" and words[i + 1] in ("nu", "inmiddels") and i + 2 < len(words) and words[i + 2].isdigit() and _an_age(words[i + 3 : i + 5]) and (i == 0 or words[i - 1] in starts):
                return int(words[i + 2])  # 'toen ik 12 was ... ik ben nu 34' (not 'ik ben nu 3 weken thuis', '15 jaar getrouwd')
            if words[i].isdigit() and words[i + 1] == "ben" and i + 2 < len(words) and words[i + 2] == "ik" and (i == 0 or words[i - 1] in starts):
                return int(words[i])  # '13 ben ik en ...'
            if words[i] == "ik" and words[i + 1] == "(" and i + 2 < len(words) and words[i + 2].isdigit():
                return int(words[i + 2])  # 'ik (15) moet ...'
            if words[i] == "zit" and words[i + 1] == "in" and (i == 0 or words[i - 1] in starts) and (school := _school_age(words[i + 2 : i + 5])):
                return school  # 'ik zit in groep 6', 'zit in de brugklas', 'ik zit in 2 havo'
        return _signed_age(words)

    def _stated_child(self, doc: Doc) -> bool:
        age = self._stated_age(doc)
        return age is not None and 6 <= age <= 17

    def _child_writer(self, doc: Doc, found: Dict[str, List[Span]]) -> bool:
        """A child writes: a stated age under 18, or 'papa/mama/mn vader' without signs of an adult writer."""
        age = self._stated_age(doc)
        if age is not None:
            return 6 <= age <= 17
        return bool(found.get("child_writer")) and not found.get("adult_writer")


def _an_age(after: Sequence[str]) -> bool:
    """The words after a number make it an age: nothing, a break, 'jaar (oud)' ('ik ben nu 34 jaar.'),
    not a unit of time or weight ('3 weken', '15 jaar getrouwd')."""
    if not after:
        return True
    if after[0] in NOT_AGE_UNITS:
        return False
    if after[0] == "jaar":
        return len(after) == 1 or after[1] in ("oud", "en", *SIGN_OFF_BEFORE)
    return True


def _school_age(words: Sequence[str]) -> Optional[int]:
    """The age that goes with a school year the writer is in: 'groep 6' -> 10, 'de brugklas' -> 12,
    'de 2e (klas)', '2 havo', 'havo 2' -> 13 (primary groups 3-8, secondary years 1-6; not 'de 3e week')."""
    rest = [w for w in words if w != "de"]
    if not rest:
        return None
    if rest[0] == "brugklas":
        return 12
    if rest[0] == "groep" and len(rest) > 1 and rest[1].isdigit() and 3 <= int(rest[1]) <= 8:
        return int(rest[1]) + 4
    year = rest[0].rstrip("e")
    after = rest[1] if len(rest) > 1 else "."
    ordinal_ok = rest[0].endswith("e") and (after in SIGN_OFF_BEFORE or after in ("en", "van", "klas"))  # not 'de 3e week'
    if year.isdigit() and 1 <= int(year) <= 6 and (ordinal_ok or after in SECONDARY_LEVELS):
        return int(year) + 11
    if rest[0] in SECONDARY_LEVELS and len(rest) > 1 and rest[1].isdigit() and 1 <= int(rest[1]) <= 6:
        return int(rest[1]) + 11
    return None


def _signed_age(words: List[str]) -> Optional[int]:
    """An age the writer signs off with at the very end: '... ik ben er ook nog. 12', '. 13 jr', '(12 jaar)',
    '. groep 8' (a parent's 'mijn zoon (12 jaar) ...' or 'ze zijn 6 en 9' is not at the end after a break)."""
    tail = list(words)
    while tail and tail[-1] in (")", ".", "!", "?", "", "jaar", "jr", "oud"):
        tail.pop()
    if len(tail) < 2:
        return None
    last, before = tail[-1], tail[-2]
    if last.isdigit() and before in SIGN_OFF_BEFORE:
        return int(last)
    if before in SCHOOL_YEARS and last in SCHOOL_YEARS[before] and len(tail) > 2 and tail[-3] in SIGN_OFF_BEFORE:
        return SCHOOL_YEARS[before][last]
    if last == "klas" and before in ("1e", "2e", "3e", "4e") and len(tail) > 2 and tail[-3] in SIGN_OFF_BEFORE:
        return int(before[0]) + 11  # '... ik voel me alleen. 1e klas'
    return None


def _confidence(ranking: Sequence[Mapping[str, object]], intent: str) -> float:
    """The classifier's confidence in one intent (0 when it is not ranked)."""
    return max((float(r.get("confidence") or 0.0) for r in ranking if r.get("name") == intent), default=0.0)


def _sentences(doc: Doc) -> Iterable[Span]:
    start = 0
    for token in doc:
        text = token.text
        if text in SENTENCE_END or "\n" in text:
            end = token.i
        elif len(text) > 1 and text[-1] in ".!?" and text[-2].isalpha():
            end = token.i + 1  # 'me.': the word belongs to the sentence it ends
        else:
            continue
        if end > start:
            yield (start, end)
        start = token.i + 1
    if start < len(doc):
        yield (start, len(doc))


def _co_occur(signal: Signal, local: Dict[str, List[Span]]) -> Optional[List[Span]]:
    """Spans of every item of the signal in one sentence (and window), or None."""
    chosen: List[Span] = []
    for item in signal.all:
        spans = local.get(item)
        if not spans:
            return None
        chosen.append(spans[0])
    if signal.window is not None:
        best = _best_window(signal, local)
        if best is None:
            return None
        chosen = best
    return chosen


def _best_window(signal: Signal, local: Dict[str, List[Span]]) -> Optional[List[Span]]:
    """Pick one span per item so that all lie within `window` tokens of each other."""
    anchors = local[signal.all[0]]
    for anchor in anchors:
        chosen = [anchor]
        for item in signal.all[1:]:
            near = [s for s in local[item] if abs(s[0] - anchor[0]) <= signal.window]
            if not near:
                break
            chosen.append(min(near, key=lambda s: abs(s[0] - anchor[0])))
        else:
            return chosen
    return None


PERFECT_AUXILIARIES = {"heb", "heeft", "hebt", "had", "hadden", "hebben", "kheb"}


def _perfect(doc: Doc, sentence: Span) -> bool:
    """'vanavond heb ik hem bij zn keel gepakt': told in the perfect tense, so it already happened."""
    words = [t._.adem_norm for t in doc[sentence[0]:sentence[1]]]
    aux = [i for i, w in enumerate(words) if w in PERFECT_AUXILIARIES]
    return any(w.startswith("ge") and len(w) > 5 and any(i > a for a in aux) for i, w in enumerate(words))


def _ends_sentence(doc: Doc, end: int, sentence_end: int) -> bool:
    """Only punctuation or emoji between the signal and the end of the sentence."""
    return all(not any(c.isalnum() for c in token.text) for token in doc[end:sentence_end])


def _immediate(found: Dict[str, List[Span]]) -> List[Span]:
    """The 'nu'-like words that mean 'right now' (not 'wat nu', 'nu al', 'net zo')."""
    not_now = found.get("not_immediate", [])
    return [s for s in found.get("immediacy", []) if not any(_overlap(s, n) for n in not_now)]


def _touches(groups: Sequence[str], local: Dict[str, List[Span]], spans: List[Span]) -> bool:
    """Words of `groups` that overlap a signal's words, end right where one starts ('met deuren slaan') or
    follow one within two tokens ('slaat de deuren dicht', 'dreigt weg te lopen'); not 'smeet de deur dicht
    en sloeg me'."""
    return any(s[0] <= u[1] and u[0] <= s[1] + 2 for g in groups for u in local.get(g, []) for s in spans)


def _overlap(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _outside(spans: List[Span], own: List[Span]) -> List[Span]:
    """Spans that are not part of the signal's own words ('geen eten' is not a negation of itself)."""
    return [s for s in spans if not any(_overlap(s, o) for o in own)]


def _negated(hit: Hit, local: Dict[str, List[Span]]) -> bool:
    """'niet', 'nooit', 'geen' within three tokens of the signal's first word (the verb)."""
    verb = hit.spans[0]
    negations = _outside(local.get("negation", []), hit.spans)
    no_longer = local.get("no_longer", [])
    subordinators = local.get("subordinator", [])

    def own_clause(n: Span) -> bool:
        # 'als ze niet eet, duw ik ...': the 'niet' belongs to the 'als' clause before the verb;
        # 'papa doet haar pijn als mama er niet is': and to the one after it
        before = n[0] < verb[0] - 1 and any(c[0] < n[0] for c in subordinators)
        after = n[0] > verb[0] and any(verb[0] < c[0] < n[0] for c in subordinators)
        return not (before or after)

    return any(abs(n[0] - verb[0]) <= 3 and not any(m[0] == n[0] for m in no_longer) and own_clause(n) for n in negations)


def _passive_participle(doc: Doc, hit: Hit, auxiliaries: List[Span]) -> bool:
    """An auxiliary (word, werd, ben) up to four tokens before a participle-like violence word."""
    start, end = hit.spans[0]
    if end - start != 1:
        return False
    verb = doc[start].text.lower()
    participle = verb.startswith("ge") or verb.endswith(("d", "verkracht"))
    return participle and any(0 < start - a[0] <= 4 for a in auxiliaries)


def _young_agent(local: Dict[str, List[Span]], hit: Hit) -> bool:
    """A young child before the violence word, and no 'ik' before the child ('onze kleine bijt' but not
    'ik heb de neiging om die kleine ... te gooien')."""
    verb = hit.spans[0][0]
    # right before the verb ('mijn peuter slaat', 'de kleine van 2 bijt'), not in an earlier clause
    # ('de baby huilde en toen sloeg hij haar') and with no one else in between
    young = [s for s in local.get("young_agent", []) if s[0] < verb and verb - s[1] <= 2]
    return (
        bool(young)
        and not any(i[0] < young[0][0] for i in local.get("first_subject", []))
        and not any(young[-1][1] <= b[0] < verb for b in local.get("third_subject", []))
    )


def _before(spans: List[Span], hit: Hit) -> bool:
    """Whether one of `spans` comes before the signal's first word (as its subject would)."""
    return any(s[0] < hit.spans[0][0] for s in spans)


def _near(hit: Hit, spans: List[Span], distance: int) -> bool:
    """Whether one of `spans` lies within `distance` tokens of the hit's words."""
    return any(abs(n[0] - s[0]) <= distance or abs(n[0] - (s[1] - 1)) <= distance for n in spans for s in hit.spans)


def _span_text(doc: Doc, spans: List[Span]) -> str:
    return " … ".join(doc[s:e].text for s, e in sorted(set(spans)))
