"""Loading the trained Rasa model in-process, quietly."""
from __future__ import annotations

import contextlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any, Iterator, Optional

from bot import PROJECT_ROOT

DEFAULT_MODEL = PROJECT_ROOT / "models" / "adempauze.tar.gz"


def model_path(explicit: Optional[Path] = None) -> Path:
    """The model to load: explicit, models/adempauze.tar.gz, or the newest in models/."""
    if explicit:
        return explicit
    if DEFAULT_MODEL.exists():
        return DEFAULT_MODEL
    models = sorted((PROJECT_ROOT / "models").glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    if not models:
        raise SystemExit("No trained model in models/. Run `make setup` (or `make train`) first.")
    return models[-1]


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence TensorFlow and Rasa start-up chatter (never the application's own logs)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("rasa", "tensorflow", "absl", "spacy", "sanic", "apscheduler"):
            logging.getLogger(name).setLevel(logging.ERROR)
        from rasa.utils.log_utils import configure_structlog

        configure_structlog(logging.WARNING)  # Rasa's structured debug logs carry message text
        yield


def load_agent(path: Optional[Path] = None, **kwargs: Any) -> Any:
    """A rasa.core.agent.Agent with the trained model."""
    with quiet():
        from rasa.core.agent import Agent

        return Agent.load(str(model_path(path)), **kwargs)
