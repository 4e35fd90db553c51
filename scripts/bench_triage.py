"""How much time the triage adds to the NLU pipeline, per message. Writes reports/triage_bench.md.

Measures, on the dev set and xSID test sentences (about 850 messages):
- the plain NLU parse of the trained model (Agent.parse_message, triage included), and
- the triage step alone (TriageClassifier.process on an already parsed message: lexicon matching,
  speaker, intent combination), which is what the triage adds to the plain pipeline.
Target: the triage adds at most 3 ms at p95. A report, not a pass/fail test.
"""
from __future__ import annotations

import asyncio
import csv
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import List

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.model import load_agent, quiet  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def triage_component(agent):
    """The TriageClassifier instance inside the loaded model's graph."""
    from bot.triage.component import TriageClassifier

    runner = agent.processor.graph_runner
    for node in runner._instantiated_nodes.values():  # rasa 3.6 DaskGraphRunner
        component = getattr(node, "_component", None)
        if isinstance(component, TriageClassifier):
            return component
    raise SystemExit("TriageClassifier not found in the model")


def main() -> None:
    with open(ROOT / "tests" / "data" / "triage_dev.tsv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)]
    xsid = ROOT.parent / "shared" / "data" / "xsid-nl" / "test.txt"
    if xsid.exists():
        texts += [line.strip() for line in xsid.read_text(encoding="utf-8").splitlines() if line.strip()]
    with quiet():
        agent = load_agent()
        component = triage_component(agent)
        from rasa.shared.nlu.training_data.message import Message

        loop = asyncio.new_event_loop()
        for text in texts[:20]:  # warm up
            loop.run_until_complete(agent.parse_message(text))
        parse_ms, triage_ms = [], []
        for text in texts:
            start = time.perf_counter()
            parsed = loop.run_until_complete(agent.parse_message(text))
            parse_ms.append((time.perf_counter() - start) * 1000)
        # the triage step alone, on messages carrying the spaCy doc and intent ranking like in the pipeline
        nlp = __import__("spacy").load(ROOT / "models" / "spacy_nl")
        for text, ranking in zip(texts, rankings(agent, loop, texts)):
            message = Message(data={"text": text, "text_spacy_doc": nlp(text), "intent_ranking": ranking, "intent": ranking[0] if ranking else {}})
            start = time.perf_counter()
            component.process([message])
            triage_ms.append((time.perf_counter() - start) * 1000)
        loop.close()
    rows = [
        ("plain NLU parse (Agent.parse_message)", parse_ms),
        ("triage step (TriageClassifier.process)", triage_ms),
    ]
    lines = [
        "# Triage latency",
        "",
        f"Command: `make bench-triage`. Machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, Python {platform.python_version()}.",
        f"{len(texts)} messages (tests/data/triage_dev.tsv and xSID test.txt), one at a time.",
        "",
        "| step | p50 ms | p95 ms | max ms |",
        "|---|---|---|---|",
        *[f"| {name} | {statistics.median(v):.2f} | {percentile(v, 0.95):.2f} | {max(v):.2f} |" for name, v in rows],
        "",
        f"Target: the triage adds at most 3 ms at p95 — measured {percentile(triage_ms, 0.95):.2f} ms "
        f"{'✅' if percentile(triage_ms, 0.95) <= 3.0 else '❌'}.",
    ]
    out = ROOT / "reports" / "triage_bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def rankings(agent, loop, texts: List[str]) -> List[list]:
    result = []
    for text in texts:
        parsed = loop.run_until_complete(agent.parse_message(text))
        result.append([r for r in parsed.get("intent_ranking") or [] if r["name"] != "nlu_fallback"])
    return result


if __name__ == "__main__":
    main()
