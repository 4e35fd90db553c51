"""End to end: a person on Telegram, through python-telegram-bot's real HTTP layer, against the fake Bot
API server (tests/support/fake_bot_api.py), with the trained model, a real action server and a real SQL
database (SQLite; the core conversation also on PostgreSQL at 127.0.0.1:5432).

The bot is wired exactly as `python -m bot` wires it (bot.runtime.Runtime); only the model is shared
between the tests (the session's `model_assistant`).
"""
from __future__ import annotations

import asyncio
import itertools
import json
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

import pytest
from sqlalchemy import create_engine, text

from bot.assistant import Reply
from bot.helplines import catalogue
from bot.telegram.format import MAX_CALLBACK_BYTES
from tests.support.fake_bot_api import FakeBotApi, SentMessage
from tests.support.gateway_stack import (
    BotUnderTest,
    FlakyAssistant,
    RecordingAssistant,
    ScriptedAssistant,
    postgres_database,
    share_model,
    texts_of,
    tracker_events,
    wait_quiet,
)

pytestmark = [pytest.mark.slow, pytest.mark.model]
USERS = itertools.count(7_000_001)
TIMEOUT = 30.0


@pytest.fixture
def api(gateway_database: str) -> Any:
    """A fake Bot API server: a new bot, whose update ids start again at 10000, so the processed update
    ids that earlier tests left in the shared database are cleared first."""
    engine = create_engine(gateway_database, future=True)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM gateway_processed_updates")) if _has_table(connection) else None
    engine.dispose()
    with FakeBotApi() as server:
        yield server


def _has_table(connection: Any) -> bool:
    from sqlalchemy import inspect

    return inspect(connection).has_table("gateway_processed_updates")


@pytest.fixture
def user() -> int:
    """A fresh Telegram user id per test (the tracker store is shared by the session)."""
    return next(USERS)


def sent_to(api: FakeBotApi, user: int) -> List[SentMessage]:
    """New messages the bot sent to the person (edits left out)."""
    return [m for m in api.sent_messages(user) if not m.is_edit]


async def said(api: FakeBotApi, user: int, text: str, count: int = 1, timeout: float = TIMEOUT) -> List[SentMessage]:
    """The person writes `text`; wait until the bot sent `count` more messages; return the new ones."""
    before = len(sent_to(api, user))
    api.user_sends_text(user, text, first_name="Anna", username="anna_de_vries")
    await api.wait_for_async(lambda m: len(sent_to(api, user)) >= before + count, chat_id=user, timeout=timeout)
    await wait_quiet(api, user, quiet=0.4)  # the whole answer, which may be several messages
    return sent_to(api, user)[before:]


async def pressed(api: FakeBotApi, user: int, message: SentMessage, title: str, count: int = 1) -> List[SentMessage]:
    """The person taps the button `title` on `message`; wait for `count` new messages and the answer."""
    data = next(b["callback_data"] for b in message.buttons() if b["text"] == title)
    before = len(sent_to(api, user))
    answers = len(api.callback_answers)
    api.user_presses_button(user, message, data)
    await api.wait_for_async(lambda m: len(sent_to(api, user)) >= before + count, chat_id=user, timeout=TIMEOUT)
    await api.wait_until_async(lambda: len(api.callback_answers) > answers, timeout=TIMEOUT)
    await wait_quiet(api, user, quiet=0.4)
    return sent_to(api, user)[before:]


def with_button(messages: List[SentMessage], title: str) -> Optional[SentMessage]:
    return next((m for m in reversed(messages) if any(b["text"] == title for b in m.buttons())), None)


def keyboard_of(api: FakeBotApi, message: SentMessage) -> Any:
    return (api.message(message.chat_id, message.message_id) or {}).get("reply_markup")


# ------------------------------------------------------------------------------- the conversation


