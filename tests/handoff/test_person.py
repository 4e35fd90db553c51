"""The person's side of the handoff (channel-agnostic), with a stand-in assistant for triage."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

import pytest

from bot.assistant import Reply
from bot.handoff import models
from bot.handoff.person import PREFIX, PersonSide
from bot.handoff.service import HandoffService


class FakeAssistant:
    """parse(): 'acuut' in the text means tier acute. No tracker (summary from risk only)."""

    async def parse(self, text: str) -> Dict[str, Any]:
        return {"text": text, "risk": "acute" if "acuut" in text else "none"}


class Channel:
    def __init__(self) -> None:
        self.sent: List[Tuple[str, Reply]] = []
        self.online = True
        self.event = asyncio.Event()

    async def send(self, address: str, replies: List[Reply]) -> bool:
        if not self.online:
            return False
        self.sent += [(address, r) for r in replies]
        self.event.set()
        return True

    async def wait_for(self, fragment: str, timeout: float = 5.0) -> Reply:
        async def look() -> Reply:
            while True:
                for _, reply in self.sent:
                    if fragment in reply.text:
                        return reply
                self.event.clear()
                await self.event.wait()

        return await asyncio.wait_for(look(), timeout)


@pytest.fixture
async def person(service: HandoffService) -> Any:
    side = PersonSide(service, FakeAssistant())
    channel = Channel()
    side.register_channel("web", channel.send)
    await side.start()
    yield side, channel
    await side.stop()


def press(replies: List[Reply], fragment: str) -> str:
    for reply in replies:
        for b in reply.buttons:
            if fragment in b["title"]:
                return b["payload"]
    raise AssertionError(f"no button {fragment!r} in {[b['title'] for r in replies for b in r.buttons]}")


async def walk_to_queue(side: PersonSide, pid: str, line: str = "De Luisterlijn", consent: str = "Alleen een samenvatting") -> List[Reply]:
    replies = await side.after_rasa(pid, "web", [Reply("...", custom={"handoff_offer": {"route": "luisterlijn", "risk": "stress"}})], "addr-" + pid)
    assert any("Met wie wil je praten" in r.text for r in replies)
    replies = await side.intercept(pid, "web", press(replies, line), "addr-" + pid)
    replies = await side.intercept(pid, "web", press(replies, consent), "addr-" + pid)
    replies = await side.intercept(pid, "web", press(replies, "anoniem"), "addr-" + pid)
    assert "wacht nu niemand voor je" in replies[0].text or "wachten nu" in replies[0].text or "wacht nu 1" in replies[0].text
    return await side.intercept(pid, "web", press(replies, "verbind me door"), "addr-" + pid)


async def test_full_person_path(person: Any, service: HandoffService, make_staff: Any) -> None:
    side, channel = person
    staff = make_staff("luisterlijn")
    assert await side.intercept("p1", "web", "hallo", "addr-p1") is None  # no handoff: Rasa answers
    queued = await walk_to_queue(side, "p1")
    assert "Je bent nummer 1" in queued[0].text and "112" in queued[0].text
    handoff = await service.open_for("p1")
    assert handoff.status == models.WAITING and handoff.consent == "summary" and handoff.anonymous

    # while waiting: the message is kept for the staff member, the person hears their position
    waiting = await side.intercept("p1", "web", "Het gaat niet goed", "addr-p1")
    assert "nummer 1" in waiting[0].text

    assert await service.claim(handoff.id, staff)
    await channel.wait_for("Een medewerker van De Luisterlijn is er nu voor je")
    # during the chat the bot is silent; messages go to the staff member
    assert await side.intercept("p1", "web", "Fijn dat je er bent", "addr-p1") == []
    await service.staff_message(handoff.id, staff, "Vertel maar")
    reply = await channel.wait_for("Vertel maar")
    assert reply.text.startswith("👤 Medewerker De Luisterlijn")
    assert channel.sent[-1][0] == "addr-p1"

    # an acute message: the 112 answer at once, and the staff member sees it
    acute = await side.intercept("p1", "web", "acuut gevaar nu", "addr-p1")
    assert len(acute) == 1 and "112" in acute[0].text
    _, messages = await service.for_staff(handoff.id, staff)
    assert [m.text for m in messages if m.sender == "person"] == ["Het gaat niet goed", "Fijn dat je er bent", "acuut gevaar nu"]

    await service.close(handoff.id, staff, "listened")
    rating = await channel.wait_for("hoe het gesprek met de medewerker was")
    await channel.wait_for("heeft het gesprek afgesloten")
    assert await service.open_for("p1") is None
    assert await side.intercept("p1", "web", "hallo weer", "addr-p1") is None  # the bot answers again
    thanks = await side.intercept("p1", "web", press([rating], "Goed"), "addr-p1")
    assert "Dank je" in thanks[0].text
    for _ in range(50):  # resumed right after the 'closed' notice was sent
        stored = await service.get(handoff.id)
        if stored.resumed_at is not None:
            break
        await asyncio.sleep(0.05)
    assert stored.rating == 5 and stored.resumed_at is not None and stored.address is None


async def test_acute_while_waiting_moves_to_top(person: Any, service: HandoffService, make_staff: Any) -> None:
    side, _ = person
    staff = make_staff("luisterlijn")
    first = await service.request("p-other", "web", "luisterlijn", risk="violence")
    await walk_to_queue(side, "p2")
    mine = await service.open_for("p2")
    assert [h.id for h in await service.queue(staff)] == [first.id, mine.id]
    replies = await side.intercept("p2", "web", "acuut, hij heeft een mes", "addr-p2")
    assert "112" in replies[0].text and "bovenaan" in replies[1].text
    assert [h.id for h in await service.queue(staff)] == [mine.id, first.id]


async def test_cancel_and_decline(person: Any, service: HandoffService, make_staff: Any) -> None:
    side, _ = person
    make_staff("luisterlijn")
    replies = await side.after_rasa("p3", "web", [Reply(custom={"handoff_offer": {"route": "luisterlijn", "risk": "none"}})], "a3")
    declined = await side.intercept("p3", "web", press(replies, "liever niet"), "a3")
    assert "dan niet" in declined[0].text and await service.open_for("p3") is None
    queued = await walk_to_queue(side, "p3")
    cancelled = await side.intercept("p3", "web", press(queued, "Annuleren"), "a3")
    assert "geannuleerd" in cancelled[0].text and await service.open_for("p3") is None


async def test_nobody_accepts_timeout_is_honest_and_keeps_request(person: Any, service: HandoffService, make_staff: Any,
                                                                   clock: Any) -> None:
    side, channel = person
    make_staff("luisterlijn")
    await walk_to_queue(side, "p4")
    clock.advance(seconds=service.timeout_seconds + 5)
    await service.check_timeouts()
    notice = await channel.wait_for("nog niemand van De Luisterlijn gereageerd")
    assert "088 0767 000" in notice.text or "Nu bereikbaar" in notice.text or "bel" in notice.text
    kept = await side.intercept("p4", "web", press([notice], "Blijven wachten"), "addr-p4")
    assert "blijft in de wachtrij" in kept[0].text
    assert (await service.open_for("p4")).status == models.WAITING


async def test_pending_staff_message_survives_an_unreachable_channel(person: Any, service: HandoffService, make_staff: Any) -> None:
    side, channel = person
    staff = make_staff("luisterlijn")
    await walk_to_queue(side, "p5")
    handoff = await service.open_for("p5")
    channel.online = False
    await service.claim(handoff.id, staff)
    await service.staff_message(handoff.id, staff, "Ben je er nog?")
    await asyncio.sleep(0.2)
    assert [d.text for d in await service.undelivered()] == ["claimed", "Ben je er nog?"]
    channel.online = True
    assert await side.deliver_pending() == 2
    await channel.wait_for("Ben je er nog?")


async def test_closed_line_offers_an_open_one_or_its_queue(service: HandoffService, make_staff: Any, monkeypatch: Any) -> None:
    from datetime import datetime

    from bot.helplines import AMSTERDAM

    make_staff("kindertelefoon"), make_staff("luisterlijn")
    night = datetime(2026, 11, 23, 3, 0, tzinfo=AMSTERDAM)
    original = service.candidates

    async def at_night(route: Any, moment: Any = None) -> Any:
        return await original(route, night)

    monkeypatch.setattr(service, "candidates", at_night)
    side = PersonSide(service, FakeAssistant())
    replies = await side.after_rasa("p6", "web", [Reply(custom={"handoff_offer": {"route": "kindertelefoon", "risk": "violence"}})], "a6")
    text = replies[-1].text
    assert "De Kindertelefoon is nu gesloten (elke dag 11:00-21:00)" in text
    titles = [b["title"] for b in replies[-1].buttons]
    assert "De Luisterlijn" in titles and "Wachten op De Kindertelefoon" in titles


async def test_payloads_during_a_handoff_are_not_relayed(person: Any, service: HandoffService, make_staff: Any) -> None:
    side, _ = person
    staff = make_staff("luisterlijn")
    await walk_to_queue(side, "p7")
    handoff = await service.open_for("p7")
    reminder = await side.intercept("p7", "web", "/greet", "addr-p7")
    assert "al in de wachtrij" in reminder[0].text
    await service.claim(handoff.id, staff)
    reminder = await side.intercept("p7", "web", "/ask_tip", "addr-p7")
    assert "al in gesprek" in reminder[0].text
    _, messages = await service.for_staff(handoff.id, staff)
    assert [m for m in messages if m.sender == "person"] == []


async def test_conversation_is_resumed_even_when_the_closed_notice_is_still_pending(person: Any, service: HandoffService,
                                                                                  make_staff: Any) -> None:
    side, channel = person
    staff = make_staff("luisterlijn")
    appended: List[Tuple[str, str]] = []

    async def record(sender_id: str, event: str) -> None:
        appended.append((sender_id, event))

    side.conversation.append = record  # type: ignore[method-assign]
    await walk_to_queue(side, "p8")
    assert appended == [("p8", "pause")]
    handoff = await service.open_for("p8")
    await service.claim(handoff.id, staff)
    channel.online = False  # the person's channel is down when staff close
    await service.close(handoff.id, staff, "listened")
    await asyncio.sleep(0.2)
    assert appended == [("p8", "pause")]
    assert await side.intercept("p8", "web", "hallo?", "addr-p8") is None  # the bot answers ...
    assert appended == [("p8", "pause"), ("p8", "resume")]  # ... because the conversation was resumed first
    assert (await service.get(handoff.id)).resumed_at is not None
