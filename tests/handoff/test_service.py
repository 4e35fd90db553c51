"""The handoff data layer on SQLite and PostgreSQL: queue, claims, relay, close, timeout, forget, retention."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select, text

from bot.db import make_engine, make_sessionmaker
from bot.handoff import models
from bot.handoff.models import AuditEvent, Handoff, HandoffMessage
from bot.handoff.pubsub import Broker
from bot.handoff.service import NOTICE_CLAIMED, NOTICE_CLOSED, NOTICE_TIMEOUT, Forbidden, HandoffError, HandoffService, NotFound

from tests.handoff.conftest import count, rows


async def test_migrations_match_the_models(engine: Any) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.db import Base
    from bot.handoff.migrate import current

    assert current(engine) == "0002"
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_object": lambda obj, name, type_, *_: type_ != "table" or name in Base.metadata.tables})
        assert compare_metadata(context, Base.metadata) == []


async def test_queue_sorted_by_risk_then_waiting_time(service: HandoffService, make_staff: Any, clock: Any) -> None:
    staff = make_staff("luisterlijn")
    a = await service.request("p-a", "web", "luisterlijn", risk="stress")
    clock.advance(seconds=10)
    b = await service.request("p-b", "web", "luisterlijn", risk="violence")
    clock.advance(seconds=10)
    c = await service.request("p-c", "web", "luisterlijn", risk="stress")
    assert [h.id for h in await service.queue(staff)] == [b.id, a.id, c.id]
    assert (await service.position(c.id)).position == 3

    # an acute message while waiting: the 112 answer is the gateway's job; the handoff moves to the top
    _, bumped = await service.person_message(c.id, "hij slaat haar nu", risk="acute")
    assert bumped
    assert [h.id for h in await service.queue(staff)] == [c.id, b.id, a.id]
    assert (await service.get(c.id)).risk == "acute"
    assert (await service.position(c.id)).position == 1


async def test_expected_wait_from_recent_claims(service: HandoffService, make_staff: Any, clock: Any) -> None:
    staff = make_staff("luisterlijn")
    first = await service.request("p-1", "web", "luisterlijn")
    clock.advance(seconds=120)
    assert await service.claim(first.id, staff)
    second = await service.request("p-2", "web", "luisterlijn")
    third = await service.request("p-3", "web", "luisterlijn")
    assert (await service.position(second.id)).expected_wait_seconds == 120
    assert (await service.position(third.id)) == (await service.position(third.id)).__class__(2, 2, 240)


async def test_two_staff_claim_at_once_exactly_one_wins(service: HandoffService, make_staff: Any) -> None:
    one, two = make_staff("luisterlijn"), make_staff("luisterlijn")
    for n in range(8):
        handoff = await service.request(f"p-{n}", "web", "luisterlijn")
        results = await asyncio.gather(service.claim(handoff.id, one), service.claim(handoff.id, two))
        assert sorted(results) == [False, True]
        stored = await service.get(handoff.id)
        assert stored.status == models.ACTIVE
        assert stored.staff_id == (one if results[0] else two)
        # only one 'claimed' notice and one claim audit event
        assert [d.text for d in await service.undelivered(handoff_id=handoff.id)] == [NOTICE_CLAIMED]


async def test_other_helplines_handoffs_are_invisible(service: HandoffService, make_staff: Any) -> None:
    waag = make_staff("de_waag")
    admin = make_staff(None, role=models.ROLE_ADMIN)
    handoff = await service.request("p-l", "telegram", "luisterlijn")
    assert await service.queue(waag) == []
    with pytest.raises(NotFound):
        await service.for_staff(handoff.id, waag)
    assert await service.claim(handoff.id, waag) is False
    with pytest.raises(NotFound):
        await service.transfer(handoff.id, waag, "de_waag")
    assert [h.id for h in await service.queue(admin)] == [handoff.id]
    await service.for_staff(handoff.id, admin, audit_view=True)
    assert count(service.sessions, AuditEvent, action="view") == 1


async def test_relay_both_ways_and_close(service: HandoffService, make_staff: Any) -> None:
    staff, colleague = make_staff("luisterlijn"), make_staff("luisterlijn")
    handoff = await service.request("p-r", "web", "luisterlijn", consent="summary", summary={"risk": "stress", "topics": ["slapen"]},
                                    transcript=[("person", "geheim"), ("bot", "tip")])
    subscription = service.broker.subscribe("person")
    with pytest.raises(Forbidden):
        await service.staff_message(handoff.id, staff, "hallo")  # not claimed yet
    assert await service.claim(handoff.id, staff)
    with pytest.raises(Forbidden):
        await service.staff_message(handoff.id, colleague, "ik neem over")  # claimed by someone else
    message = await service.staff_message(handoff.id, staff, "Hoi, ik ben van De Luisterlijn.")
    pending = await service.undelivered(channel="web")
    assert [(d.sender, d.text) for d in pending] == [("system", NOTICE_CLAIMED), ("staff", "Hoi, ik ben van De Luisterlijn.")]
    assert pending[-1].helpline_name == "De Luisterlijn"
    assert (await subscription.get(timeout=1))["type"] == "deliver"
    await service.mark_delivered([d.message_id for d in pending])
    assert await service.undelivered() == []

    await service.person_message(handoff.id, "Dank je", risk="none")
    stored, messages = await service.for_staff(handoff.id, staff)
    assert stored.summary == {"risk": "stress", "topics": ["slapen"]}
    # consent 'summary': the conversation with the bot was not copied
    assert [m.sender for m in messages] == ["system", "staff", "person"]

    with pytest.raises(HandoffError):
        await service.close(handoff.id, staff, "not-an-outcome")
    closed = await service.close(handoff.id, staff, "listened", "Rustig gesprek, tips over slaap.")
    assert closed.status == models.CLOSED and closed.outcome == "listened"
    assert [d.text for d in await service.undelivered()] == [NOTICE_CLOSED]
    await service.rate(handoff.id, 4)
    assert (await service.get(handoff.id)).rating == 4
    actions = [e.action for e in rows(service.sessions, AuditEvent)]
    assert {"requested", "claim", "close"} <= set(actions)
    # audit events never hold message text or notes
    for event in rows(service.sessions, AuditEvent):
        blob = repr((event.actor, event.action, event.details))
        assert "Dank je" not in blob and "Rustig" not in blob and "Luisterlijn." not in blob


async def test_transcript_only_with_consent(service: HandoffService, make_staff: Any) -> None:
    staff = make_staff("luisterlijn")
    shared = await service.request("p-t", "web", "luisterlijn", consent="transcript", summary={"risk": "none"},
                                   transcript=[("person", "Mijn zoon slaapt slecht"), ("bot", "Een tip: ...")])
    nothing = await service.request("p-n", "web", "luisterlijn", consent="none", summary={"risk": "none"},
                                    transcript=[("person", "geheim")])
    _, messages = await service.for_staff(shared.id, staff)
    assert [(m.sender, m.text) for m in messages] == [("transcript_person", "Mijn zoon slaapt slecht"), ("transcript_bot", "Een tip: ...")]
    stored, messages = await service.for_staff(nothing.id, staff)
    assert stored.summary is None and messages == []
    assert count(service.sessions, HandoffMessage, handoff_id=nothing.id) == 0


async def test_transfer_to_another_helpline(service: HandoffService, make_staff: Any) -> None:
    luister, thuis = make_staff("luisterlijn"), make_staff("veilig_thuis")
    handoff = await service.request("p-x", "telegram", "luisterlijn", risk="violence")
    assert await service.claim(handoff.id, luister)
    moved = await service.transfer(handoff.id, luister, "veilig_thuis")
    assert moved.status == models.WAITING and moved.helpline_id == "veilig_thuis" and moved.staff_id is None
    assert await service.queue(luister) == []
    assert [h.id for h in await service.queue(thuis)] == [handoff.id]
    assert await service.claim(handoff.id, thuis)
    assert [e.details for e in rows(service.sessions, AuditEvent) if e.action == "transfer"] == [{"from": "luisterlijn", "to": "veilig_thuis"}]
    with pytest.raises(HandoffError):
        await service.transfer(handoff.id, thuis, "112")  # 112 is a phone call, not a chat queue


async def test_nobody_accepts_timeout(service: HandoffService, make_staff: Any, clock: Any) -> None:
    make_staff("luisterlijn")
    handoff = await service.request("p-w", "web", "luisterlijn")
    assert await service.check_timeouts() == []
    clock.advance(seconds=service.timeout_seconds + 1)
    timed_out = await service.check_timeouts()
    assert [h.id for h in timed_out] == [handoff.id]
    assert [d.text for d in await service.undelivered()] == [NOTICE_TIMEOUT]
    assert await service.check_timeouts() == []  # told once
    # the person wants to keep waiting: the request stays in the queue
    await service.keep_waiting(handoff.id)
    clock.advance(seconds=service.timeout_seconds * 3)
    assert await service.check_timeouts() == []
    assert (await service.get(handoff.id)).status == models.WAITING


async def test_cancel(service: HandoffService, make_staff: Any) -> None:
    staff = make_staff("luisterlijn")
    handoff = await service.request("p-c", "web", "luisterlijn")
    assert (await service.cancel(handoff.id)).status == models.CANCELLED
    assert await service.queue(staff) == []
    assert await service.open_for("p-c") is None
    assert await service.claim(handoff.id, staff) is False


async def test_closed_line_is_not_offered_first(service: HandoffService, make_staff: Any) -> None:
    from datetime import datetime

    from bot.helplines import AMSTERDAM

    make_staff("kindertelefoon"), make_staff("luisterlijn")
    night = datetime(2026, 11, 23, 3, 0, tzinfo=AMSTERDAM)  # De Kindertelefoon: 11:00-21:00
    lines, closed = await service.candidates("kindertelefoon", night)
    assert closed and lines == ["luisterlijn"]
    day = datetime(2026, 11, 23, 14, 0, tzinfo=AMSTERDAM)
    lines, closed = await service.candidates("kindertelefoon", day)
    assert not closed and lines == ["kindertelefoon", "luisterlijn"]
    # the acute route (112) is a phone call: the chat goes to Veilig Thuis when it has staff
    make_staff("veilig_thuis")
    assert (await service.candidates("112"))[0][0] == "veilig_thuis"


async def test_forget_removes_the_persons_handoffs_and_messages(service: HandoffService, make_staff: Any) -> None:
    staff = make_staff("luisterlijn")
    mine = await service.request("p-forget", "telegram", "luisterlijn", consent="transcript", transcript=[("person", "oud")])
    await service.claim(mine.id, staff)
    await service.person_message(mine.id, "hallo")
    await service.staff_message(mine.id, staff, "hoi")
    other = await service.request("p-other", "telegram", "luisterlijn")
    await service.person_message(other.id, "ik blijf")
    assert await service.forget("p-forget") == 1
    assert count(service.sessions, Handoff, person_id="p-forget") == 0
    assert count(service.sessions, HandoffMessage, handoff_id=mine.id) == 0
    assert count(service.sessions, HandoffMessage, handoff_id=other.id) == 1
    assert await service.forget("p-forget") == 0


async def test_deleting_a_handoff_cascades_in_the_database(service: HandoffService, sessions: Any) -> None:
    handoff = await service.request("p-db", "web", "luisterlijn")
    await service.person_message(handoff.id, "een")
    with sessions() as session, session.begin():
        session.execute(text("DELETE FROM handoffs WHERE id = :id"), {"id": handoff.id})  # no ORM involved
    assert count(sessions, HandoffMessage, handoff_id=handoff.id) == 0


async def test_restart_keeps_open_handoff_and_messages(database_url: str, engine: Any, clock: Any, make_staff: Any) -> None:
    first = HandoffService(make_sessionmaker(engine), Broker(), clock=clock)
    await first.sync_helplines()
    staff = make_staff("luisterlijn")
    handoff = await first.request("p-restart", "telegram", "luisterlijn")
    await first.claim(handoff.id, staff)
    await first.person_message(handoff.id, "ben je er nog?")
    await first.staff_message(handoff.id, staff, "ja, ik ben er")
    engine.dispose()  # the process stops

    engine2 = make_engine(database_url)
    second = HandoffService(make_sessionmaker(engine2), Broker(), clock=clock)
    await second.sync_helplines()
    again = await second.open_for("p-restart")
    assert again is not None and again.id == handoff.id and again.status == models.ACTIVE
    _, messages = await second.for_staff(handoff.id, staff)
    assert [m.text for m in messages if m.sender != "system"] == ["ben je er nog?", "ja, ik ben er"]
    # the staff message not yet sent to the person is still pending for the channel
    assert [d.text for d in await second.undelivered()] == [NOTICE_CLAIMED, "ja, ik ben er"]
    engine2.dispose()


async def test_retention_deletes_old_messages_handoffs_and_tracker_events(service: HandoffService, database_url: str,
                                                                         make_staff: Any, clock: Any) -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.assistant import sql_tracker_store

    staff = make_staff("luisterlijn")
    store = sql_tracker_store(database_url, Domain.empty())
    old = await service.request("p-old", "web", "luisterlijn")
    await service.claim(old.id, staff)
    await service.person_message(old.id, "oud bericht")
    await service.close(old.id, staff, "listened")
    clock.advance(days=31)
    now_ts = (clock() - models.datetime(1970, 1, 1)).total_seconds()
    old_ts = now_ts - 40 * 86400
    tracker = DialogueStateTracker.from_events("p-old", [UserUttered("oud", timestamp=old_ts), UserUttered("nieuw", timestamp=now_ts)])
    await store.save(tracker)
    recent = await service.request("p-new", "web", "luisterlijn")
    await service.person_message(recent.id, "nieuw bericht")

    purged = await service.purge(30, store)
    assert purged.handoffs == 1 and purged.tracker_events == 1 and purged.handoff_messages >= 1
    assert count(service.sessions, Handoff, id=old.id) == 0
    assert count(service.sessions, HandoffMessage, handoff_id=recent.id) == 1
    with store.session_scope() as session:
        texts = [e.data for e in session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == "p-old")]
    assert len(texts) == 1 and "nieuw" in texts[0]
    store.engine.dispose()
