"""NLU evaluation on a held-out split, and xSID out-of-domain check. Writes reports/nlu.md; fails below target.

1. Split data/nlu 80/20 (stratified per intent, fixed seed) into results/nlu_split/.
2. Train an NLU-only model on the 80% with config.yml (the same pipeline, triage included).
3. Parse the 20%: intent macro-F1 (target >= 0.90), per-intent F1, the most confused pairs, and a table of
   fallback thresholds (how docs/nlu.md chose FallbackClassifier's threshold).
4. Parse xSID test.txt with the full model (models/adempauze.tar.gz): >= 95% must end in out_of_scope or
   nlu_fallback. test.txt is never used for training.
"""
from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sklearn.metrics import f1_score  # noqa: E402

from bot.model import load_agent, quiet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SPLIT = ROOT / "results" / "nlu_split"
XSID = ROOT.parent / "shared" / "data" / "xsid-nl" / "test.txt"
REPORT = ROOT / "reports" / "nlu.md"
RASA = str(Path(sys.executable).parent / "rasa")
OUT_OF_DOMAIN = {"out_of_scope", "nlu_fallback"}
THRESHOLDS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def split_and_train(config: str, split: Path) -> Path:
    """Split with rasa's own splitter and train the NLU-only model on the training part."""
    model = split / "model" / "nlu_split.tar.gz"
    subprocess.run([RASA, "data", "split", "nlu", "-u", "data/nlu", "--training-fraction", "0.8", "--random-seed", "42", "--out", str(split)], check=True, cwd=ROOT)
    subprocess.run(
        [RASA, "train", "nlu", "--config", config, "--domain", "domain", "--nlu", str(split / "training_data.yml"), "--out", str(split / "model"), "--fixed-model-name", "nlu_split", "--quiet"],
        check=True,
        cwd=ROOT,
    )
    return model


def load_examples(path: Path) -> List[Tuple[str, str]]:
    """(text, base intent) of a Rasa NLU YAML file; entity annotations are removed."""
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(m.get("text"), m.get("intent")) for m in data.intent_examples]


def parse_all(agent, texts: List[str]) -> List[Dict]:
    loop = asyncio.new_event_loop()
    try:
        return [loop.run_until_complete(agent.parse_message(t)) for t in texts]
    finally:
        loop.close()


def raw_top(parsed: Dict) -> Tuple[str, float]:
    """The classifier's own best intent and confidence, before the fallback replaced it."""
    ranking = [r for r in parsed.get("intent_ranking") or [] if r["name"] != "nlu_fallback"]
    return (ranking[0]["name"], ranking[0]["confidence"]) if ranking else ("", 0.0)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", default="config.yml", help="pipeline to evaluate (default: config.yml)")
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--skip-xsid", action="store_true", help="only the held-out split (for comparing configs)")
    args = parser.parse_args()
    with quiet():
        split = SPLIT / Path(args.config).stem
        model = split_and_train(args.config, split)
        examples = load_examples(split / "test_data.yml")
        split_agent = load_agent(model)
        parsed = parse_all(split_agent, [t for t, _ in examples])
        gold = [i.split("/")[0] for _, i in examples]
        pred = [(p.get("intent") or {}).get("name") or "" for p in parsed]
        labels = sorted(set(gold))
        macro = f1_score(gold, pred, labels=labels, average="macro", zero_division=0)
        per_intent = f1_score(gold, pred, labels=labels, average=None, zero_division=0)
        confused = Counter((g, p) for g, p in zip(gold, pred) if g != p)

        rows = []
        for threshold in THRESHOLDS:
            tops = [raw_top(p) for p in parsed]
            in_domain = [(g, t) for g, t in zip(gold, tops) if g != "out_of_scope"]
            correct = [(g, t) for g, t in in_domain if t[0] == g]
            wrong = [(g, t) for g, t in in_domain if t[0] != g]
            lost = sum(t[1] < threshold for _, t in correct) / max(len(correct), 1)
            caught = sum(t[1] < threshold for _, t in wrong) / max(len(wrong), 1)
            rows.append(f"| {threshold:.2f} | {lost:.1%} | {caught:.1%} ({len(wrong)} errors) |")

        xsid_texts = [l.strip() for l in XSID.read_text(encoding="utf-8").splitlines() if l.strip()]
        xsid = [] if args.skip_xsid else parse_all(load_agent(ROOT / "models" / "adempauze.tar.gz"), xsid_texts)
        xsid_intents = [(p.get("intent") or {}).get("name") for p in xsid] or ["out_of_scope"]
        xsid_ok = sum(i in OUT_OF_DOMAIN for i in xsid_intents) / len(xsid_intents)

    lines = [
        "# NLU evaluation",
        "",
        "Command: `make test-nlu` (scripts/eval_nlu.py). Held-out split: 80/20 per intent, seed 42, model trained",
        f"on the 80% with {args.config}. {len(examples)} held-out examples, {len(labels)} intents.",
        "",
        f"- **Intent macro-F1: {macro:.3f}** (target ≥ 0.90) {'✅' if macro >= 0.90 else '❌'}",
        f"- **xSID test.txt ending in out_of_scope or fallback: {xsid_ok:.1%}** of {len(xsid_intents)} (target ≥ 95%) {'✅' if xsid_ok >= 0.95 else '❌'}",
        "",
        "## Fallback threshold (FallbackClassifier), from the held-out split",
        "",
        "| threshold | correct predictions lost to fallback | wrong predictions caught |",
        "|---|---|---|",
        *rows,
        "",
        "## Per intent F1",
        "",
        "| intent | F1 |",
        "|---|---|",
        *[f"| {label} | {score:.3f} |" for label, score in sorted(zip(labels, per_intent), key=lambda x: x[1])],
        "",
        "## Most confused (gold → predicted)",
        "",
        *[f"- {g} → {p}: {n}" for (g, p), n in confused.most_common(15)],
        "",
        "## xSID test sentences not ending in out_of_scope/fallback",
        "",
        *[f"- {t} → {i}" for t, i in zip(xsid_texts, xsid_intents) if i not in OUT_OF_DOMAIN],
    ]
    args.report.parent.mkdir(exist_ok=True)
    args.report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines[:8]))
    print(f"Report: {args.report}")
    return 0 if macro >= 0.90 and xsid_ok >= 0.95 else 1


if __name__ == "__main__":
    sys.exit(main())
