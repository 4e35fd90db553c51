"""The handoff over Telegram: python-telegram-bot's real HTTP layer against the fake Bot API server, the
bot wired as `python -m bot` wires it (bot.runtime.Runtime + bot.handoff.extension.HandoffExtension),
with a scripted assistant (no model needed). Staff messages reach the person's Telegram chat, marked
as coming from the helpline; a restart of the bot in the middle loses nothing."""
from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any, Dict, List

import pytest

from bot.assistant import Reply
from bot.handoff import models
from bot.handoff.extension import HandoffExtension
from tests.support.fake_bot_api import FakeBotApi, SentMessage
from tests.support.gateway_stack import BotUnderTest, ScriptedAssistant

USERS = itertools.count(8_100_001)
TIMEOUT = 15.0


class Assistant(ScriptedAssistant):
    async def parse(self, text: str) -> Dict[str, Any]:
        return {"text": text, "risk": "acute" if "mes" in text else "none"}


def assistant() -> Assistant:
    offer = [Reply("Je kunt met een mens praten."), Reply(custom={"handoff_offer": {"route": "luisterlijn", "risk": "stress"}})]
    return Assistant({"ik wil een mens": offer})


@pytest.fixture
def api() -> Any:
    with FakeBotApi() as server:
        yield server


def sent(api: FakeBotApi, user: int) -> List[SentMessage]:
    return [m for m in api.sent_messages(user) if not m.is_edit]


async def wait_for(api: FakeBotApi, user: int, fragment: str) -> SentMessage:
    await api.wait_until_async(lambda: any(fragment in m.plain_text for m in sent(api, user)), timeout=TIMEOUT)
    return next(m for m in reversed(sent(api, user)) if fragment in m.plain_text)


async def press(api: FakeBotApi, user: int, message: SentMessage, fragment: str) -> None:
    data = next(b["callback_data"] for b in message.buttons() if fragment in b["text"])
    answers = len(api.callback_answers)
    api.user_presses_button(user, message, data)
    await api.wait_until_async(lambda: len(api.callback_answers) > answers, timeout=TIMEOUT)


def make_bot(api: FakeBotApi, database_url: str) -> BotUnderTest:
    bot = BotUnderTest(api, assistant(), database_url, HANDOFF_TIMEOUT_SECONDS="600")
    bot.runtime.extensions.append(HandoffExtension(bot.settings))
    return bot


async def test_handoff_over_telegram_survives_a_restart(api: FakeBotApi, tmp_path: Path) -> None:
    user = next(USERS)
    database_url = f"sqlite:///{tmp_path / 'bot.db'}"
    bot = make_bot(api, database_url)
    await bot.start()
    try:
        extension: HandoffExtension = bot.runtime.extensions[-1]  # type: ignore[assignment]
        service = extension.handoff.service
        with service.sessions() as session, session.begin():
            session.add(models.Staff(email="sam@luisterlijn.example", password_hash="x", helpline_id="luisterlijn"))
        with service.sessions() as session:
            staff_id = session.query(models.Staff.id).scalar()

        api.user_sends_text(user, "ik wil een mens")
        for fragment, button in (("Met wie wil je praten", "Luisterlijn"), ("Mag ik de medewerker", "Alleen een samenvatting"),
                                 ("anoniem blijven", "Ja, anoniem"), ("Zal ik je doorverbinden", "verbind me door")):
            await press(api, user, await wait_for(api, user, fragment), button)
        await wait_for(api, user, "Je staat in de wachtrij van De Luisterlijn")
        handoff = await service.open_for(bot.person_id(user))
        assert handoff is not None and handoff.status == models.WAITING and handoff.channel == "telegram"
        assert handoff.address is not None and str(user) not in handoff.address  # encrypted chat id

        # an acute message while waiting: the 112 answer at once, and the handoff moves to the top
        api.user_sends_text(user, "hij staat hier met een mes")
        await wait_for(api, user, "112")
        await wait_for(api, user, "bovenaan de wachtrij")
        assert (await service.get(handoff.id)).priority == 1

        assert await service.claim(handoff.id, staff_id)
        await wait_for(api, user, "Een medewerker van De Luisterlijn is er nu voor je")
        await service.staff_message(handoff.id, staff_id, "Ben je nu veilig?")
        message = await wait_for(api, user, "Ben je nu veilig?")
        assert message.plain_text.startswith("👤 Medewerker De Luisterlijn")
        api.user_sends_text(user, "Ja, ik ben bij de buren", first_name="Anna", username="anna_x")
        await asyncio.sleep(0.5)
    finally:
        await bot.stop()

    # the bot restarts; a staff message written meanwhile reaches the person, and the chat goes on
    bot = make_bot(api, database_url)
    await bot.start()
    try:
        service = bot.runtime.extensions[-1].handoff.service  # type: ignore[attr-defined]
        again = await service.open_for(bot.person_id(user))
        assert again is not None and again.id == handoff.id and again.status == models.ACTIVE
        _, messages = await service.for_staff(handoff.id, staff_id)
        assert [m.text for m in messages if m.sender == "person"] == ["hij staat hier met een mes", "Ja, ik ben bij de buren"]
        await service.staff_message(handoff.id, staff_id, "Goed zo. Blijf daar.")
        await wait_for(api, user, "Goed zo. Blijf daar.")
        await service.close(handoff.id, staff_id, "safety_plan")
        closed = await wait_for(api, user, "hoe het gesprek met de medewerker was")
        await press(api, user, closed, "Goed")
        await wait_for(api, user, "Dank je wel")
        api.user_sends_text(user, "hallo")
        await wait_for(api, user, "echo: hallo")  # the assistant answers again
        # nothing in the database holds the Telegram name, username or id
        with service.sessions() as session:
            stored = repr([(h.person_id, h.address, h.summary) for h in session.query(models.Handoff)])
        assert "Anna" not in stored and "anna_x" not in stored and str(user) not in stored
    finally:
        await bot.stop()