async def conversation(api: FakeBotApi, bot: BotUnderTest, user: int, database_url: str) -> None:
    """The core conversation: /start, tips with buttons, an acute message, /vergeet with proof in SQL."""
    # /start: the greeting says it is a bot and gives 112
    (greeting, *_) = await said(api, user, "/start")
    assert "bot" in greeting.plain_text.lower() and "112" in greeting.plain_text
    assert greeting.parse_mode == "HTML" and greeting.buttons()

    # a tips conversation with button presses
    messages = await said(api, user, "/tip")
    first_tip = None
    for _ in range(4):
        last = messages[-1]
        if with_button(messages, "Nog een tip"):
            first_tip = with_button(messages, "Nog een tip")
            break
        assert last.buttons(), f"expected a question with buttons, got {last.plain_text!r}"
        titles = [b["text"] for b in last.buttons()]
        choice = next((t for t in ("Slapen", "4-12 jaar") if t in titles), titles[0])
        messages = await pressed(api, user, last, choice)
        assert keyboard_of(api, last) is None  # the keyboard went away after the choice
        assert api.message(user, last.message_id)["text"] == last.plain_text  # the message itself stayed
    assert first_tip is not None and "💡" in first_tip.plain_text, [m.plain_text for m in sent_to(api, user)]
    more = await pressed(api, user, first_tip, "Nog een tip")
    assert keyboard_of(api, first_tip) is None
    second_tip = next(m for m in more if "💡" in m.plain_text or m.buttons())
    assert second_tip.plain_text != first_tip.plain_text
    assert len(api.callback_answers) == len(api.calls("answerCallbackQuery"))  # every press answered

    # an acute message gets the 112 answer
    (acute, *rest) = await said(api, user, "hij staat nu met een mes voor mijn neus")
    assert "112" in acute.plain_text and "bel" in acute.plain_text.lower()

    # /vergeet: a confirmation with buttons, then everything is gone from the database
    person = bot.person_id(user)
    assert tracker_events(database_url, person)
    (question,) = await said(api, user, "/vergeet")
    assert [b["text"] for b in question.buttons()] == ["Ja, wis alles", "Nee, bewaren"]
    assert tracker_events(database_url, person)  # nothing deleted before the confirmation
    (done,) = await pressed(api, user, question, "Ja, wis alles")
    assert "gewist" in done.plain_text
    assert tracker_events(database_url, person) == []
    assert_nothing_identifying(database_url, user)


def assert_nothing_identifying(database_url: str, user: int) -> None:
    """No name, username or Telegram id anywhere in the database."""
    engine = create_engine(database_url, future=True)
    try:
        with engine.connect() as connection:
            for table in ("events", "gateway_processed_updates"):
                for row in connection.execute(text(f"SELECT * FROM {table}")):
                    dumped = json.dumps([str(v) for v in row])
                    for needle in ("anna_de_vries", "Anna", str(user)):
                        assert needle not in dumped, f"{needle!r} stored in {table}"
    finally:
        engine.dispose()


async def test_conversation_on_sqlite(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database) as bot:
        await conversation(api, bot, user, gateway_database)
    assert [c["command"] for c in api.commands()] == ["start", "tip", "hulp", "privacy", "stop", "vergeet"]


async def test_conversation_on_postgresql(api: FakeBotApi, agent: Any, action_server: Any, user: int) -> None:
    from bot.assistant_threads import ThreadedAssistant

    with postgres_database() as database_url:
        assistant = ThreadedAssistant(share_model(agent, database_url, action_server.url), threads=2)
        try:
            async with BotUnderTest(api, assistant, database_url) as bot:
                await conversation(api, bot, user, database_url)
        finally:
            assistant.close()
            assistant.inner.tracker_store.engine.dispose()


# ------------------------------------------------------------------------------- commands and media


async def test_hulp_privacy_and_stop(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database) as bot:
        (numbers,) = await said(api, user, "/hulp")
        assert catalogue().emergency_list() in numbers.plain_text
        assert tracker_events(gateway_database, bot.person_id(user)) == []  # /hulp does not need the model
        (privacy,) = await said(api, user, "/privacy")
        for word in ("Wat", "Waar", "Hoe lang", "Wie", "30 dagen", "/vergeet"):
            assert word in privacy.plain_text
        (greeting, *_) = await said(api, user, "/start")
        assert greeting.buttons()
        (stop,) = await said(api, user, "/stop")
        assert keyboard_of(api, greeting) is None  # keyboards removed, messages kept
        assert api.message(user, greeting.message_id)["text"] == greeting.plain_text
        assert "Ja, wis alles" in [b["text"] for b in stop.buttons()]  # deletion offered
        assert "restart" in [e["type"] for e in tracker_events(gateway_database, bot.person_id(user))]
        (confirm,) = await pressed(api, user, stop, "Ja, wis alles")
        assert "Weet je het zeker" in confirm.plain_text
    assert not api.calls("deleteMessage")


