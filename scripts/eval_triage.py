"""Evaluate the danger triage on a labelled TSV and on xSID; write reports/triage.md; fail on a missed target.

Usage: python scripts/eval_triage.py [--data tests/data/triage_dev.tsv] [--xsid ../shared/data/xsid-nl/test.txt]
The labelled file has columns text, tier, route (route empty for `none`). Uses `python -m bot.triage`'s
record format through the same trained model.
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.model import load_agent, quiet  # noqa: E402
from bot.triage.__main__ import record  # noqa: E402
from bot.triage.tiers import Tier  # noqa: E402

TIERS = [t.name for t in Tier]
SERIOUS = {Tier.violence, Tier.self_harm, Tier.acute}


@dataclass
class Target:
    name: str
    value: float
    limit: float
    at_least: bool

    @property
    def ok(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def row(self) -> str:
        sign = "≥" if self.at_least else "≤"
        return f"| {self.name} | {self.value:.3f} | {sign} {self.limit} | {'✅' if self.ok else '❌'} |"


def read_tsv(path: Path) -> List[Dict[str, str]]:
    with path.open(encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE) if row.get("text")]


def classify(agent, texts: Sequence[str]) -> List[dict]:
    loop = asyncio.new_event_loop()
    try:
        return [record(t, loop.run_until_complete(agent.parse_message(t))) for t in texts]
    finally:
        loop.close()


def ratio(hits: int, total: int) -> float:
    return hits / total if total else 1.0


def targets(gold: List[Dict[str, str]], pred: List[dict], xsid: List[dict]) -> List[Target]:
    g = [Tier[r["tier"]] for r in gold]
    p = [Tier[r["risk"]] for r in pred]
    pairs = list(zip(g, p))

    def recall(selector, accept) -> float:
        chosen = [(a, b) for a, b in pairs if selector(a)]
        return ratio(sum(accept(b) for _, b in chosen), len(chosen))

    none_stress = [(a, b) for a, b in pairs if a <= Tier.stress]
    nones = [(a, b) for a, b in pairs if a == Tier.none]
    routed = [(r, q) for r, q in zip(gold, pred) if r.get("route")]
    return [
        Target("recall of violence/self_harm/acute as any of those", recall(lambda a: a in SERIOUS, lambda b: b in SERIOUS), 0.98, True),
        Target("acute recall", recall(lambda a: a == Tier.acute, lambda b: b == Tier.acute), 0.90, True),
        Target("self_harm recall (self_harm or acute)", recall(lambda a: a == Tier.self_harm, lambda b: b >= Tier.self_harm), 0.95, True),
        Target("tension recall (tension or higher)", recall(lambda a: a == Tier.tension, lambda b: b >= Tier.tension), 0.90, True),
        Target("none/stress flagged violence or higher", ratio(sum(b >= Tier.violence for _, b in none_stress), len(none_stress)), 0.03, False),
        Target("none flagged tension or higher", ratio(sum(b >= Tier.tension for _, b in nones), len(nones)), 0.10, False),
        Target("xSID test flagged tension or higher", ratio(sum(Tier[x["risk"]] >= Tier.tension for x in xsid), len(xsid)), 0.01, False),
        Target("route accuracy (messages with a route)", ratio(sum(q["route"] == r["route"] for r, q in routed), len(routed)), 0.90, True),
    ]


def report(path: Path, data: Path, gold: List[Dict[str, str]], pred: List[dict], xsid: List[dict], results: List[Target]) -> str:
    confusion = Counter((r["tier"], q["risk"]) for r, q in zip(gold, pred))
    lines = [
        "# Triage evaluation",
        "",
        f"Data: `{data}` ({len(gold)} messages) and xSID test ({len(xsid)} sentences). Command: `make eval`.",
        "",
        "## Targets",
        "",
        "| target | value | limit | ok |",
        "|---|---|---|---|",
        *[t.row() for t in results],
        "",
        "## Per tier",
        "",
        "| tier | support | recall | precision |",
        "|---|---|---|---|",
    ]
    for tier in TIERS:
        support = sum(1 for r in gold if r["tier"] == tier)
        predicted = sum(1 for q in pred if q["risk"] == tier)
        correct = confusion[(tier, tier)]
        lines.append(f"| {tier} | {support} | {ratio(correct, support):.3f} | {ratio(correct, predicted):.3f} |")
    lines += ["", "## Confusion matrix (rows: gold, columns: predicted)", "", "| gold \\ predicted | " + " | ".join(TIERS) + " |", "|---" * (len(TIERS) + 1) + "|"]
    for g in TIERS:
        lines.append(f"| {g} | " + " | ".join(str(confusion[(g, p)]) for p in TIERS) + " |")
    misses = [(r, q) for r, q in zip(gold, pred) if r["tier"] != q["risk"] or (r.get("route") and r["route"] != q["route"])]
    lines += ["", f"## Disagreements ({len(misses)})", "", "| gold | predicted | text |", "|---|---|---|"]
    for r, q in misses:
        text = r["text"].replace("|", "/")
        lines.append(f"| {r['tier']} {r.get('route') or ''} | {q['risk']} {q['route'] or ''} | {text} |")
    flagged = [x for x in xsid if Tier[x["risk"]] >= Tier.tension]
    lines += ["", f"## xSID sentences flagged tension or higher ({len(flagged)})", ""] + [f"- {x['text']} → {x['risk']}" for x in flagged]
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("tests/data/triage_dev.tsv"))
    parser.add_argument("--xsid", type=Path, default=Path("../shared/data/xsid-nl/test.txt"))
    parser.add_argument("--report", type=Path, default=Path("reports/triage.md"))
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args()
    gold = read_tsv(args.data)
    xsid_texts = [l.strip() for l in args.xsid.read_text(encoding="utf-8").splitlines() if l.strip()] if args.xsid.exists() else []
    if not xsid_texts:
        print(f"xSID test set not found at {args.xsid}", file=sys.stderr)
        return 2
    with quiet():
        agent = load_agent(args.model)
    pred = classify(agent, [r["text"] for r in gold])
    xsid = classify(agent, xsid_texts)
    results = targets(gold, pred, xsid)
    text = report(args.report, args.data, gold, pred, xsid, results)
    print("\n".join(text.split("\n## Disagreements")[0].splitlines()[4:]))
    print(f"Report: {args.report}")
    failed = [t.name for t in results if not t.ok]
    if failed:
        print("FAILED targets: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
