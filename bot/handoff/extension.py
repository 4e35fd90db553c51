"""The warm handoff as an extension of `python -m bot` (bot.runtime.Extension): the staff console at
/staff, the web chat at /chat (when Telegram is off), the handoff hook in the gateway, and the
handoff tables in /vergeet.
"""
from __future__ import annotations

import logging
from typing import Any, List, Optional, Sequence

from starlette.responses import RedirectResponse
from starlette.routing import BaseRoute, Route

from bot.assistant import Reply
from bot.handoff.runtime import HandoffRuntime
from bot.settings import Settings
from bot.webchat import WebChat

log = logging.getLogger(__name__)


class HandoffExtension:
    def __init__(self, settings: Settings, *, web_chat: Optional[bool] = None) -> None:
        self.settings = settings
        self.handoff = HandoffRuntime(settings)
        self.bot: Any = None  # bot.runtime.Runtime, known at start
        enabled = (not settings.telegram_token) if web_chat is None else web_chat
        self.web_chat: Optional[WebChat] = WebChat(self._submit, settings.secret_key(), self.handoff.person) if enabled else None

    async def _submit(self, incoming: Any) -> None:
        gateway = getattr(self.bot, "gateway", None)
        if gateway is None:
            raise RuntimeError("the gateway is not running yet")
        await gateway.handle(incoming)

    async def _send_telegram(self, address: str, replies: Sequence[Reply]) -> bool:
        """Staff messages to Telegram through the gateway's Telegram channel (False until it is up)."""
        channel = self.bot.gateway.channels.get("telegram") if self.bot is not None and self.bot.gateway is not None else None
        if channel is None:
            return False
        return bool(await channel.send(address, list(replies)))

    def routes(self) -> List[BaseRoute]:
        routes = list(self.handoff.routes())
        if self.web_chat is not None:
            routes += [self.web_chat.mount("/chat"), Route("/chat", lambda request: RedirectResponse("/chat/"))]
        return routes

    async def start(self, runtime: Any) -> None:
        self.bot = runtime
        self.handoff.bind(runtime.assistant)
        person = self.handoff.person
        runtime.gateway.add_hook(person)
        runtime.gateway.forgetter.register("handoffs", person.forget)
        person.register_channel("telegram", self._send_telegram)
        if self.web_chat is not None:
            runtime.gateway.add_channel(self.web_chat)
        await self.handoff.start()
        log.info("handoff: staff console at /staff%s", ", web chat at /chat" if self.web_chat is not None else "")

    async def stop(self) -> None:
        if self.web_chat is not None:
            await self.web_chat.shutdown()
        await self.handoff.stop()
