"""Settings, read once from the environment or a .env file. Secrets never print."""
from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional

from bot import PROJECT_ROOT


class Secret:
    """A string that never shows up in logs, reprs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('**********')" if self._value else "Secret('')"

    __str__ = __repr__


def read_env_file(path: Path) -> Dict[str, str]:
    """KEY=VALUE lines; '#' comments and blank lines are skipped; quotes around values are removed."""
    values: Dict[str, str] = {}
    if not path.exists():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        values[key.strip().removeprefix("export ").strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Settings:
    telegram_token: Secret = field(default_factory=lambda: Secret(""))
    telegram_base_url: str = "https://api.telegram.org/bot"
    secret: Secret = field(default_factory=lambda: Secret(""))
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'adempauze.db'}"
    webhook_url: Optional[str] = None
    webhook_secret: Secret = field(default_factory=lambda: Secret(""))
    host: str = "127.0.0.1"
    port: int = 8000
    model_path: Path = PROJECT_ROOT / "models" / "adempauze.tar.gz"
    action_server_url: Optional[str] = None  # remote action server; else one is started alongside
    rasa_server_url: Optional[str] = None  # remote Rasa server (REST channel); else the model runs in-process
    redis_url: Optional[str] = None
    retention_days: int = 30
    handoff_timeout_seconds: int = 300
    log_level: str = "INFO"
    webhook_path: Optional[str] = None  # path the web app serves the webhook on; default: WEBHOOK_URL's path
    forwarded_allow_ips: str = "127.0.0.1"  # reverse proxies whose X-Forwarded-* headers uvicorn trusts
    flood_limit: int = 10  # more than this many messages ...
    flood_window_seconds: float = 10.0  # ... within this many seconds gets one slow-down message
    telegram_max_rate: float = 30.0  # outgoing Bot API requests per second (AIORateLimiter)
    assistant_process: bool = True  # the model in a child process of its own (its own core and GIL; reports/bench.md)
    assistant_threads: int = 1  # without ASSISTANT_PROCESS: worker threads that run the in-process model (0: on the event loop); 1 measured as fast as 2 with 0.1 GB less (reports/bench.md)

    @property
    def development(self) -> bool:
        return not self.secret

    def secret_key(self) -> bytes:
        """Key for pseudonymous ids and sessions; a fixed development key when ADEMPAUZE_SECRET is unset."""
        return (self.secret.get() or "adempauze-development-only-key").encode()

    def webhook_secret_token(self) -> str:
        """X-Telegram-Bot-Api-Secret-Token: WEBHOOK_SECRET, or derived from ADEMPAUZE_SECRET."""
        if self.webhook_secret:
            return self.webhook_secret.get()
        return hmac.new(self.secret_key(), b"telegram-webhook-secret", hashlib.sha256).hexdigest()


def load_settings(env: Optional[Dict[str, str]] = None, env_file: Path = PROJECT_ROOT / ".env") -> Settings:
    """Settings from `env` (default: os.environ over the .env file)."""
    values = {**read_env_file(env_file), **(env if env is not None else os.environ)}
    defaults = Settings()

    def get(name: str, default: Optional[str] = None) -> Optional[str]:
        value = values.get(name)
        return value if value not in (None, "") else default

    return Settings(
        telegram_token=Secret(get("TELEGRAM_TOKEN", "") or ""),
        telegram_base_url=get("TELEGRAM_BASE_URL", defaults.telegram_base_url) or defaults.telegram_base_url,
        secret=Secret(get("ADEMPAUZE_SECRET", "") or ""),
        database_url=get("DATABASE_URL", defaults.database_url) or defaults.database_url,
        webhook_url=get("WEBHOOK_URL"),
        webhook_secret=Secret(get("WEBHOOK_SECRET", "") or ""),
        host=get("HOST", defaults.host) or defaults.host,
        port=int(get("PORT", str(defaults.port)) or defaults.port),
        model_path=Path(get("MODEL_PATH", str(defaults.model_path)) or defaults.model_path),
        action_server_url=get("ACTION_SERVER_URL"),
        rasa_server_url=get("RASA_SERVER_URL"),
        redis_url=get("REDIS_URL"),
        retention_days=int(get("RETENTION_DAYS", "30") or 30),
        handoff_timeout_seconds=int(get("HANDOFF_TIMEOUT_SECONDS", "300") or 300),
        log_level=get("LOG_LEVEL", "INFO") or "INFO",
        webhook_path=get("WEBHOOK_PATH"),
        forwarded_allow_ips=get("FORWARDED_ALLOW_IPS", defaults.forwarded_allow_ips) or defaults.forwarded_allow_ips,
        flood_limit=int(get("FLOOD_LIMIT", str(defaults.flood_limit)) or defaults.flood_limit),
        flood_window_seconds=float(get("FLOOD_WINDOW_SECONDS", str(defaults.flood_window_seconds)) or defaults.flood_window_seconds),
        telegram_max_rate=float(get("TELEGRAM_MAX_RATE", str(defaults.telegram_max_rate)) or defaults.telegram_max_rate),
        assistant_process=(get("ASSISTANT_PROCESS", "1") or "1").strip().lower() not in ("0", "false", "no", "off"),
        assistant_threads=int(get("ASSISTANT_THREADS", str(defaults.assistant_threads)) or 0),
    )
