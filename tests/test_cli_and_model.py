"""The trained model end to end: `python -m bot.nlu`, `python -m bot.triage`, and triage through Rasa."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINES = [
    "hallo",
    "mijn dochter van 6 wil niet slapen",
    "",
    "hij staat nu met een mes in de keuken",
    "ik heb mijn zoon geslagen en ik schaam me",
    "papa slaat mij",
    "hij slaat de bal ver over het net",
]


def run_cli(module: str, lines: List[str]) -> List[Dict[str, Any]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
    result = subprocess.run(
        [sys.executable, "-m", module], input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=ROOT, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.fixture(scope="module")
def nlu_out() -> List[Dict[str, Any]]:
    return run_cli("bot.nlu", LINES)


@pytest.fixture(scope="module")
def triage_out() -> List[Dict[str, Any]]:
    return run_cli("bot.triage", LINES)


def test_nlu_cli_one_object_per_line_in_order(nlu_out) -> None:
    assert [o["text"] for o in nlu_out] == LINES
    for obj in nlu_out:
        assert set(obj) == {"text", "intent", "confidence", "entities"}
    assert nlu_out[0]["intent"] == "greet"
    assert nlu_out[1]["intent"] == "tip_sleep"
    assert {"entity": "age", "value": "6"}.items() <= nlu_out[1]["entities"][0].items()
    assert nlu_out[2]["intent"] is None and nlu_out[2]["entities"] == []


def test_triage_cli_interface(triage_out) -> None:
    assert [o["text"] for o in triage_out] == LINES
    for obj in triage_out:
        assert set(obj) == {"text", "risk", "route", "intent", "confidence", "evidence"}
    risks = [(o["risk"], o["route"]) for o in triage_out]
    assert risks[0] == ("none", None)
    assert risks[3] == ("acute", "112")
    assert risks[4] == ("violence", "de_waag")
    assert risks[5] == ("violence", "kindertelefoon")
    assert risks[6][0] in ("none", "stress")
    assert any(e.get("source") == "lexicon" for e in triage_out[3]["evidence"])


@pytest.mark.parametrize(
    "text, risk, route",
    [
        ("de spanningen lopen hier echt op, we schreeuwen de hele dag", "tension", "luisterlijn"),
        ("mijn man slaat me als hij gedronken heeft", "violence", "veilig_thuis"),
        ("de buurman slaat zijn kinderen, ik hoor het elke avond", "violence", "veilig_thuis"),
        ("ik wil er niet meer zijn, iedereen is beter af zonder mij", "self_harm", "113"),
        ("ik heb net alle pillen genomen", "acute", "112"),
        ("in fortnite schiet hij iedereen dood", "none", None),
        ("ik speel gewoon fortnite enzo maar dit is echt: mijn vader sloeg mijn moeder vandaag", "violence", "kindertelefoon"),
        ("mn zoon van 2 heeft een knoopcel ingeslikt", "acute", "112"),
    ],
)
def test_triage_through_the_model(parse, text: str, risk: str, route: str) -> None:
    parsed = parse(text)
    assert (parsed["risk"], parsed.get("route")) == (risk, route), parsed.get("evidence")


def test_lexicon_hit_overrides_a_harmless_intent(parse) -> None:
    parsed = parse("ik kan niet meer, hij heeft me weer gewurgd")
    assert parsed["risk"] in ("violence", "acute")
    assert parsed["intent"]["name"] in ("violence_victim", "acute")
