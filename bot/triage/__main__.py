"""`python -m bot.triage`: one message per line on stdin -> one JSON object per line on stdout.

Each object is {"text", "risk", "route", "intent", "confidence", "evidence"}, in the order of the
input. This is the stable interface for evaluating the danger triage.
"""
from __future__ import annotations

from typing import Any, Dict

from bot.cli import run


def record(text: str, parsed: Dict[str, Any]) -> Dict[str, Any]:
    intent = parsed.get("intent") or {}
    return {
        "text": text,
        "risk": parsed.get("risk") or "none",
        "route": parsed.get("route"),
        "intent": intent.get("name"),
        "confidence": round(float(intent.get("confidence") or 0.0), 4),
        "evidence": parsed.get("evidence") or [],
    }


if __name__ == "__main__":
    run(record, __doc__)
