"""Rasa NLU component: adds `risk`, `route` and `evidence` to every parsed message."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Set, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import DATA_DIR
from bot.triage.engine import Assessment, Thresholds, Triage
from bot.triage.forms import lemma_forms
from bot.triage.lexicon import Lexicon
from bot.triage.tiers import INTENT_RISK, Tier, route_for

TIER_INTENTS = {Tier.tension: "escalation_tension", Tier.self_harm: "self_harm", Tier.acute: "acute"}


def intent_for(tier: Tier, speaker: Optional[str]) -> Optional[str]:
    """The escalation intent that stands for a tier (and speaker)."""
    if tier == Tier.violence:
        return f"violence_{speaker or 'bystander'}"
    return TIER_INTENTS.get(tier)


def triage_message(engine: Triage, doc: Any, ranking: List[Dict[str, Any]], intent: Dict[str, Any]) -> Tuple[Assessment, Optional[str]]:
    """Assess one parsed message; also the escalation intent that must replace the classifier's intent
    (so the safety rules fire), or None."""
    if not ranking and intent.get("name"):
        ranking = [intent]
    assessment = engine.assess(doc, [r for r in ranking if r.get("name") != "nlu_fallback"])
    top_tier = INTENT_RISK.get(intent.get("name") or "", (Tier.none, None))[0]
    if assessment.risk >= Tier.tension and top_tier != assessment.risk:
        assessment.evidence.append({"source": "triage", "replaced_intent": intent.get("name")})
        return assessment, intent_for(assessment.risk, assessment.speaker)
    return assessment, None


SPACY_DOC = "text_spacy_doc"
LEXICON_FILE = "lexicon.json"
LEMMA_FILE = "lemma_forms.json"  # only the entries of spaCy's lemma table that the lexicon uses


class _Recording(dict):
    """A lemma table that remembers which lemmas were looked up."""

    def __init__(self, table: Dict[str, Set[str]]) -> None:
        super().__init__()
        self.table = table
        self.used: Dict[str, List[str]] = {}

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self.table:
            self.used[key] = sorted(self.table[key])
            return self.table[key]
        return default

    def __bool__(self) -> bool:
        return True


def read_lexicon_sources(directory: Path) -> Dict[str, str]:
    """File name -> YAML text of every lexicon file (stored in the model, so it is self-contained)."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(Path(directory).glob("*.yml"))}


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class TriageClassifier(GraphComponent):
    """Danger triage after intent classification and fallback: the highest tier of lexicon and intent wins."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"lexicon_dir": str(DATA_DIR / "lexicon"), "escalation_threshold": 0.5, "speaker_threshold": 0.5}

    @classmethod
    def required_packages(cls) -> List[Text]:
        return ["spacy"]

    @classmethod
    def fingerprint_addon(cls, config: Dict[str, Any]) -> Optional[str]:
        """Retrain when the lexicon files change."""
        sources = read_lexicon_sources(Path(config.get("lexicon_dir") or DATA_DIR / "lexicon"))
        return hashlib.sha256(json.dumps(sources, sort_keys=True).encode()).hexdigest()

    def __init__(
        self, config: Dict[Text, Any], storage: ModelStorage, resource: Resource, sources: Dict[str, str], lemmas: Optional[Dict[str, Set[str]]] = None
    ) -> None:
        self._config = config
        self._storage = storage
        self._resource = resource
        self._sources = sources
        self._lemmas = lemmas
        self._triage: Optional[Triage] = None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext) -> "TriageClassifier":
        return cls(config, model_storage, resource, {})

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext, **kwargs: Any) -> "TriageClassifier":
        with model_storage.read_from(resource) as directory:
            sources = json.loads((directory / LEXICON_FILE).read_text(encoding="utf-8"))
            lemma_file = directory / LEMMA_FILE
            lemmas = {k: set(v) for k, v in json.loads(lemma_file.read_text(encoding="utf-8")).items()} if lemma_file.exists() else None
        return cls(config, model_storage, resource, sources, lemmas)

    def train(self, training_data: TrainingData) -> Resource:
        """Store the lexicon in the model, with the few lemma-table entries it needs (the whole Dutch table
        would cost ~0.1 GB in every running bot)."""
        import spacy

        self._sources = read_lexicon_sources(Path(self._config["lexicon_dir"]))
        recording = _Recording(lemma_forms())
        Lexicon.from_sources(self._sources, spacy.blank("nl").vocab, recording)
        self._lemmas = {k: set(v) for k, v in recording.used.items()}
        with self._storage.write_to(self._resource) as directory:
            (directory / LEXICON_FILE).write_text(json.dumps(self._sources, ensure_ascii=False), encoding="utf-8")
            (directory / LEMMA_FILE).write_text(json.dumps(recording.used, ensure_ascii=False), encoding="utf-8")
        return self._resource

    def _engine(self, vocab: Any) -> Triage:
        if self._triage is None:
            lexicon = Lexicon.from_sources(self._sources, vocab, self._lemmas if self._lemmas is not None else lemma_forms())
            thresholds = Thresholds(self._config["escalation_threshold"], self._config["speaker_threshold"])
            self._triage = Triage(lexicon, thresholds)
        return self._triage

    def process(self, messages: List[Message]) -> List[Message]:
        """Add risk, route and evidence to each message."""
        for message in messages:
            doc = message.get(SPACY_DOC)
            if doc is None or not message.get(TEXT):
                continue
            ranking = message.get(INTENT_RANKING_KEY) or []
            intent = message.get(INTENT) or {}
            assessment, replacement = triage_message(self._engine(doc.vocab), doc, ranking, intent)
            if replacement:
                message.set(INTENT, {"name": replacement, "confidence": 1.0}, add_to_output=True)
            message.set("risk", assessment.risk.name, add_to_output=True)
            message.set("route", assessment.route, add_to_output=True)
            message.set("speaker", assessment.speaker, add_to_output=True)
            message.set("evidence", assessment.evidence, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
