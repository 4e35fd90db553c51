"""Tests for the fake Bot API server, driven by the real python-telegram-bot client.

Every scenario uses ``telegram.Bot`` / ``telegram.ext.Application`` with
``base_url=api.base_url``; async scenarios run with :func:`asyncio.run`, so no
pytest plugin is needed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import pytest
from aiohttp import web
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
)

from tests.support.fake_bot_api import FakeBotApi, SentMessage, parse_formatted_text

T = TypeVar("T")
USER = 42
KEYBOARD = InlineKeyboardMarkup(
    [[
        InlineKeyboardButton("Ja", callback_data="yes"),
        InlineKeyboardButton("Nee", callback_data="no"),
    ]]
)


def run(coro: Awaitable[T]) -> T:
    """Run one async scenario to completion."""
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def api() -> Iterator[FakeBotApi]:
    with FakeBotApi() as server:
        yield server


def make_bot(api: FakeBotApi) -> Bot:
    return Bot(api.token, base_url=api.base_url)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_post(url: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST JSON without PTB, to see the exact status and body."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ------------------------------------------------------------------ basics


def test_get_me(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            me = await bot.get_me()
        assert me.is_bot and me.id == 123 and me.username == "adempauze_test_bot"

    run(scenario())
    assert api.calls("getMe")[0].status == 200


def test_wrong_token_and_unknown_method(api: FakeBotApi) -> None:
    async def scenario() -> None:
        with pytest.raises(InvalidToken):
            async with Bot("999:WRONG", base_url=api.base_url):
                pass  # initialize() calls getMe

    run(scenario())
    status, body = raw_post(f"{api.base_url}{api.token}/sendTelepathy", {})
    assert (status, body["ok"], body["error_code"]) == (404, False, 404)
    status, body = raw_post(f"{api.base_url}999:WRONG/getMe", {})
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


def test_json_bodies_and_case_insensitive_methods(api: FakeBotApi) -> None:
    api.add_chat(USER)
    status, body = raw_post(
        f"{api.base_url}{api.token}/SENDMESSAGE",
        {"chat_id": USER, "text": "hoi", "reply_markup": json.dumps(KEYBOARD.to_dict())},
    )
    assert status == 200 and body["result"]["reply_markup"] == KEYBOARD.to_dict()


# ------------------------------------------------------------------ messages


def test_send_message_with_inline_keyboard(api: FakeBotApi) -> None:
    api.user_sends_text(USER, "hallo", first_name="Anna")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            first = await bot.send_message(USER, "<b>Doe je mee?</b>", parse_mode=ParseMode.HTML,
                                           reply_markup=KEYBOARD)
            second = await bot.send_message(USER, "tweede")
        assert first.text == "Doe je mee?" and first.entities[0].type == "bold"
        assert first.reply_markup == KEYBOARD and first.from_user.is_bot
        assert first.chat.id == USER and first.chat.first_name == "Anna"
        # the user's message took id 1 in this chat, so the bot's ids continue from there
        assert (first.message_id, second.message_id) == (2, 3)

    run(scenario())
    record = api.sent_messages(USER)[0]
    assert record.text == "<b>Doe je mee?</b>" and record.plain_text == "Doe je mee?"
    assert record.parse_mode == "HTML"
    assert [b["callback_data"] for b in record.buttons()] == ["yes", "no"]
    assert api.calls("sendMessage")[0].params["chat_id"] == USER


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<b>open", ParseMode.HTML, "Can't parse entities"),
        ("1 < 2", ParseMode.HTML, "Can't parse entities"),
        ("regel<br>regel", ParseMode.HTML, "Can't parse entities"),
        ("Klaar.", ParseMode.MARKDOWN_V2, "Can't parse entities"),
        ("x" * 4097, None, "Message is too long"),
        ("   ", None, "Message text is empty"),
    ],
)
def test_send_message_validation(api: FakeBotApi, text: str, parse_mode: str | None,
                                 error: str) -> None:
    api.add_chat(USER)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(BadRequest, match=error):
                await bot.send_message(USER, text, parse_mode=parse_mode)

    run(scenario())
    assert api.sent_messages() == []


def test_html_escaping_and_length_after_parsing() -> None:
    html = '<a href="https://x.nl/?a=1&amp;b=2">1 &lt; 2 &amp; 😀</a>'
    text, entities = parse_formatted_text(html, "HTML")
    assert text == "1 < 2 & 😀"  # the emoji counts as 2 UTF-16 units in the entity length
    link = {"type": "text_link", "offset": 0, "length": 10, "url": "https://x.nl/?a=1&b=2"}
    assert entities == [link]
    assert parse_formatted_text("<b>" + "x" * 4096 + "</b>", "HTML")[0] == "x" * 4096


def test_unknown_chat_blocked_user_and_left_group(api: FakeBotApi) -> None:
    api.user_blocks_bot(7)
    api.add_chat(7)
    api.user_sends_group_text(USER, -100, "hoi allemaal")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(555, "hoi")
            with pytest.raises(Forbidden, match="blocked by the user"):
                await bot.send_message(7, "hoi")
            assert await bot.leave_chat(-100)
            with pytest.raises(Forbidden, match="not a member"):
                await bot.send_message(-100, "hoi")

    run(scenario())
    assert api.left_chats == [-100]


def test_edit_delete_and_chat_action(api: FakeBotApi) -> None:
    api.add_chat(USER)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            await bot.send_chat_action(USER, "typing")
            message = await bot.send_message(USER, "vraag", reply_markup=KEYBOARD)
            with pytest.raises(BadRequest, match="not modified"):
                await bot.edit_message_reply_markup(
                    USER, message.message_id, reply_markup=KEYBOARD
                )
            edited = await bot.edit_message_text("antwoord", USER, message.message_id)
            assert edited.text == "antwoord" and edited.reply_markup is None  # keyboard dropped
            assert edited.edit_date is not None
            assert await bot.delete_message(USER, message.message_id)
            with pytest.raises(BadRequest, match="Message to delete not found"):
                await bot.delete_message(USER, message.message_id)

    run(scenario())
    assert [r.method for r in api.sent_messages(USER)] == ["sendMessage", "editMessageText"]
    assert api.chat_actions == [(USER, "typing")]
    assert api.message(USER, 1) is None


def test_commands_close_and_log_out(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot:
            assert await bot.set_my_commands([("start", "Begin"), ("stop", "Stop")])
            assert [c.command for c in await bot.get_my_commands()] == ["start", "stop"]
            with pytest.raises(BadRequest):
                await bot.set_my_commands([("Start!", "ongeldig")])
            assert await bot.delete_my_commands()
            assert await bot.get_my_commands() == ()
            assert await bot.close() and await bot.log_out()

    run(scenario())


# ------------------------------------------------------------------ updates


def test_get_updates_offset_and_long_polling(api: FakeBotApi) -> None:
    first = api.user_sends_text(USER, "/start", username="anna")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            updates = await bot.get_updates(timeout=0)
            assert [u.update_id for u in updates] == [first["update_id"]]
            message = updates[0].message
            assert message.text == "/start" and message.entities[0].type == "bot_command"
            assert message.from_user.username == "anna" and message.date.timestamp() > 0
            # unconfirmed updates come again; an offset confirms them
            assert len(await bot.get_updates(timeout=0)) == 1
            offset = updates[-1].update_id + 1
            assert await bot.get_updates(offset=offset, timeout=0) == ()

            poll = asyncio.create_task(bot.get_updates(offset=offset, timeout=5))
            await asyncio.sleep(0.3)
            assert not poll.done()  # long polling waits for an update
            later = api.user_sends_text(USER, "tweede bericht")
            updates = await asyncio.wait_for(poll, 2)
            assert [u.update_id for u in updates] == [later["update_id"]]
            assert later["update_id"] > first["update_id"]
            assert updates[0].message.message_id > message.message_id

    run(scenario())


def test_resend_delivers_a_duplicate(api: FakeBotApi) -> None:
    original = api.user_sends_text(USER, "dubbel")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            updates = await bot.get_updates(timeout=0)
            api.resend(original)
            again = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
            assert [u.update_id for u in again] == [original["update_id"]]

    run(scenario())


def test_media_group_and_edited_updates_parse_in_ptb(api: FakeBotApi) -> None:
    text = api.user_sends_text(USER, "typo")
    api.user_edits_message(USER, text, "geen typo")
    api.user_sends_voice(USER, duration=4)
    api.user_sends_photo(USER, caption="foto")
    api.user_sends_sticker(USER)
    api.user_sends_video(USER)
    api.user_sends_document(USER, file_name="plan.pdf")
    api.user_sends_location(USER)
    api.user_sends_contact(USER)
    api.user_sends_group_text(USER, -100, "/start@adempauze_test_bot", chat_type="supergroup")
    api.send_raw_update({"my_chat_member": {"bogus": True}, "update_id": 99_999})
    api.user_sends_text(USER, "na raw")

    async def scenario() -> list[Update]:
        async with make_bot(api) as bot:
            return list(await bot.get_updates(limit=11, timeout=0))

    updates = run(scenario())
    assert updates[1].edited_message.text == "geen typo"
    messages = [u.message for u in updates[2:10]]
    assert messages[0].voice.duration == 4
    assert messages[1].photo[-1].width == 1280 and messages[1].caption == "foto"
    assert messages[2].sticker.emoji and messages[3].video
    assert messages[4].document.file_name == "plan.pdf"
    assert messages[5].location.latitude and messages[6].contact.phone_number
    assert messages[7].chat.type == "supergroup" and messages[7].chat.id == -100
    assert len(updates) == 11 and len(api.pending_updates()) == 12
    assert api.pending_updates()[-1]["update_id"] > 99_999


# ------------------------------------------------------------------ callback queries


def test_press_button_and_answer_callback_query(api: FakeBotApi) -> None:
    api.add_chat(USER)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            sent = await bot.send_message(USER, "Doe je mee?", reply_markup=KEYBOARD)
            with pytest.raises(ValueError, match="no button"):
                api.user_presses_button(USER, api.sent_messages(USER)[0], "misschien")
            api.user_presses_button(USER, api.sent_messages(USER)[0], "yes")
            (update,) = await bot.get_updates(timeout=1)
            query = update.callback_query
            assert query.data == "yes" and query.from_user.id == USER
            assert query.message.message_id == sent.message_id and query.message.from_user.is_bot
            assert await query.answer("Top!")
            with pytest.raises(BadRequest, match="(?i)query is too old"):
                await query.answer()
            await query.edit_message_text("Je doet mee")

    run(scenario())
    assert len(api.callback_answers) == 1
    assert api.calls("answerCallbackQuery")[0].params["text"] == "Top!"
    assert api.message(USER, 1)["text"] == "Je doet mee"


# ------------------------------------------------------------------ failure injection


def test_rate_limiter_retries_through_429(api: FakeBotApi) -> None:
    api.add_chat(USER)
    api.fail_next("sendMessage", times=2, retry_after=1)

    async def scenario() -> None:
        bot = ExtBot(api.token, base_url=api.base_url, rate_limiter=AIORateLimiter(max_retries=2))
        async with bot:
            message = await bot.send_message(USER, "na twee keer 429")
        assert message.text == "na twee keer 429"

    run(scenario())
    assert [c.status for c in api.calls("sendMessage")] == [429, 429, 200]
    assert len(api.sent_messages(USER)) == 1


def test_429_body_is_telegram_style(api: FakeBotApi) -> None:
    api.add_chat(USER)
    api.fail_next("sendMessage", times=1, retry_after=7)

    async def scenario() -> None:
        async with make_bot(api) as bot:
            with pytest.raises(RetryAfter) as caught:
                await bot.send_message(USER, "te snel")
            retry_after = caught.value.retry_after  # int, or timedelta with PTB_TIMEDELTA set
            assert getattr(retry_after, "total_seconds", lambda: retry_after)() == 7
            await bot.send_message(USER, "nu wel")

    run(scenario())
    failed = api.calls("sendMessage")[0]
    assert (failed.status, failed.error) == (429, "Too Many Requests: retry after 7")


def test_connection_reset_then_recovery(api: FakeBotApi) -> None:
    api.reset_next(times=1, method="getMe")

    async def scenario() -> None:
        bot = make_bot(api)
        with pytest.raises(NetworkError):
            await bot.initialize()  # initialize() calls getMe
        async with bot:
            assert (await bot.get_me()).username == "adempauze_test_bot"

    run(scenario())
    assert [c.status for c in api.calls("getMe")][:2] == [None, 200]


# ------------------------------------------------------------------ webhooks


@asynccontextmanager
async def webhook_receiver(status: int = 200) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A tiny aiohttp endpoint that records POSTed updates and their secret header."""
    received: list[dict[str, Any]] = []

    async def handle(request: web.Request) -> web.Response:
        received.append({"secret": request.headers.get("X-Telegram-Bot-Api-Secret-Token"),
                         "update": await request.json()})
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}/hook", received
    finally:
        await runner.cleanup()