async def test_media_get_a_kind_reply(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database) as bot:
        api.user_sends_voice(user)
        (voice,) = await api.wait_for_async(1, chat_id=user)
        assert "tekst" in voice.plain_text and "spraak" in voice.plain_text
        for send in (api.user_sends_photo, api.user_sends_sticker, api.user_sends_video, api.user_sends_document):
            send(user)
        api.user_sends_location(user)
        api.user_sends_contact(user)
        sent = await api.wait_for_async(7, chat_id=user)
        assert all("tekst" in m.plain_text for m in sent)
        assert "niet bewaard" in sent[5].plain_text and "locatie" in sent[5].plain_text
        assert "niet bewaard" in sent[6].plain_text and "contact" in sent[6].plain_text
        assert tracker_events(gateway_database, bot.person_id(user)) == []  # nothing of it was stored


async def test_edited_message_is_new_text(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database) as bot:
        original = api.user_sends_text(user, "hallo")
        await api.wait_for_async(1, chat_id=user, timeout=TIMEOUT)
        before = len(api.sent_messages(user))
        api.user_edits_message(user, original, "ik wil een tip over slapen")
        await api.wait_for_async(before + 1, chat_id=user, timeout=TIMEOUT)
        users_said = [e["data"] for e in tracker_events(gateway_database, bot.person_id(user)) if e["type"] == "user"]
        assert [json.loads(d)["text"] for d in users_said] == ["hallo", "ik wil een tip over slapen"]


async def test_group_chat_gets_one_message_and_the_bot_leaves(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database) as bot:
        api.user_sends_group_text(user, -1_000_042, "hallo allemaal")
        (notice,) = await api.wait_for_async(1, chat_id=-1_000_042)
        assert "privé" in notice.plain_text
        await api.wait_until_async(lambda: -1_000_042 in api.left_chats)
    assert tracker_events(gateway_database, bot.person_id(user)) == []


# ------------------------------------------------------------------------------- robustness


async def test_flood_gets_one_slow_down_and_every_message_in_order(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    words = ["appel", "boom", "citroen", "dak", "egel", "fiets", "gras", "huis", "inkt", "jas", "kaas", "lamp", "maan", "noot", "oven"]
    assistant = RecordingAssistant(model_assistant)
    async with BotUnderTest(api, assistant, gateway_database) as bot:
        for word in words:
            api.user_sends_text(user, word)
        await api.wait_until_async(lambda: len(assistant.calls) == len(words), timeout=120)
        sent = await wait_quiet(api, user, quiet=1.0)
    slow_downs = [m for m in sent if "berichten" in m.plain_text and "één voor één" in m.plain_text]
    assert len(slow_downs) == 1
    assert [text for _, text, _ in assistant.calls] == words  # nothing lost, in the order sent
    assert len(texts_of(sent)) >= len(words) + 1  # every message got an answer
    said_in_tracker = [json.loads(e["data"])["text"] for e in tracker_events(gateway_database, bot.person_id(user)) if e["type"] == "user"]
    without_repeats = [t for i, t in enumerate(said_in_tracker) if i == 0 or t != said_in_tracker[i - 1]]
    assert without_repeats == words  # (Rasa's two-stage fallback may log a message twice in a row)


async def test_duplicate_update_is_handled_once_even_after_a_restart(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database):
        update = api.user_sends_text(user, "/hulp")
        await api.wait_for_async(1, chat_id=user)
        api.resend(update)
        await said(api, user, "/privacy")
        assert len(await wait_quiet(api, user)) == 2
    async with BotUnderTest(api, model_assistant, gateway_database):  # a restart: the same database
        api.resend(update)
        await said(api, user, "/privacy")
        assert len(await wait_quiet(api, user)) == 3


async def test_an_exception_gets_an_apology_and_the_bot_keeps_working(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, FlakyAssistant(model_assistant), gateway_database):
        (apology,) = await said(api, user, "boem")
        assert "Sorry" in apology.plain_text and catalogue().emergency_list() in apology.plain_text
        (acute, *_) = await said(api, user, "hij staat nu met een mes voor mijn neus")
        assert "112" in acute.plain_text


async def test_429_and_network_errors_are_retried(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database):
        api.fail_next("sendMessage", times=1, retry_after=1)
        (numbers,) = await said(api, user, "/hulp")
        assert [c.status for c in api.calls("sendMessage")] == [429, 200]
        api.reset_next(times=1, method="sendMessage")
        (privacy,) = await said(api, user, "/privacy")
        assert [c.status for c in api.calls("sendMessage")][-2:] == [None, 200]
        assert "Wie het ziet" in privacy.plain_text


async def test_webhook_checks_the_secret_token(api: FakeBotApi, model_assistant: Any, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, model_assistant, gateway_database, webhook=True) as bot:
        url = bot.settings.webhook_url or ""
        assert api.webhook_url == url
        body = json.dumps({"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": user, "type": "private"},
                                                       "from": {"id": user, "is_bot": False, "first_name": "X"}, "text": "/hulp"}}).encode()
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
            request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json", **headers})
            with pytest.raises(urllib.error.HTTPError) as rejected:
                await asyncio.to_thread(urllib.request.urlopen, request, timeout=5)
            assert rejected.value.code == 403
        (greeting, *_) = await said(api, user, "/start")  # the fake API delivers with the right secret
        assert "112" in greeting.plain_text
        assert all(d.status == 200 and d.secret_token == bot.settings.webhook_secret_token() for d in api.webhook_deliveries())
        assert len(api.sent_messages(user)) >= 1 and not api.sent_messages(user)[0].plain_text.startswith("Alle noodnummers")


