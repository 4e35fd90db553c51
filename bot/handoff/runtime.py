"""Everything the handoff needs at run time, wired once: database (migrated at start), broker, service,
staff console, person side, and the background tasks (nobody-accepts timeout, retention).

The gateway (bot/__main__.py) does, in this order:

    runtime = HandoffRuntime(settings, assistant)
    routes += runtime.routes()                     # /staff (console) and, with `chat=...`, /chat
    await runtime.start()                          # migrate, sync helplines, start tasks, deliver pending
    runtime.person.register_channel("telegram", send)
    ...
    await runtime.stop()
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, List, Optional

from starlette.routing import BaseRoute, Mount

from bot.db import make_engine, make_sessionmaker
from bot.handoff.addresses import AddressBox
from bot.handoff.migrate import upgrade
from bot.handoff.person import PersonSide
from bot.handoff.pubsub import make_broker
from bot.handoff.retention import RetentionTask, TimeoutTask
from bot.handoff.service import HandoffService
from bot.helplines import catalogue
from bot.settings import Settings
from bot.staff.app import StaffConsole

log = logging.getLogger(__name__)


class HandoffRuntime:
    def __init__(self, settings: Settings, assistant: Any = None, *, timeout_interval: float = 5.0,
                 retention_interval: float = 3600.0) -> None:
        self.settings = settings
        self.engine = make_engine(settings.database_url)
        self.sessions = make_sessionmaker(self.engine)
        self.broker = make_broker(settings.redis_url)
        self.service = HandoffService(self.sessions, self.broker, catalogue(), settings.handoff_timeout_seconds,
                                      addresses=AddressBox(settings.secret_key()))
        self.console = StaffConsole(self.service, settings.secret_key())
        self.assistant = assistant
        self.person = PersonSide(self.service, assistant)
        self.timeouts = TimeoutTask(self.service, timeout_interval)
        self.retention = RetentionTask(self.service, settings.retention_days, None, retention_interval)
        self._started = False
        if assistant is not None:
            self.bind(assistant)

    def bind(self, assistant: Any) -> None:
        """The assistant (triage, tracker store) may be known only once the bot has loaded the model."""
        self.assistant = assistant
        self.person.bind(assistant)
        self.retention.tracker_store = getattr(assistant, "tracker_store", None)

    def routes(self) -> List[BaseRoute]:
        return [Mount("/staff", app=self.console.app())]

    def migrate(self) -> None:
        upgrade(self.engine)

    async def start(self) -> None:
        await asyncio.to_thread(self.migrate)
        await self.broker.start()
        await self.service.sync_helplines()
        self.timeouts.start()
        self.retention.start()
        await self.person.start()
        self._started = True

    async def stop(self) -> None:
        await self.console.shutdown()
        await self.person.stop()
        await self.timeouts.stop()
        await self.retention.stop()
        await self.broker.stop()
        await asyncio.to_thread(self.engine.dispose)
        self._started = False
