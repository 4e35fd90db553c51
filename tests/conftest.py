"""Shared fixtures: the trained model is loaded once per test session."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any, Dict

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "adempauze.tar.gz"


@pytest.fixture(scope="session")
def agent() -> Any:
    """The trained Rasa model (make setup trains it); tests that need it fail loudly without it."""
    assert MODEL.exists(), "models/adempauze.tar.gz is missing: run `make setup` first"
    from bot.model import load_agent

    return load_agent(MODEL)


@pytest.fixture(scope="session")
def parse(agent: Any):
    """parse(text) -> Rasa's parse result (intent, entities, risk, route, evidence)."""
    loop = asyncio.new_event_loop()

    def _parse(text: str) -> Dict[str, Any]:
        return loop.run_until_complete(agent.parse_message(text))

    yield _parse
    loop.close()
