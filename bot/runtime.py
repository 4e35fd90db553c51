"""Everything `python -m bot` runs, started and stopped in the right order.

start: the action server (a child process, unless ACTION_SERVER_URL is set) boots while the model loads
(in-process, unless RASA_SERVER_URL is set) -> warm-up -> gateway on the SQL database -> extensions
(issue 5: handoff, staff console, web chat) -> Telegram (polling, or webhook when WEBHOOK_URL is set;
off without TELEGRAM_TOKEN).

stop: no new updates (polling stops, the webhook answers 503) -> the gateway drains every message in
flight -> extensions -> Telegram's connection pool -> model process (or threads) -> action server -> database.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from datetime import timedelta
from typing import Any, Dict, List, Optional, Protocol

from starlette.routing import BaseRoute

from bot.action_server import ActionServer
from bot.assistant import RemoteAssistant
from bot.assistant_threads import threaded
from bot.db import make_engine
from bot.flood import FloodGuard
from bot.gateway import Gateway
from bot.settings import Settings
from bot.updates import ProcessedUpdates

log = logging.getLogger(__name__)


class Extension(Protocol):
    """A part that plugs into the runtime (issue 5's handoff): web routes, gateway hooks, deleters."""

    def routes(self) -> List[BaseRoute]: ...

    async def start(self, runtime: "Runtime") -> None: ...

    async def stop(self) -> None: ...


def load_in_process_assistant(settings: Settings, action_url: str, threads: int) -> Any:
    """The trained model with Rasa's SQL tracker store, tuned: in a model process of its own
    (ASSISTANT_PROCESS, the default), else on `threads` worker threads of this process."""
    if settings.assistant_process:
        from bot.assistant_process import ProcessAssistant

        return ProcessAssistant(settings.model_path, settings.database_url, action_url, settings.log_level)
    from bot.assistant import InProcessAssistant
    from bot.rasa_tuning import tune

    tune()
    return threaded(InProcessAssistant(settings.model_path, settings.database_url, action_url), threads)


class Runtime:
    def __init__(
        self,
        settings: Settings,
        extensions: Optional[List[Extension]] = None,
        *,
        assistant: Any = None,
        poll_timeout: int = 10,
    ) -> None:
        """`assistant`: use this one instead of loading the model (tests, benchmarks)."""
        self.settings = settings
        self.given_assistant = assistant
        self.poll_timeout = poll_timeout
        self.extensions: List[Extension] = list(extensions or [])
        self.started_at = time.monotonic()
        self.ready_after: Optional[float] = None
        self.action_server: Optional[ActionServer] = None
        self.assistant: Any = None
        self.gateway: Optional[Gateway] = None
        self.telegram: Any = None
        self.engine: Any = None
        self.updates: Optional[ProcessedUpdates] = None

    # -- start ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        settings = self.settings
        self.assistant = self.given_assistant or await self._start_assistant()
        self.engine = make_engine(settings.database_url)
        self.updates = await asyncio.to_thread(ProcessedUpdates, self.engine, timedelta(days=2))
        self.gateway = Gateway(
            self.assistant,
            updates=self.updates,
            flood=FloodGuard(settings.flood_limit, settings.flood_window_seconds),
            retention_days=settings.retention_days,
        )
        for extension in self.extensions:
            await extension.start(self)
        if settings.telegram_token:
            from bot.telegram.app import TelegramRuntime

            self.telegram = TelegramRuntime(settings, self.gateway, poll_timeout=self.poll_timeout)
            await self.telegram.start()
        self.ready_after = time.monotonic() - self.started_at

    async def _start_assistant(self) -> Any:
        settings = self.settings
        if settings.rasa_server_url:
            log.info("assistant: remote Rasa server")
            return RemoteAssistant(settings.rasa_server_url)
        action_url = settings.action_server_url
        booting = None
        if not action_url:
            self.action_server = ActionServer()
            action_url = self.action_server.url
            booting = asyncio.create_task(asyncio.to_thread(self.action_server.start))
        started = time.monotonic()
        assistant = await asyncio.to_thread(load_in_process_assistant, settings, action_url, settings.assistant_threads)
        log.info("model loaded in %.1f s", time.monotonic() - started)
        if booting is not None:
            await booting
        await self._warm_up(assistant)
        return assistant

    @staticmethod
    async def _warm_up(assistant: Any) -> None:
        """One throwaway conversation on every model thread, so the first person does not wait for
        TensorFlow to trace its functions; its tracker is deleted again."""
        workers = len(getattr(assistant, "workers", [None]))
        senders = [f"warmup-{secrets.token_hex(8)}" for _ in range(workers)]
        started = time.monotonic()
        await asyncio.gather(*(assistant.handle(sender, "/greet") for sender in senders))
        for sender in senders:
            await assistant.forget(sender)
        log.info("warm-up took %.1f s", time.monotonic() - started)

    # -- state ------------------------------------------------------------------------------------------

    def routes(self) -> List[BaseRoute]:
        return [route for extension in self.extensions for route in extension.routes()]

    def status(self) -> Dict[str, Any]:
        return {
            "ready": self.ready_after is not None,
            "telegram": self.telegram.mode if self.telegram else "off",
            "in_progress": self.gateway.busy if self.gateway else 0,
        }

    # -- stop -------------------------------------------------------------------------------------------

    async def stop(self, drain_timeout: float = 30.0) -> None:
        if self.telegram is not None:
            await self.telegram.stop_intake()
        if self.gateway is not None:
            drained = await self.gateway.close(drain_timeout)
            log.info("gateway drained" if drained else "gateway drain timed out")
        for extension in reversed(self.extensions):
            await extension.stop()
        if self.telegram is not None:
            await self.telegram.close()
        close = getattr(self.assistant, "close", None) if self.given_assistant is None else None
        if callable(close):
            result = close()
            if asyncio.iscoroutine(result):
                await result
        client = getattr(self.assistant, "client", None) if self.given_assistant is None else None
        if client is not None:
            await client.aclose()
        if self.action_server is not None:
            await asyncio.to_thread(self.action_server.stop)
        if self.engine is not None:
            self.engine.dispose()
