"""The Telegram channel: how the gateway's replies reach a person's private chat."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Set

from telegram import Bot, LinkPreviewOptions
from telegram.constants import ChatAction, ParseMode
from telegram.error import BadRequest, Forbidden, TelegramError

from bot.assistant import Reply
from bot.telegram.format import CallbackPayloads, keyboard, split_text, to_html

log = logging.getLogger(__name__)
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class TelegramChannel:
    """Sends replies (HTML-escaped, split, with inline keyboards), typing, and removes keyboards.

    Bot messages are never deleted: after a choice only their keyboard goes, so a crisis message
    stays readable. Which messages still carry a keyboard is kept in memory only.
    """

    name = "telegram"

    def __init__(self, bot: Bot, has_capacity: Callable[[], bool] = lambda: True, keyboards_per_chat: int = 20) -> None:
        self.bot = bot
        self.payloads = CallbackPayloads()
        self.has_capacity = has_capacity
        self.keyboards_per_chat = keyboards_per_chat
        self._keyboards: Dict[int, List[int]] = defaultdict(list)
        self._background: Set["asyncio.Task[Any]"] = set()

    async def send(self, address: str, replies: Sequence[Reply]) -> bool:
        """Send every reply in order; False when the person blocked the bot or the chat is gone."""
        chat_id = int(address)
        try:
            for reply in replies:
                await self._send_one(chat_id, reply)
        except Forbidden:
            log.info("a person cannot be reached (blocked the bot)")
            return False
        return True

    async def _send_one(self, chat_id: int, reply: Reply) -> None:
        parts = split_text(reply.text or "")
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            markup = keyboard(reply.buttons, self.payloads) if last else None
            message = await self.bot.send_message(
                chat_id, to_html(part), parse_mode=ParseMode.HTML, reply_markup=markup, link_preview_options=NO_PREVIEW
            )
            if markup is not None:
                self._remember_keyboard(chat_id, message.message_id)

    def _remember_keyboard(self, chat_id: int, message_id: int) -> None:
        ids = self._keyboards[chat_id]
        ids.append(message_id)
        del ids[: -self.keyboards_per_chat]

    async def typing(self, address: str) -> None:
        """'typing…' in the chat, unless the rate limiter is busy (answers go first)."""
        if self.has_capacity():
            await self.bot.send_chat_action(int(address), ChatAction.TYPING)

    async def clear_keyboards(self, address: str) -> None:
        """Remove the keyboards of the chat's earlier messages (the messages stay)."""
        chat_id = int(address)
        for message_id in self._keyboards.pop(chat_id, []):
            await self.remove_keyboard(chat_id, message_id)

    async def remove_keyboard(self, chat_id: int, message_id: int) -> None:
        """Edit one message to have no keyboard (never delete it)."""
        ids = self._keyboards.get(chat_id)
        if ids and message_id in ids:
            ids.remove(message_id)
        with contextlib.suppress(BadRequest):  # already without keyboard, or too old to edit
            await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)

    def spawn(self, coroutine: Awaitable[Any], what: str) -> None:
        """Run a side request (answer a callback, remove a keyboard) without holding up the intake."""

        async def guarded() -> None:
            try:
                await coroutine
            except TelegramError as error:
                log.warning("%s failed (%s)", what, type(error).__name__)

        task = asyncio.ensure_future(guarded())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Wait for side requests still running."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
