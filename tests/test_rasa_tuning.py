"""bot.rasa_tuning changes Rasa's speed and memory, never its answers."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, Dict

import pytest

from tests.conftest import ROOT

pytestmark = [pytest.mark.model, pytest.mark.slow]

TEXTS = [
    "hallo",
    "ik wil een tip over slapen",
    "ik ben zo moe van alles",
    "hij staat nu met een mes voor mijn neus",
    "mijn man slaat me",
    "ik heb mijn zoon geslagen en schaam me kapot",
    "soms wil ik er gewoon niet meer zijn",
    "wie zijn jullie eigenlijk",
    "hoe laat is de kindertelefoon open",
    "de spanning bij de finale was niet te harden haha",
    "wat kan ik doen als mn puber de hele dag gamet",
    "doei",
]


def parses(mode: str) -> Dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "support" / "parse_dump.py"), mode],
        input="\n".join(TEXTS), capture_output=True, text=True, cwd=ROOT, timeout=600, check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_tuned_loading_gives_identical_predictions_with_less_memory() -> None:
    plain, tuned = parses("plain"), parses("tuned")
    assert len(tuned["parses"]) == len(TEXTS)
    assert tuned["parses"] == plain["parses"], "intent, ranking, confidences, risk, route, response selection: all the same"
    assert tuned["peak_gb"] < plain["peak_gb"] - 0.2, (plain["peak_gb"], tuned["peak_gb"])