def test_webhook_delivery_with_secret(api: FakeBotApi) -> None:
    queued_before = api.user_sends_text(USER, "wachtte al")

    async def scenario() -> None:
        async with make_bot(api) as bot, webhook_receiver() as (url, received):
            assert await bot.set_webhook(url, secret_token="geheim_123")
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            update = api.user_sends_text(USER, "via webhook")
            deliveries = await api.wait_for_deliveries_async(2)
            assert [r["update"]["update_id"] for r in received] == [
                queued_before["update_id"], update["update_id"]]
            assert {r["secret"] for r in received} == {"geheim_123"}
            assert [d.status for d in deliveries] == [200, 200] and all(d.ok for d in deliveries)
            info = await bot.get_webhook_info()
            assert info.url == url and info.pending_update_count == 0
            assert await bot.delete_webhook()
            assert (await bot.get_webhook_info()).url == ""

    run(scenario())
    assert api.webhook_url is None


def test_webhook_failures_are_recorded(api: FakeBotApi) -> None:
    async def scenario() -> None:
        async with make_bot(api) as bot, webhook_receiver(status=500) as (url, _):
            await bot.set_webhook(url)
            api.user_sends_text(USER, "boem")
            (delivery,) = await api.wait_for_deliveries_async(1)
            assert delivery.status == 500 and not delivery.ok and delivery.secret_token is None
            info = await bot.get_webhook_info()
            assert "500" in (info.last_error_message or "")

    run(scenario())