# ------------------------------------------------------------------------------- channel details (stand-in assistant)


async def test_long_text_is_split_and_html_escaped(api: FakeBotApi, gateway_database: str, user: int) -> None:
    paragraph = "Dit is een zin met <tags> & tekens. " * 40
    long_text = "\n\n".join([paragraph.strip()] * 8)  # about 11,500 characters
    assistant = ScriptedAssistant({"lang": [Reply(long_text, [{"title": "Oké", "payload": "/affirm"}])]})
    async with BotUnderTest(api, assistant, gateway_database):
        api.user_sends_text(user, "lang")
        sent = await wait_quiet(api, user)
    assert len(sent) >= 3 and all(len(m.plain_text) <= 4096 for m in sent)
    assert "\n\n".join(m.plain_text for m in sent) == long_text.strip()  # cut at paragraphs, nothing lost
    assert all(m.parse_mode == "HTML" and "&lt;tags&gt; &amp;" in m.text for m in sent)
    assert [bool(m.buttons()) for m in sent] == [False] * (len(sent) - 1) + [True]  # buttons on the last part


async def test_long_payloads_fit_callback_data(api: FakeBotApi, gateway_database: str, user: int) -> None:
    payload = '/inform_age{"age_group":"4-12","topic":"homeschooling","note":"' + "x" * 80 + '"}'
    assistant = ScriptedAssistant({"kies": [Reply("Kies maar", [{"title": "Lang", "payload": payload}])]})
    async with BotUnderTest(api, assistant, gateway_database):
        (question,) = await said(api, user, "kies")
        data = question.buttons()[0]["callback_data"]
        assert len(data.encode()) <= MAX_CALLBACK_BYTES
        await pressed(api, user, question, "Lang")
    assert assistant.received[-1][1] == payload


async def test_typing_shows_while_the_assistant_thinks(api: FakeBotApi, gateway_database: str, user: int) -> None:
    async with BotUnderTest(api, ScriptedAssistant(delay=1.0), gateway_database):
        await said(api, user, "denk even na")
    assert (user, "typing") in api.chat_actions


async def test_shutdown_drains_messages_in_flight(api: FakeBotApi, gateway_database: str, user: int) -> None:
    assistant = ScriptedAssistant(delay=0.3)
    bot = await BotUnderTest(api, assistant, gateway_database).start()
    for n in range(5):
        api.user_sends_text(user, f"bericht {n}")
    await api.wait_until_async(lambda: len(assistant.received) >= 1, timeout=TIMEOUT)
    await bot.stop()  # must not return before every message was answered
    assert [t for _, t in assistant.received] == [f"bericht {n}" for n in range(5)]
    assert texts_of(api.sent_messages(user)) == [f"echo: bericht {n}" for n in range(5)]
    assert api.pending_updates() == []
