"""Test support for the gateway: the session's trained model shared with a real action server and a real
SQL tracker store, and bots under test wired exactly like `python -m bot` (bot.runtime.Runtime) against
the fake Telegram Bot API server (tests/support/fake_bot_api.py)."""
from __future__ import annotations

import asyncio
import contextlib
import copy
import secrets
import socket
from pathlib import Path
from typing import Any, AsyncIterator, Dict, Iterator, List, Optional

import uvicorn
from sqlalchemy import create_engine, text

from bot.assistant import InProcessAssistant, Reply, sql_tracker_store
from bot.privacy import pseudonym
from bot.runtime import Runtime
from bot.settings import Settings, load_settings
from bot.web import TelegramWebhook, create_app, webhook_path
from tests.support.fake_bot_api import FakeBotApi, SentMessage

NO_ENV_FILE = Path("/nonexistent/.env")
POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def share_model(agent: Any, database_url: str, action_url: str) -> InProcessAssistant:
    """An InProcessAssistant on an already loaded agent (one model per test session), with its own
    SQL tracker store, lock store and action endpoint."""
    from rasa.core.lock_store import InMemoryLockStore
    from rasa.utils.endpoints import EndpointConfig

    from bot.rasa_tuning import tune

    tune()
    store = sql_tracker_store(database_url, agent.domain)
    clone, processor = copy.copy(agent), copy.copy(agent.processor)
    locks, endpoint = InMemoryLockStore(), EndpointConfig(url=action_url)
    for target in (clone, processor):
        target.tracker_store, target.lock_store, target.action_endpoint = store, locks, endpoint
    clone.processor = processor
    assistant = InProcessAssistant.__new__(InProcessAssistant)
    assistant.agent, assistant.tracker_store = clone, store
    return assistant


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database `adempauze_test_<random>` on 127.0.0.1:5432, dropped afterwards."""
    name = f"adempauze_test_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT", future=True)
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def settings_for(api: FakeBotApi, database_url: str, **env: str) -> Settings:
    values = {
        "TELEGRAM_TOKEN": api.token,
        "TELEGRAM_BASE_URL": api.base_url,
        "DATABASE_URL": database_url,
        "ADEMPAUZE_SECRET": "test-secret-not-for-production",
        **env,
    }
    return load_settings(values, env_file=NO_ENV_FILE)


class BotUnderTest:
    """Runtime + Telegram (polling, or webhook served by uvicorn) against the fake Bot API."""

    def __init__(self, api: FakeBotApi, assistant: Any, database_url: str, *, webhook: bool = False, **env: str) -> None:
        self.api = api
        self.port = free_port() if webhook else None
        if webhook:
            env = {"WEBHOOK_URL": f"http://127.0.0.1:{self.port}/telegram/webhook", **env}
        self.settings = settings_for(api, database_url, **env)
        self.runtime = Runtime(self.settings, assistant=assistant, poll_timeout=1)
        self.server: Optional[uvicorn.Server] = None
        self._serving: Optional["asyncio.Task[None]"] = None

    @property
    def gateway(self) -> Any:
        return self.runtime.gateway

    def person_id(self, user_id: int) -> str:
        return pseudonym(self.settings.secret_key(), "tg", user_id)

    async def start(self) -> "BotUnderTest":
        if self.port is not None:
            hook = TelegramWebhook(self.settings.webhook_secret_token(), lambda: self.runtime.telegram)
            app = create_app(status=self.runtime.status, webhook=hook, webhook_path_=webhook_path(self.settings.webhook_url))
            config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None, access_log=False, lifespan="off", ws="none")
            self.server = uvicorn.Server(config)
            self.server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
            self._serving = asyncio.create_task(self.server.serve())
            while not self.server.started:
                if self._serving.done():
                    self._serving.result()  # raises why the web server did not start
                    raise RuntimeError("web server stopped at start-up")
                await asyncio.sleep(0.02)
        await self.runtime.start()
        return self

    async def stop(self) -> None:
        if self.runtime.telegram is not None:
            await self.runtime.telegram.stop_intake()
        if self.server is not None and self._serving is not None:
            self.server.should_exit = True
            await self._serving
        await self.runtime.stop()

    async def __aenter__(self) -> "BotUnderTest":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class FlakyAssistant:
    """The real assistant, except that a message containing `trigger` raises (an internal failure)."""

    def __init__(self, inner: Any, trigger: str = "boem") -> None:
        self.inner = inner
        self.trigger = trigger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        if self.trigger in text:
            raise RuntimeError(f"simulated failure on {text!r}")
        return await self.inner.handle(sender_id, text)


class RecordingAssistant:
    """The real assistant, recording every message it got (in order) and how many replies it gave."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: List[tuple] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        replies = await self.inner.handle(sender_id, text)
        self.calls.append((sender_id, text, len(replies)))
        return replies


class ScriptedAssistant:
    """A stand-in assistant for channel tests: replies from a dict, records what it got, optional delay."""

    def __init__(self, replies: Optional[Dict[str, List[Reply]]] = None, delay: float = 0.0) -> None:
        self.replies = replies or {}
        self.delay = delay
        self.received: List[tuple] = []
        self.forgotten: List[str] = []

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        self.received.append((sender_id, text))
        if self.delay:
            await asyncio.sleep(self.delay)
        return list(self.replies.get(text, [Reply(f"echo: {text}")]))

    async def parse(self, text: str) -> Dict[str, Any]:
        return {"text": text}

    async def forget(self, sender_id: str) -> None:
        self.forgotten.append(sender_id)


def tracker_events(database_url: str, sender_id: str) -> List[Dict[str, Any]]:
    """Rasa's stored events of one sender, oldest first (type_name, intent, action, data)."""
    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT type_name, intent_name, action_name, data FROM events WHERE sender_id = :s ORDER BY id"),
                {"s": sender_id},
            ).all()
    finally:
        engine.dispose()
    return [{"type": r[0], "intent": r[1], "action": r[2], "data": r[3]} for r in rows]


def texts_of(messages: List[SentMessage]) -> List[str]:
    return [m.plain_text for m in messages if not m.is_edit]


async def wait_quiet(api: FakeBotApi, chat_id: int, quiet: float = 0.6, timeout: float = 10.0) -> List[SentMessage]:
    """Wait until the bot has sent nothing new to `chat_id` for `quiet` seconds; return what it sent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    count, since = -1, loop.time()
    while loop.time() < deadline:
        now = len(api.sent_messages(chat_id))
        if now != count:
            count, since = now, loop.time()
        elif loop.time() - since >= quiet:
            break
        await asyncio.sleep(0.05)
    return api.sent_messages(chat_id)


@contextlib.asynccontextmanager
async def running(bot: BotUnderTest) -> AsyncIterator[BotUnderTest]:
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()
