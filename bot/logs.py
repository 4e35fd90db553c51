"""Logging without message text or secrets: tracebacks keep their frames but lose the exception message
(it may quote what a person wrote), and known secrets (the bot token) are masked in every record."""
from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Iterable, Optional, Tuple, Type

ExcInfo = Tuple[Type[BaseException], BaseException, Optional[TracebackType]]


class Redacted(Exception):
    """Stands in for an exception whose message is withheld."""


def redacted(error: BaseException) -> ExcInfo:
    """exc_info for `log.error(..., exc_info=redacted(error))`: the frames, the type, not the message."""
    name = f"{type(error).__module__}.{type(error).__qualname__}"
    return Redacted, Redacted(f"{name} (message withheld)"), error.__traceback__


class MaskSecrets(logging.Filter):
    """Replace secrets (e.g. the bot token inside a Bot API URL) in log messages by '***'."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            masked = message
            for secret in self.secrets:
                masked = masked.replace(secret, "***")
            if masked != message:
                record.msg, record.args = masked, None
        return True


QUIET = {
    "httpx": logging.WARNING,  # logs every request URL, and Bot API URLs contain the token
    "httpcore": logging.WARNING,
    "telegram": logging.WARNING,
    "telegram.ext.Application": logging.WARNING,
    "apscheduler": logging.WARNING,
    "uvicorn.access": logging.WARNING,
    "aiohttp.access": logging.WARNING,
}


def configure(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Root logging to stderr at `level`, noisy libraries quieter, secrets masked."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    handler.addFilter(MaskSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, quiet_level in QUIET.items():
        logging.getLogger(name).setLevel(max(quiet_level, root.level))
