"""The channel-agnostic gateway (bot/gateway.py) and its parts, with a stand-in assistant and channel:
ordering, concurrency, flood, duplicates, failures, forgetting, commands, draining, logging, formatting,
and the webhook endpoint. The real model and Telegram are in tests/test_telegram_e2e.py."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta
from typing import Any, List, Optional, Sequence, Tuple

import pytest
from starlette.testclient import TestClient

from bot.assistant import Reply
from bot.db import make_engine
from bot.flood import FloodGuard
from bot.forget import ForgetError, Forgetter
from bot.gateway import BUTTON, FORGET_YES, MEDIA, TEXT, Gateway, Incoming, command_of
from bot.helplines import catalogue
from bot.settings import Secret, load_settings
from bot.telegram.format import MAX_CALLBACK_BYTES, CallbackPayloads, keyboard, split_text, to_html
from bot.updates import ProcessedUpdates
from bot.web import SECRET_HEADER, TelegramWebhook, create_app, webhook_path
from tests.support.gateway_stack import ScriptedAssistant


class RecordingChannel:
    name = "test"

    def __init__(self) -> None:
        self.sent: List[Tuple[str, Reply]] = []
        self.typed: List[str] = []
        self.cleared: List[str] = []

    async def send(self, address: str, replies: Sequence[Reply]) -> bool:
        self.sent.extend((address, reply) for reply in replies)
        return True

    async def typing(self, address: str) -> None:
        self.typed.append(address)

    async def clear_keyboards(self, address: str) -> None:
        self.cleared.append(address)

    def texts(self, address: Optional[str] = None) -> List[str]:
        return [r.text for a, r in self.sent if address is None or a == address]


def message(text: str, person: str = "p1", kind: str = TEXT, update_id: Optional[int] = None, media: Optional[str] = None) -> Incoming:
    return Incoming(channel="test", person_id=person, address=f"addr-{person}", text=text, kind=kind, update_id=update_id, media=media)


def make_gateway(assistant: Any = None, **kwargs: Any) -> Tuple[Gateway, RecordingChannel]:
    gateway = Gateway(assistant or ScriptedAssistant(), **kwargs)
    channel = RecordingChannel()
    gateway.add_channel(channel)
    return gateway, channel


class TimedAssistant(ScriptedAssistant):
    """Records when each message started and ended."""

    def __init__(self, delay: float) -> None:
        super().__init__(delay=delay)
        self.spans: List[Tuple[str, str, float, float]] = []

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        start = time.monotonic()
        replies = await super().handle(sender_id, text)
        self.spans.append((sender_id, text, start, time.monotonic()))
        return replies


# ------------------------------------------------------------------------------- order and concurrency


async def test_one_person_in_order_different_people_concurrently() -> None:
    assistant = TimedAssistant(delay=0.2)
    gateway, channel = make_gateway(assistant)
    started = time.monotonic()
    done = [gateway.submit(message(f"a{i}", "alice")) for i in range(3)] + [gateway.submit(message(f"b{i}", "bob")) for i in range(3)]
    await asyncio.gather(*done)
    elapsed = time.monotonic() - started
    assert channel.texts("addr-alice") == ["echo: a0", "echo: a1", "echo: a2"]
    assert channel.texts("addr-bob") == ["echo: b0", "echo: b1", "echo: b2"]
    alice = [s for s in assistant.spans if s[0] == "alice"]
    assert all(earlier[3] <= later[2] for earlier, later in zip(alice, alice[1:]))  # never overlapping
    assert elapsed < 1.0  # 2 x 3 x 0.2 s sequentially would be 1.2 s


async def test_flood_gets_one_notice_and_nothing_is_lost() -> None:
    gateway, channel = make_gateway(flood=FloodGuard(limit=10, window=10.0))
    await asyncio.gather(*[gateway.submit(message(f"m{i}")) for i in range(15)])
    await gateway.drain(5)
    texts = channel.texts()
    notices = [t for t in texts if not t.startswith("echo:")]
    assert len(notices) == 1 and "één voor één" in notices[0]
    assert [t for t in texts if t.startswith("echo:")] == [f"echo: m{i}" for i in range(15)]


def test_flood_guard_warns_once_per_flood() -> None:
    now = [0.0]
    guard = FloodGuard(limit=10, window=10.0, clock=lambda: now[0])
    assert [guard.hit("p") for _ in range(10)] == [False] * 10
    assert guard.hit("p") is True
    assert [guard.hit("p") for _ in range(5)] == [False] * 5  # still the same flood
    assert guard.hit("other") is False
    now[0] = 30.0  # quiet for a while: the flood is over
    assert [guard.hit("p") for _ in range(10)] == [False] * 10
    assert guard.hit("p") is True


# ------------------------------------------------------------------------------- duplicates


async def test_processed_updates_survive_a_restart(tmp_path: Any) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    clock = [datetime(2026, 1, 1, 12, 0)]
    store = ProcessedUpdates(make_engine(url), retention=timedelta(days=2), clock=lambda: clock[0])
    assert await store.claim("tg", 1) is True
    assert await store.claim("tg", 1) is False
    assert await store.claim("web", 1) is True  # ids are per channel
    restarted = ProcessedUpdates(make_engine(url), retention=timedelta(days=2), clock=lambda: clock[0])
    assert await restarted.claim("tg", 1) is False
    clock[0] += timedelta(days=3)
    assert restarted.prune() == 2
    assert await restarted.claim("tg", 1) is True  # forgotten after the retention period


async def test_duplicate_update_is_answered_once(tmp_path: Any) -> None:
    updates = ProcessedUpdates(make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}"))
    gateway, channel = make_gateway(updates=updates)
    await gateway.handle(message("hallo", update_id=5))
    await gateway.handle(message("hallo", update_id=5))
    await gateway.handle(message("nog eens", update_id=6))
    assert channel.texts() == ["echo: hallo", "echo: nog eens"]


# ------------------------------------------------------------------------------- failures


class Boom(ScriptedAssistant):
    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        if "boem" in text:
            raise RuntimeError(f"the person wrote {text}")
        return await super().handle(sender_id, text)


async def test_an_exception_becomes_an_apology_with_the_emergency_numbers(caplog: pytest.LogCaptureFixture) -> None:
    gateway, channel = make_gateway(Boom())
    with caplog.at_level(logging.DEBUG):
        await gateway.handle(message("boem geheim-1234"))
        await gateway.handle(message("daarna"))
    apology, after = channel.texts()
    assert apology.startswith("Sorry") and catalogue().emergency_list() in apology
    assert after == "echo: daarna"
    logged = "\n".join(caplog.text.splitlines())
    assert "RuntimeError" in logged and "geheim-1234" not in logged  # the type, never the text


async def test_message_text_never_reaches_the_log_at_info(caplog: pytest.LogCaptureFixture) -> None:
    gateway, _ = make_gateway()
    with caplog.at_level(logging.INFO):
        await gateway.handle(message("mijn zoon heet Pietje", update_id=None))
        await gateway.handle(message("/vergeet"))
        await gateway.handle(message(FORGET_YES, kind=BUTTON))
    assert "Pietje" not in caplog.text


async def test_a_failing_channel_does_not_stop_the_gateway() -> None:
    class Broken(RecordingChannel):
        async def send(self, address: str, replies: Sequence[Reply]) -> bool:
            raise ConnectionError("down")

    gateway = Gateway(ScriptedAssistant())
    gateway.add_channel(Broken())
    await gateway.handle(message("een"))
    await gateway.handle(message("twee"))
    assert await gateway.drain(1)


# ------------------------------------------------------------------------------- commands


async def test_commands() -> None:
    assistant = ScriptedAssistant()
    gateway, channel = make_gateway(assistant, retention_days=30)
    for text in ("/start", "/start@adempauze_bot", "/tip", "/hulp", "/privacy", "/ask_human"):
        await gateway.handle(message(text))
    assert [t for _, t in assistant.received] == ["/greet", "/greet", "/ask_tip", "/ask_human"]
    texts = channel.texts()
    assert catalogue().emergency_list() in texts[3]
    assert "30 dagen" in texts[4] and "/vergeet" in texts[4]
    assert command_of("hallo") is None and command_of("/Hulp extra") == "hulp"


async def test_stop_restarts_removes_keyboards_and_offers_deletion() -> None:
    assistant = ScriptedAssistant()
    gateway, channel = make_gateway(assistant)
    await gateway.handle(message("/stop"))
    assert assistant.received == [("p1", "/restart")]
    assert channel.cleared == ["addr-p1"]
    (stop,) = [r for _, r in channel.sent]
    assert [b["payload"] for b in stop.buttons] == ["gw:forget", "gw:keep"]


async def test_forget_needs_a_button_press_and_empties_every_store() -> None:
    assistant = ScriptedAssistant()
    gateway, channel = make_gateway(assistant)
    handoffs: List[str] = []

    async def forget_handoffs(person_id: str) -> int:
        handoffs.append(person_id)
        return 2

    gateway.forgetter.register("handoffs", forget_handoffs)
    await gateway.handle(message("/vergeet"))
    (question,) = [r for _, r in channel.sent]
    assert [b["payload"] for b in question.buttons] == ["gw:forget:yes", "gw:forget:no"]
    await gateway.handle(message(FORGET_YES))  # typed, not pressed: nothing happens
    assert assistant.forgotten == [] and handoffs == []
    await gateway.handle(message(FORGET_YES, kind=BUTTON))
    assert assistant.forgotten == ["p1"] and handoffs == ["p1"]
    assert "gewist" in channel.texts()[-1]


async def test_forgetter_runs_every_deleter_even_when_one_fails() -> None:
    forgetter, ran = Forgetter(), []

    async def ok(person: str) -> str:
        ran.append(person)
        return "ok"

    async def broken(person: str) -> None:
        raise OSError("disk")

    forgetter.register("first", ok)
    forgetter.register("broken", broken)
    forgetter.register("last", ok)
    with pytest.raises(ForgetError) as failed:
        await forgetter.forget("p")
    assert failed.value.failed == ["broken"] and ran == ["p", "p"]


async def test_media_get_a_reply_without_the_assistant() -> None:
    assistant = ScriptedAssistant()
    gateway, channel = make_gateway(assistant)
    for kind in ("voice", "location", "contact", "weird"):
        await gateway.handle(message("", kind=MEDIA, media=kind))
    assert assistant.received == []
    voice, location, contact, other = channel.texts()
    assert "spraak" in voice and "niet bewaard" in location and "niet bewaard" in contact and "tekst" in other


async def test_hooks_may_take_a_message() -> None:
    class Handoff:
        async def intercept(self, person_id: str, channel: str, text: str, address: Optional[str] = None) -> Optional[List[Reply]]:
            return [] if text == "voor de medewerker" else None

        async def after_rasa(self, person_id: str, channel: str, replies: Sequence[Reply], address: Optional[str] = None) -> List[Reply]:
            return [Reply("extra")]

        async def cancel_for(self, person_id: str) -> bool:
            return True

    assistant = ScriptedAssistant()
    gateway, channel = make_gateway(assistant, hooks=[Handoff()])
    await gateway.handle(message("voor de medewerker"))
    await gateway.handle(message("hallo"))
    assert assistant.received == [("p1", "hallo")]
    assert channel.texts() == ["echo: hallo", "extra"]


async def test_typing_only_when_the_answer_takes_a_while() -> None:
    gateway, channel = make_gateway(ScriptedAssistant(delay=0.4), typing_delay=0.2)
    await gateway.handle(message("traag"))
    assert channel.typed == ["addr-p1"]
    fast, fast_channel = make_gateway(ScriptedAssistant(), typing_delay=0.2)
    await fast.handle(message("snel"))
    assert fast_channel.typed == []


async def test_close_drains_and_then_refuses() -> None:
    gateway, channel = make_gateway(ScriptedAssistant(delay=0.1))
    pending = [gateway.submit(message(f"m{i}", person=f"p{i % 3}")) for i in range(9)]
    assert await gateway.close(5)
    assert all(p.done() for p in pending) and len(channel.sent) == 9
    with pytest.raises(RuntimeError):
        await gateway.submit(message("te laat"))


# ------------------------------------------------------------------------------- formatting


def test_split_text_prefers_paragraphs_then_sentences() -> None:
    paragraphs = ["a" * 3000, "b" * 3000, "c" * 100]
    assert split_text("\n\n".join(paragraphs)) == ["a" * 3000, "b" * 3000 + "\n\n" + "c" * 100]
    sentences = " ".join(["Dit is een zin."] * 400)  # 6,399 characters, no newlines
    parts = split_text(sentences)
    assert len(parts) == 2 and all(len(p) <= 4000 for p in parts) and parts[0].endswith(".")
    assert " ".join(parts) == sentences
    assert split_text("x" * 9000) == ["x" * 4000, "x" * 4000, "x" * 1000]
    assert split_text("  kort  ") == ["kort"] and split_text("") == []


def test_html_escaping_and_callback_data() -> None:
    assert to_html("<b>1 & 2</b> \"x\"") == "&lt;b&gt;1 &amp; 2&lt;/b&gt; \"x\""
    payloads = CallbackPayloads()
    short, long = "/more_tip", '/inform_age{"age_group":"4-12"}' + "x" * 60
    assert payloads.encode(short) == short
    encoded = payloads.encode(long)
    assert len(encoded.encode()) <= MAX_CALLBACK_BYTES and payloads.decode(encoded) == long
    assert CallbackPayloads().decode(encoded) is None  # unknown after a restart: the button has expired
    markup = keyboard([{"title": "Ja", "payload": "/affirm"}, {"title": "Nee", "payload": "/deny"}], payloads)
    assert markup is not None and len(markup.inline_keyboard) == 1


# ------------------------------------------------------------------------------- settings and web


def test_webhook_secret_and_path() -> None:
    derived = load_settings({"ADEMPAUZE_SECRET": "s"}, env_file=pytest.importorskip("pathlib").Path("/nonexistent"))
    token = derived.webhook_secret_token()
    assert len(token) == 64 and token.isalnum()
    explicit = load_settings({"WEBHOOK_SECRET": "abc_DEF-1"}, env_file=pytest.importorskip("pathlib").Path("/nonexistent"))
    assert explicit.webhook_secret_token() == "abc_DEF-1"
    assert "abc_DEF" not in repr(explicit) and repr(Secret("x")) == "Secret('**********')"
    assert webhook_path("https://example.org/bots/adempauze/") == "/bots/adempauze"
    assert webhook_path("https://example.org", None) == "/telegram/webhook"
    assert webhook_path("https://example.org/x", "/y/") == "/y"


def test_webhook_endpoint_rejects_a_wrong_secret() -> None:
    class Target:
        accepting = True

        def __init__(self) -> None:
            self.fed: List[dict] = []

        async def feed(self, data: dict) -> None:
            self.fed.append(data)

    target = Target()
    app = create_app(status=lambda: {"ready": True}, webhook=TelegramWebhook("right", lambda: target), webhook_path_="/hook")
    client = TestClient(app)
    update = {"update_id": 1}
    assert client.post("/hook", json=update).status_code == 403
    assert client.post("/hook", json=update, headers={SECRET_HEADER: "wrong"}).status_code == 403
    assert client.post("/hook", content=b"{", headers={SECRET_HEADER: "right"}).status_code == 400
    assert client.post("/hook", json=update, headers={SECRET_HEADER: "right"}).status_code == 200
    target.accepting = False
    assert client.post("/hook", json=update, headers={SECRET_HEADER: "right"}).status_code == 503  # Telegram retries
    assert target.fed == [update]
    assert client.get("/healthz").json()["ready"] is True
