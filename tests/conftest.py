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


# -- the gateway's end-to-end tests (tests/test_telegram_e2e.py): one action server and one model for all --


@pytest.fixture(scope="session")
def action_server() -> Any:
    """The real rasa-sdk action server (actions/), started once per test session."""
    from bot.action_server import ActionServer

    with ActionServer() as server:
        yield server


@pytest.fixture(scope="session")
def gateway_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real SQLite database for the gateway tests (tracker store and processed updates)."""
    return f"sqlite:///{tmp_path_factory.mktemp('gateway') / 'adempauze.db'}"


@pytest.fixture(scope="session")
def model_assistant(agent: Any, action_server: Any, gateway_database: str) -> Any:
    """The trained model (shared with `agent`) with the action server and the SQL tracker store, on two
    worker threads, as `python -m bot` runs it."""
    from bot.assistant_threads import ThreadedAssistant
    from tests.support.gateway_stack import share_model

    assistant = ThreadedAssistant(share_model(agent, gateway_database, action_server.url), threads=2)
    yield assistant
    assistant.close()
