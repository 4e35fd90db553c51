"""Turn labelled field sets (text, tier, route) into NLU examples for the escalation intents.

The second, third and fourth labelled sets (reports/holdout_b.tsv, _c, _d) were written by people who
never saw the training data. After each was measured once untouched (reports/triage_holdout_*.md),
its messages become training examples here, so the classifier learns from more writers than the first
data set. tests/data/triage_dev.tsv and the untouched sets (J, K, O, V, W) are never used.

Messages of tier tension or higher get the escalation intent of their tier and route. Messages of tier
none or stress are needed too (without them the classifier learns that these writers' style means
danger), but their intent (a tip, a question, which stress intent) is not labelled: they get the
intent the trained model ranks highest among the intents their tier allows (stress: the stress
intents; none: intents without risk, retrieval intents and the fallback excluded), and are left out
when that intent is below 0.3, except a none message the model ranks as danger first (a first-aid
question, a joke, a game): it becomes out_of_scope, so the classifier learns that it is no danger
without blurring the tip intents. These none/stress labels depend on the model: the committed file was made
with the model trained before it existed, and by the version of this script before the out_of_scope
rule and the triage's speaker (sets B–I, L–N); running it again labels some messages differently.

With --hard-only, a none or stress message is kept only when the model reads it as danger first (the
look-alikes it must learn); the others add little and blur the small intents (data/nlu/field_sets_hard.yml,
sets P-U, was made this way with the model trained on field_sets.yml; data/nlu/field_sets_hard_x.yml, sets
X-Z and XA-XC, with the model trained on both).

With --tsv, the output is a TSV (text, intent) for the intent ensemble's regression-only `extra_examples`
(data/lookalikes/field_sets_t.tsv, sets TA-TC, session 9; data/lookalikes/field_sets_td.tsv, sets TD-TH,
session 10; data/lookalikes/field_sets_ti.tsv, sets TI-TK, session 11; see bot/intent_ensemble.py).

Usage: python scripts/field_sets_to_nlu.py [--model models/adempauze.tar.gz] [--hard-only] [--tsv] reports/holdout_b.tsv ... > data/nlu/field_sets.yml
"""
from __future__ import annotations

import csv
import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Dict, List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
FIRST_PERSON_OBJECT = re.compile(r"\b(me|mij|mijzelf|mezelf)\b", re.IGNORECASE)


def escalation_intent(text: str, tier: str, route: str, parsed_speaker: Optional[str] = None) -> Optional[str]:
    """The escalation intent of a labelled message of tier tension or higher (the triage component's own
    mapping; for route veilig_thuis: the victim or bystander the triage finds, else victim with a
    first-person object, else bystander)."""
    from bot.triage.component import intent_for
    from bot.triage.tiers import BYSTANDER, CHILD, PERPETRATOR, VICTIM, Tier

    speakers = {"de_waag": PERPETRATOR, "kindertelefoon": CHILD}
    fallback = VICTIM if FIRST_PERSON_OBJECT.search(text) else BYSTANDER
    speaker = speakers.get(route) or (parsed_speaker if parsed_speaker in (VICTIM, BYSTANDER) else fallback)
    return intent_for(Tier[tier], speaker)


class Ranker:
    """The trained model's intent ranking, for the intent of a none/stress message."""

    def __init__(self, model: Path) -> None:
        import asyncio

        from bot.model import load_agent, quiet
        from bot.triage.tiers import INTENT_RISK, Tier

        with quiet():
            self.agent = load_agent(model)
        self.loop = asyncio.new_event_loop()
        self.allowed = {
            "stress": {i for i, (t, _) in INTENT_RISK.items() if t == Tier.stress},
            "none": None,  # any intent without risk
        }
        self.risky = set(INTENT_RISK)

    def _parse(self, text: str) -> dict:
        return self.loop.run_until_complete(self.agent.parse_message(text))

    def speaker(self, text: str) -> Optional[str]:
        """Who the triage says is speaking about violence (victim, bystander, ...), if it can tell."""
        return self._parse(text).get("speaker")

    def intent(self, text: str, tier: str, hard_only: bool = False) -> Optional[str]:
        parsed = self._parse(text)
        allowed = self.allowed[tier]
        ranking = [e for e in parsed.get("intent_ranking") or [] if e["name"] != "nlu_fallback"]
        danger_first = bool(ranking) and ranking[0]["name"] in self.risky
        if hard_only and not danger_first:
            return None
        for entry in ranking:
            name, confidence = entry["name"], float(entry["confidence"])
            if name in ("faq", "chitchat") or "/" in name:
                continue
            if (allowed is not None and name in allowed) or (allowed is None and name not in self.risky):
                if confidence >= 0.3 or tier == "stress":
                    return name
                if danger_first:  # a look-alike the model reads as danger: teach it that it is no danger
                    return "out_of_scope"
                return None
        return "out_of_scope" if tier == "none" and danger_first else None


def main(argv: List[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Labelled field sets (TSV) -> NLU YAML on stdout.")
    parser.add_argument("--model", type=Path, default=Path("models/adempauze.tar.gz"))
    parser.add_argument("--hard-only", action="store_true", help="none/stress only when the model reads it as danger first")
    parser.add_argument("--tsv", action="store_true", help="text<TAB>intent rows instead of NLU YAML")
    parser.add_argument("sets", nargs="+")
    args = parser.parse_args(argv)
    ranker = Ranker(args.model)
    examples: Dict[str, List[str]] = defaultdict(list)
    for path in args.sets:
        with Path(path).open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
                text = " ".join(row["text"].split())
                tier = row["tier"]
                if tier in ("none", "stress"):
                    intent = ranker.intent(text, tier, args.hard_only)
                else:
                    speaker = ranker.speaker(text) if row.get("route") == "veilig_thuis" else None
                    intent = escalation_intent(text, tier, row.get("route") or "", speaker)
                if intent and text not in examples[intent]:
                    examples[intent].append(text)
    if args.tsv:
        print("text\tintent")
        for intent in sorted(examples):
            for text in examples[intent]:
                print(f"{text}\t{intent}")
        return
    options = " --hard-only" if args.hard_only else ""
    print(f"# Generated by scripts/field_sets_to_nlu.py{options} from " + ", ".join(args.sets) + " (do not edit by hand).")
    print('version: "3.1"\n\nnlu:')
    for intent in sorted(examples):
        print(f"- intent: {intent}\n  examples: |")
        for text in examples[intent]:
            print(f"    - {text}")


if __name__ == "__main__":
    main(sys.argv[1:])