# ------------------------------------------------------------------ whole Application


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await update.effective_message.reply_text("Doe je mee?", reply_markup=KEYBOARD)


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    await query.answer()
    await query.edit_message_text("Ja!" if query.data == "yes" else "Jammer")


def build_application(api: FakeBotApi) -> Application:
    application = Application.builder().token(api.token).base_url(api.base_url).build()
    application.add_handler(CommandHandler("start", ask))
    application.add_handler(CallbackQueryHandler(answer))
    return application


def test_application_polling_end_to_end(api: FakeBotApi) -> None:
    async def scenario() -> None:
        application = build_application(api)
        async with application:
            await application.start()
            await application.updater.start_polling(timeout=1)
            api.user_sends_text(USER, "/start")
            (question,) = await api.wait_for_async(1, chat_id=USER)
            api.user_presses_button(USER, question, "yes")
            await api.wait_for_async(lambda m: m.plain_text == "Ja!", chat_id=USER)
            await application.updater.stop()
            await application.stop()

    run(scenario())
    assert len(api.callback_answers) == 1
    assert api.pending_updates() == []  # the updater confirmed everything on stop


def test_application_webhook_end_to_end(api: FakeBotApi) -> None:
    port = free_port()

    async def scenario() -> None:
        application = build_application(api)
        async with application:
            await application.start()
            await application.updater.start_webhook(
                listen="127.0.0.1", port=port, url_path="tg", secret_token="s3cr3t",
                webhook_url=f"http://127.0.0.1:{port}/tg",
            )
            api.user_sends_text(USER, "/start")
            (question,) = await api.wait_for_async(1, chat_id=USER)
            api.user_presses_button(USER, question, "no")
            edited: list[SentMessage] = await api.wait_for_async(
                lambda m: m.plain_text == "Jammer", chat_id=USER)
            assert edited[0].method == "editMessageText"
            await application.updater.stop()
            await application.stop()

    run(scenario())
    assert [d.status for d in api.webhook_deliveries()] == [200, 200]
    assert api.calls("setWebhook")[0].params["secret_token"] == "s3cr3t"


