"""`python -m bot.nlu`: one message per line on stdin -> one JSON object per line on stdout.

Each object is {"text", "intent", "confidence", "entities"}, in the order of the input.
"""
from __future__ import annotations

from typing import Any, Dict

from bot.cli import run

ENTITY_KEYS = ("entity", "value", "start", "end")


def record(text: str, parsed: Dict[str, Any]) -> Dict[str, Any]:
    intent = parsed.get("intent") or {}
    return {
        "text": text,
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "entities": [{k: e.get(k) for k in ENTITY_KEYS} for e in parsed.get("entities") or []],
    }


if __name__ == "__main__":
    run(record, __doc__)
