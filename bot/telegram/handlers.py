"""python-telegram-bot handlers: each turns an update into a gateway `Incoming` and returns at once.

The handlers only queue work (the gateway keeps each person's messages in order and answers them), so
python-telegram-bot can process updates one after the other without holding anyone up.
"""
from __future__ import annotations

import logging
from typing import Optional

from telegram import Chat, Message, Update
from telegram.constants import ChatMemberStatus, ChatType
from telegram.ext import Application, CallbackQueryHandler, ChatMemberHandler, ContextTypes, MessageHandler, filters

from bot.gateway import BUTTON, MEDIA, TEXT, Gateway, Incoming, emergency_reply, gateway_text
from bot.logs import redacted
from bot.privacy import pseudonym
from bot.telegram.channel import TelegramChannel

log = logging.getLogger(__name__)
PSEUDONYM_CHANNEL = "tg"
MEDIA_KINDS = ("voice", "audio", "photo", "sticker", "video", "video_note", "animation", "document", "location", "venue", "contact")
MEDIA_FILTER = (
    filters.VOICE | filters.AUDIO | filters.PHOTO | filters.Sticker.ALL | filters.VIDEO | filters.VIDEO_NOTE
    | filters.ANIMATION | filters.Document.ALL | filters.LOCATION | filters.VENUE | filters.CONTACT
)
ALIASES = {"video_note": "video", "animation": "video", "venue": "location"}


def media_kind(message: Message) -> str:
    """'voice', 'photo', ... for the gateway's kind reply (a venue counts as a location)."""
    for kind in MEDIA_KINDS:
        if getattr(message, kind, None):
            return ALIASES.get(kind, kind)
    return "other"


class TelegramFrontEnd:
    """Handlers for private chats; group chats get one message and the bot leaves."""

    def __init__(self, gateway: Gateway, channel: TelegramChannel, key: bytes) -> None:
        self.gateway = gateway
        self.channel = channel
        self.key = key

    def person_id(self, user_id: int) -> str:
        """The pseudonym of a Telegram user (HMAC with ADEMPAUZE_SECRET); the user id itself is not kept."""
        return pseudonym(self.key, PSEUDONYM_CHANNEL, user_id)

    def _incoming(self, update: Update, text: str = "", kind: str = TEXT, media: Optional[str] = None) -> Optional[Incoming]:
        user, chat = update.effective_user, update.effective_chat
        if user is None or chat is None:
            return None
        return Incoming(
            channel=self.channel.name,
            person_id=self.person_id(user.id),
            address=str(chat.id),
            text=text,
            kind=kind,
            media=media,
            update_id=update.update_id,
        )

    async def on_text(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A text, a command or an edited text in a private chat: to the gateway."""
        message = update.effective_message
        incoming = self._incoming(update, text=(message.text if message else "") or "")
        if incoming is not None:
            self.gateway.submit(incoming)

    async def on_media(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Voice, photo, sticker, video, document, location, contact: a kind reply that only text is read."""
        message = update.effective_message
        incoming = self._incoming(update, kind=MEDIA, media=media_kind(message) if message else "other")
        if incoming is not None:
            self.gateway.submit(incoming)

    async def on_button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A button press: answer the query, remove that keyboard, send the payload to the gateway."""
        query = update.callback_query
        if query is None:
            return
        payload = self.channel.payloads.decode(query.data or "")
        self.channel.spawn(query.answer(), "answering a button")
        message = query.message
        if message is not None and isinstance(message, Message):
            self.channel.spawn(self.channel.remove_keyboard(message.chat_id, message.message_id), "removing a keyboard")
        if payload is None:
            payload = "gw:expired"
        incoming = self._incoming(update, text=payload, kind=BUTTON)
        if incoming is not None:
            self.gateway.submit(incoming)

    async def on_group(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A message in a group: say the bot only works in private chats, and leave."""
        chat = update.effective_chat
        if chat is not None:
            await self._leave(context, chat)

    async def on_membership(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Added to a group or channel: leave at once (with a message where that is possible)."""
        member = update.my_chat_member
        if member is None or member.chat.type == ChatType.PRIVATE:
            return
        if member.new_chat_member.status in (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR):
            await self._leave(context, member.chat)

    async def _leave(self, context: ContextTypes.DEFAULT_TYPE, chat: Chat) -> None:
        try:
            if chat.type != ChatType.CHANNEL:
                await context.bot.send_message(chat.id, gateway_text("group_only"))
        finally:
            await context.bot.leave_chat(chat.id)
        log.info("left a %s chat", chat.type)

    async def on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        """The one error handler: log the error without message content; apologise in a private chat."""
        error = context.error
        if error is None:
            return
        log.error("error in a Telegram handler (%s)", type(error).__name__, exc_info=redacted(error))
        chat = update.effective_chat if isinstance(update, Update) else None
        if chat is not None and chat.type == ChatType.PRIVATE:
            await self.channel.send(str(chat.id), [emergency_reply("apology")])

    def register(self, application: Application) -> None:
        """Attach the handlers (groups first, so nothing from a group reaches the assistant)."""
        private = filters.ChatType.PRIVATE
        application.add_handler(MessageHandler(filters.ChatType.GROUPS & filters.UpdateType.MESSAGE, self.on_group))
        application.add_handler(ChatMemberHandler(self.on_membership, ChatMemberHandler.MY_CHAT_MEMBER))
        application.add_handler(MessageHandler(private & filters.TEXT, self.on_text))
        application.add_handler(MessageHandler(private & MEDIA_FILTER, self.on_media))
        application.add_handler(CallbackQueryHandler(self.on_button))
        application.add_error_handler(self.on_error)