def test_blocking_wait_for_from_sync_code(api: FakeBotApi) -> None:
    api.add_chat(USER)
    with pytest.raises(TimeoutError, match="not as expected"):
        api.wait_for(1, timeout=0.2, chat_id=USER)
    raw_post(f"{api.base_url}{api.token}/sendMessage", {"chat_id": USER, "text": "sync"})
    assert api.wait_for(1, timeout=2, chat_id=USER)[0].text == "sync"


def test_register_method_and_reset(api: FakeBotApi) -> None:
    def get_chat(params: dict[str, Any]) -> dict[str, Any]:
        return {"id": params["chat_id"], "type": "private", "accent_color_id": 0,
                "max_reaction_count": 11}

    api.register_method("getChat", get_chat)
    api.user_sends_text(USER, "hallo")
    api.reset()
    assert api.pending_updates() == [] and api.calls() == []

    async def scenario() -> None:
        async with make_bot(api) as bot:
            assert (await bot.get_chat(USER)).id == USER
            with pytest.raises(BadRequest, match="Chat not found"):
                await bot.send_message(USER, "reset forgot this chat")

    run(scenario())


def test_reply_to_message(api: FakeBotApi) -> None:
    question = api.user_sends_text(USER, "wat is de status?")

    async def scenario() -> None:
        async with make_bot(api) as bot:
            reply = await bot.send_message(
                USER, "alles goed", reply_to_message_id=question["message"]["message_id"]
            )
            assert reply.reply_to_message.text == "wat is de status?"
            with pytest.raises(BadRequest, match="(?i)message to be replied not found"):
                await bot.send_message(USER, "?", reply_to_message_id=999)

    run(scenario())
    assert [m.message_id for m in api.sent_messages(USER)] == [2]
