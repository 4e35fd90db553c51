"""The handoff plugged into the real gateway (bot.gateway.Gateway) with a stand-in assistant:
offer -> pre-handoff buttons -> queue -> relay -> close -> the assistant answers again; /stop; /vergeet."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Sequence

import pytest

from bot.assistant import Reply
from bot.gateway import BUTTON, TEXT, Gateway, Incoming
from bot.handoff import models
from bot.handoff.models import Handoff, HandoffMessage
from bot.handoff.person import PersonSide
from bot.handoff.service import HandoffService

from tests.handoff.conftest import count


class Assistant:
    """Offers a person on 'mens'; 'acuut' is tier acute; remembers what it handled."""

    def __init__(self) -> None:
        self.handled: List[str] = []
        self.forgotten: List[str] = []

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        self.handled.append(text)
        if "mens" in text:
            return [Reply("Je kunt met een mens praten."), Reply(custom={"handoff_offer": {"route": "luisterlijn", "risk": "stress"}})]
        return [Reply(f"bot: {text}")]

    async def parse(self, text: str) -> Dict[str, Any]:
        return {"risk": "acute" if "acuut" in text else "none"}

    async def forget(self, sender_id: str) -> None:
        self.forgotten.append(sender_id)


class Channel:
    name = "telegram"

    def __init__(self) -> None:
        self.sent: List[Reply] = []
        self.event = asyncio.Event()

    async def send(self, address: str, replies: Sequence[Reply]) -> bool:
        self.sent.extend(replies)
        self.event.set()
        return True

    async def typing(self, address: str) -> None:
        return None

    async def clear_keyboards(self, address: str) -> None:
        return None

    async def wait_for(self, fragment: str, timeout: float = 5.0) -> Reply:
        async def look() -> Reply:
            while True:
                for reply in self.sent:
                    if fragment in reply.text:
                        return reply
                self.event.clear()
                await self.event.wait()

        return await asyncio.wait_for(look(), timeout)

    def button(self, fragment: str) -> str:
        for reply in reversed(self.sent):
            for b in reply.buttons:
                if fragment in b["title"]:
                    return b["payload"]
        raise AssertionError(f"no button {fragment!r}")


@pytest.fixture
async def wired(service: HandoffService) -> Any:
    assistant = Assistant()
    person = PersonSide(service, assistant)
    gateway = Gateway(assistant, hooks=[person], typing_delay=60)
    gateway.forgetter.register("handoffs", person.forget)
    channel = Channel()
    gateway.add_channel(channel)
    person.register_channel("telegram", channel.send)
    await person.start()
    yield gateway, channel, assistant
    await gateway.close(5)
    await person.stop()


async def say(gateway: Gateway, text: str, button: bool = False) -> None:
    await gateway.handle(Incoming(channel="telegram", person_id="tg-person", address="4242", text=text, kind=BUTTON if button else TEXT))


async def to_queue(gateway: Gateway, channel: Channel) -> None:
    await say(gateway, "ik wil een mens")
    await channel.wait_for("Met wie wil je praten")
    for title in ("Luisterlijn", "Alleen een samenvatting", "Ja, anoniem", "verbind me door"):
        await say(gateway, channel.button(title), button=True)
    await channel.wait_for("Je staat in de wachtrij van De Luisterlijn")


async def test_gateway_hands_off_and_resumes(wired: Any, service: HandoffService, make_staff: Any) -> None:
    gateway, channel, assistant = wired
    staff = make_staff("luisterlijn")
    await to_queue(gateway, channel)
    handoff = await service.open_for("tg-person")
    assert handoff.status == models.WAITING
    assert await service.claim(handoff.id, staff)
    await channel.wait_for("is er nu voor je")
    handled = len(assistant.handled)
    await say(gateway, "Ik ben zo moe")
    await say(gateway, "/hulp")  # the emergency numbers stay available during the handoff
    assert "112" in channel.sent[-1].text
    await service.staff_message(handoff.id, staff, "Dat hoor ik. Vertel eens?")
    await channel.wait_for("👤 Medewerker De Luisterlijn:\nDat hoor ik. Vertel eens?")
    assert len(assistant.handled) == handled  # the assistant was not asked during the handoff
    await service.close(handoff.id, staff, "listened")
    await channel.wait_for("Je praat nu weer met Adempauze")
    await say(gateway, "hallo")
    assert assistant.handled[-1] == "hallo" and channel.sent[-1].text == "bot: hallo"


async def test_stop_cancels_the_handoff(wired: Any, service: HandoffService, make_staff: Any) -> None:
    gateway, channel, _ = wired
    make_staff("luisterlijn")
    await to_queue(gateway, channel)
    await say(gateway, "/stop")
    assert await service.open_for("tg-person") is None
    assert (await service.recent_for("tg-person")).status == models.CANCELLED


async def test_vergeet_removes_the_persons_handoffs(wired: Any, service: HandoffService, make_staff: Any) -> None:
    gateway, channel, assistant = wired
    staff = make_staff("luisterlijn")
    await to_queue(gateway, channel)
    handoff = await service.open_for("tg-person")
    await service.claim(handoff.id, staff)
    await say(gateway, "Dit is privé")
    assert count(service.sessions, HandoffMessage, handoff_id=handoff.id) >= 2
    await say(gateway, "/vergeet")
    await say(gateway, channel.button("Ja, wis alles"), button=True)
    assert "gewist" in channel.sent[-1].text
    assert count(service.sessions, Handoff, person_id="tg-person") == 0
    assert count(service.sessions, HandoffMessage, handoff_id=handoff.id) == 0
    assert assistant.forgotten == ["tg-person"]
