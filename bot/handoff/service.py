"""HandoffService: the queue, claims, relaying, closing, timeouts, retention and forgetting.

All methods are async; the database work runs in a worker thread (SQLAlchemy 1.4, 2.0 style) so the
event loop that serves Telegram and the console never waits on the database. Every state change is
published on the broker (bot.handoff.pubsub) after its transaction committed.

Messages to the person (a staff message, or a system notice such as 'claimed' or 'closed') are rows
with delivered_at NULL until the person's channel has sent them: after a restart the gateway delivers
what is still pending, so nothing is lost.
"""
from __future__ import annotations

import asyncio
import logging
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, TypeVar

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.models import (
    ACTIVE,
    CANCELLED,
    CLOSED,
    CONSENT_NONE,
    CONSENT_SUMMARY,
    CONSENT_TRANSCRIPT,
    CONSENTS,
    OPEN_STATES,
    OUTCOMES,
    PERSON,
    PREPARING,
    STAFF,
    SYSTEM,
    TRANSCRIPT_BOT,
    TRANSCRIPT_PERSON,
    WAITING,
    AuditEvent,
    Handoff,
    HandoffMessage,
    HelplineRow,
    Staff,
    StaffSession,
    risk_rank,
    utcnow,
)
from bot.handoff.addresses import AddressBox
from bot.handoff.pubsub import Broker
from bot.helplines import Helplines, catalogue

log = logging.getLogger(__name__)
T = TypeVar("T")

# Lines a person can be handed to in chat. 112 is a phone call, never a chat queue.
NO_HANDOFF = frozenset({"112"})
# Where a route goes when its own line takes no handoffs.
HANDOFF_FALLBACK = {"112": "veilig_thuis"}

# System notices to the person (stored as the text of a 'system' message; the gateway words them).
NOTICE_CLAIMED, NOTICE_TRANSFERRED, NOTICE_CLOSED, NOTICE_TIMEOUT = "claimed", "transferred", "closed", "timeout"


class HandoffError(Exception):
    """An operation that is not allowed in the handoff's current state (or for this staff member)."""


class NotFound(HandoffError):
    pass


class Forbidden(HandoffError):
    pass


@dataclass(frozen=True)
class Position:
    position: int  # 1 = next in line; 0 = not waiting
    waiting: int  # how many wait in this queue
    expected_wait_seconds: Optional[int]  # None when there is no history to estimate from


@dataclass(frozen=True)
class Delivery:
    """A message the person's channel still has to send."""

    message_id: int
    handoff_id: str
    person_id: str
    channel: str
    sender: str  # staff | system
    text: str
    helpline_id: Optional[str]
    helpline_name: str
    address: Optional[str] = None  # the channel's address (decrypted), e.g. a Telegram chat id
    status: str = ""


@dataclass(frozen=True)
class Purged:
    handoff_messages: int
    handoffs: int
    tracker_events: int
    sessions: int
    audit_events: int


class HandoffService:
    def __init__(
        self,
        sessions: sessionmaker,
        broker: Optional[Broker] = None,
        helplines: Optional[Helplines] = None,
        timeout_seconds: int = 300,
        clock: Callable[[], datetime] = utcnow,
        addresses: Optional[AddressBox] = None,
    ) -> None:
        self.addresses = addresses or AddressBox(b"adempauze-development-only-key")
        self.sessions = sessions
        self.broker = broker or Broker()
        self.helplines = helplines or catalogue()
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    # -- plumbing ---------------------------------------------------------------------------------

    async def _run(self, fn: Callable[[Session], T]) -> T:
        def work() -> T:
            with self.sessions() as session, session.begin():
                return fn(session)

        return await asyncio.to_thread(work)

    async def _publish(self, handoff: Optional[Handoff], kind: str, **extra: Any) -> None:
        if handoff is None:
            return
        event = {"type": kind, "handoff_id": handoff.id, "helpline_id": handoff.helpline_id, "status": handoff.status, **extra}
        await self.broker.publish("queue", event)
        await self.broker.publish(f"handoff:{handoff.id}", event)

    async def _publish_person(self, handoff: Handoff) -> None:
        await self.broker.publish("person", {"type": "deliver", "handoff_id": handoff.id, "channel": handoff.channel})

    @staticmethod
    def _get(session: Session, handoff_id: str) -> Handoff:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None:
            raise NotFound(handoff_id)
        return handoff

    def _audit(self, session: Session, staff: Optional[Staff], action: str, handoff: Optional[Handoff] = None,
               actor: Optional[str] = None, **details: Any) -> None:
        session.add(
            AuditEvent(
                at=self.clock(),
                staff_id=staff.id if staff else None,
                actor=staff.email if staff else (actor or "system"),
                action=action,
                handoff_id=handoff.id if handoff else None,
                helpline_id=handoff.helpline_id if handoff else (staff.helpline_id if staff else None),
                details=details or None,
            )
        )

    def _staff(self, session: Session, staff_id: int) -> Staff:
        staff = session.get(Staff, staff_id)
        if staff is None or not staff.active:
            raise Forbidden("unknown or inactive staff account")
        return staff

    # -- helplines --------------------------------------------------------------------------------

    async def sync_helplines(self) -> None:
        """Mirror data/helplines.yml into the helplines table (insert or update, never delete)."""
        lines = self.helplines.lines

        def work(session: Session) -> None:
            now = self.clock()
            existing = {row.id: row for row in session.execute(select(HelplineRow)).scalars()}
            for line in lines.values():
                row = existing.get(line.id)
                if row is None:
                    session.add(HelplineRow(id=line.id, name=line.name, accepts_handoffs=line.id not in NO_HANDOFF, active=True, synced_at=now))
                else:
                    row.name, row.active, row.synced_at = line.name, True, now
            for row_id, row in existing.items():
                if row_id not in lines:
                    row.active = False

        await self._run(work)

    async def handoff_lines(self) -> List[str]:
        """Ids of lines that take handoffs and have at least one active staff account."""

        def work(session: Session) -> List[str]:
            staffed = select(Staff.helpline_id).where(Staff.active.is_(True), Staff.helpline_id.is_not(None))
            rows = session.execute(
                select(HelplineRow.id).where(HelplineRow.accepts_handoffs.is_(True), HelplineRow.active.is_(True), HelplineRow.id.in_(staffed))
            ).scalars()
            return sorted(rows)

        return await self._run(work)

    async def candidates(self, route: Optional[str], moment: Optional[datetime] = None) -> Tuple[List[str], bool]:
        """Lines to offer for a route: (ids, route_line_closed). The route's own line first when it is
        open; then every other staffed line that is open now. Lines whose hours are unknown count as
        possibly open (the timeout tells the person honestly if nobody answers)."""
        staffed = await self.handoff_lines()
        wanted = HANDOFF_FALLBACK.get(route or "", route) or "luisterlijn"
        first: List[str] = []
        closed = False
        if wanted in staffed:
            if wanted in self.helplines.lines and self.helplines[wanted].is_open(moment) is False:
                closed = True
            else:
                first.append(wanted)
        def open_now(line_id: str) -> Optional[bool]:
            line = self.helplines.lines.get(line_id)
            return line.is_open(moment) if line else None

        others = [i for i in staffed if i != wanted and open_now(i) is not False]
        return first + others, closed

    # -- the person's side ----------------------------------------------------------------------

    async def open_for(self, person_id: str) -> Optional[Handoff]:
        """The person's open handoff (preparing, waiting or active), if any."""

        def work(session: Session) -> Optional[Handoff]:
            return session.execute(
                select(Handoff).where(Handoff.person_id == person_id, Handoff.status.in_(OPEN_STATES)).order_by(Handoff.created_at.desc())
            ).scalars().first()

        return await self._run(work)

    async def get(self, handoff_id: str) -> Handoff:
        return await self._run(lambda session: self._get(session, handoff_id))

    async def start(self, person_id: str, channel: str, route: Optional[str], risk: str = "none",
                    address: Optional[str] = None) -> Handoff:
        """A handoff in 'preparing' while the person answers the pre-handoff questions (reuses an open one)."""

        def work(session: Session) -> Handoff:
            existing = session.execute(
                select(Handoff).where(Handoff.person_id == person_id, Handoff.status.in_(OPEN_STATES))
            ).scalars().first()
            if existing is not None:
                if address is not None:
                    existing.address = self.addresses.seal(address)
                return existing
            handoff = Handoff(person_id=person_id, channel=channel, route=route, risk=risk, risk_rank=risk_rank(risk), status=PREPARING,
                              created_at=self.clock(), address=self.addresses.seal(address))
            session.add(handoff)
            session.flush()
            return handoff

        return await self._run(work)

    async def prepare(self, handoff_id: str, *, helpline_id: Optional[str] = None, consent: Optional[str] = None,
                      anonymous: Optional[bool] = None) -> Handoff:
        """Record a pre-handoff choice."""
        if consent is not None and consent not in CONSENTS:
            raise HandoffError(f"unknown consent {consent!r}")

        def work(session: Session) -> Handoff:
            handoff = self._get(session, handoff_id)
            if handoff.status != PREPARING:
                raise HandoffError("handoff is no longer being prepared")
            if helpline_id is not None:
                self._check_line(session, helpline_id)
                handoff.helpline_id = helpline_id
            if consent is not None:
                handoff.consent = consent
            if anonymous is not None:
                handoff.anonymous = anonymous
            return handoff

        return await self._run(work)

    def _check_line(self, session: Session, helpline_id: str) -> HelplineRow:
        row = session.get(HelplineRow, helpline_id)
        if row is None or not row.accepts_handoffs or not row.active:
            raise HandoffError(f"helpline {helpline_id!r} takes no handoffs")
        return row

    async def submit(self, handoff_id: str, summary: Optional[Dict[str, Any]] = None,
                     transcript: Sequence[Tuple[str, str]] = ()) -> Handoff:
        """Put a prepared handoff in the queue. The summary is kept only with consent 'summary' or
        'transcript'; the transcript (('person'|'bot', text) pairs) only with consent 'transcript'."""

        def work(session: Session) -> Handoff:
            handoff = self._get(session, handoff_id)
            if handoff.status != PREPARING:
                return handoff
            if not handoff.helpline_id:
                raise HandoffError("choose a helpline first")
            now = self.clock()
            handoff.summary = dict(summary or {}) if handoff.consent in (CONSENT_SUMMARY, CONSENT_TRANSCRIPT) else None
            if handoff.consent == CONSENT_TRANSCRIPT:
                for who, text in transcript:
                    if text:
                        sender = TRANSCRIPT_PERSON if who in ("person", "user") else TRANSCRIPT_BOT
                        session.add(HandoffMessage(handoff_id=handoff.id, sender=sender, text=text, created_at=now, delivered_at=now))
            handoff.status = WAITING
            handoff.queued_at = now
            self._audit(session, None, "requested", handoff, actor="person", risk=handoff.risk, consent=handoff.consent)
            return handoff

        handoff = await self._run(work)
        await self._publish(handoff, "queued")
        return handoff

    async def request(self, person_id: str, channel: str, helpline_id: str, *, risk: str = "none", route: Optional[str] = None,
                      consent: str = CONSENT_SUMMARY, anonymous: bool = True, summary: Optional[Dict[str, Any]] = None,
                      transcript: Sequence[Tuple[str, str]] = (), address: Optional[str] = None) -> Handoff:
        """start + prepare + submit in one call."""
        handoff = await self.start(person_id, channel, route or helpline_id, risk, address)
        if handoff.status == PREPARING:
            await self.prepare(handoff.id, helpline_id=helpline_id, consent=consent, anonymous=anonymous)
            handoff = await self.submit(handoff.id, summary, transcript)
        return handoff

    async def find_for(self, person_id: str, short_id: str) -> Optional[Handoff]:
        """The person's most recent handoff whose id starts with `short_id` (from a button payload)."""
        if not short_id:
            return None

        def work(session: Session) -> Optional[Handoff]:
            return session.execute(
                select(Handoff).where(Handoff.person_id == person_id, Handoff.id.like(f"{short_id}%")).order_by(Handoff.created_at.desc())
            ).scalars().first()

        return await self._run(work)

    async def recent_for(self, person_id: str) -> Optional[Handoff]:
        """The person's most recent handoff (open or not)."""

        def work(session: Session) -> Optional[Handoff]:
            return session.execute(
                select(Handoff).where(Handoff.person_id == person_id).order_by(Handoff.created_at.desc())
            ).scalars().first()

        return await self._run(work)

    async def person_history(self, handoff_id: str) -> List[Tuple[str, str]]:
        """(sender, text) of the chat between the person and staff (delivered staff messages only)."""

        def work(session: Session) -> List[Tuple[str, str]]:
            rows = session.execute(
                select(HandoffMessage.sender, HandoffMessage.text).where(
                    HandoffMessage.handoff_id == handoff_id,
                    or_(HandoffMessage.sender == PERSON, (HandoffMessage.sender == STAFF) & HandoffMessage.delivered_at.is_not(None)),
                ).order_by(HandoffMessage.id)
            ).all()
            return [(r[0], r[1]) for r in rows]

        return await self._run(work)

    async def waiting_in(self, helpline_id: str) -> List[Handoff]:
        """The waiting handoffs of one helpline, in queue order."""
        return await self._run(lambda session: self._queue_query(session, [helpline_id], include_active=False))

    async def expected_wait(self, helpline_id: str, place: int) -> Optional[int]:
        """Seconds until someone claims the handoff at `place`, from the median of the last 20 claims."""

        def work(session: Session) -> Optional[int]:
            return self._expected(session, helpline_id, place)

        return await self._run(work)

    def _expected(self, session: Session, helpline_id: Optional[str], place: int) -> Optional[int]:
        recent = session.execute(
            select(Handoff.queued_at, Handoff.claimed_at)
            .where(Handoff.helpline_id == helpline_id, Handoff.claimed_at.is_not(None), Handoff.queued_at.is_not(None))
            .order_by(Handoff.claimed_at.desc())
            .limit(20)
        ).all()
        waits = [max(0.0, (c - q).total_seconds()) for q, c in recent]
        return int(statistics.median(waits) * max(1, place)) if waits else None

    async def position(self, handoff_id: str) -> Position:
        """Place in the queue of its helpline (priority, risk, then waiting time) and an estimate of the wait."""

        def work(session: Session) -> Position:
            handoff = self._get(session, handoff_id)
            if handoff.status != WAITING:
                return Position(0, 0, None)
            queue = self._queue_query(session, [handoff.helpline_id], include_active=False)
            ids = [h.id for h in queue]
            place = ids.index(handoff.id) + 1 if handoff.id in ids else len(ids)
            return Position(place, len(ids), self._expected(session, handoff.helpline_id, place))

        return await self._run(work)

    async def cancel(self, handoff_id: str) -> Handoff:
        """The person cancels (while preparing, waiting, or during the chat)."""

        def work(session: Session) -> Handoff:
            handoff = self._get(session, handoff_id)
            if handoff.status in OPEN_STATES:
                handoff.status = CANCELLED
                handoff.closed_at = self.clock()
                handoff.address = None
                self._audit(session, None, "cancelled", handoff, actor="person")
            return handoff

        handoff = await self._run(work)
        await self._publish(handoff, "cancelled")
        return handoff

    async def keep_waiting(self, handoff_id: str) -> Handoff:
        def work(session: Session) -> Handoff:
            handoff = self._get(session, handoff_id)
            handoff.keep_waiting = True
            return handoff

        return await self._run(work)

    async def person_message(self, handoff_id: str, text: str, risk: str = "none") -> Tuple[HandoffMessage, bool]:
        """Store a message from the person; returns (message, moved_to_top). An acute message moves a
        waiting handoff to the top of its queue and raises its risk tier."""

        def work(session: Session) -> Tuple[HandoffMessage, bool, Handoff]:
            handoff = self._get(session, handoff_id)
            if handoff.status not in (WAITING, ACTIVE):
                raise HandoffError("handoff is not open for messages")
            bumped = False
            rank = risk_rank(risk)
            if rank > handoff.risk_rank:
                handoff.risk, handoff.risk_rank = risk, rank
            if risk == "acute" and handoff.priority < 1:
                handoff.priority = 1
                bumped = True
                self._audit(session, None, "priority", handoff, actor="system", reason="acute")
            message = HandoffMessage(handoff_id=handoff.id, sender=PERSON, text=text, risk=risk, created_at=self.clock())
            session.add(message)
            session.flush()
            return message, bumped, handoff

        message, bumped, handoff = await self._run(work)
        await self._publish(handoff, "message", message_id=message.id, sender=PERSON, bumped=bumped)
        return message, bumped

    async def set_address(self, handoff_id: str, address: Optional[str]) -> None:
        def work(session: Session) -> None:
            handoff = session.get(Handoff, handoff_id)
            if handoff is not None and handoff.is_open:
                handoff.address = self.addresses.seal(address)

        await self._run(work)

    async def address_of(self, handoff_id: str) -> Optional[str]:
        def work(session: Session) -> Optional[str]:
            handoff = session.get(Handoff, handoff_id)
            return self.addresses.open(handoff.address) if handoff is not None else None

        return await self._run(work)

    async def rate(self, handoff_id: str, rating: int) -> None:
        def work(session: Session) -> None:
            handoff = session.get(Handoff, handoff_id)
            if handoff is not None and 1 <= rating <= 5:
                handoff.rating = rating

        await self._run(work)

    async def mark_resumed(self, handoff_id: str) -> None:
        def work(session: Session) -> None:
            handoff = session.get(Handoff, handoff_id)
            if handoff is not None and handoff.resumed_at is None:
                handoff.resumed_at = self.clock()
            if handoff is not None and not handoff.is_open:
                handoff.address = None

        await self._run(work)

    async def undelivered(self, channel: Optional[str] = None, handoff_id: Optional[str] = None) -> List[Delivery]:
        """Staff messages and notices the person's channel still has to send, oldest first."""

        def work(session: Session) -> List[Delivery]:
            query = (
                select(HandoffMessage, Handoff)
                .join(Handoff, Handoff.id == HandoffMessage.handoff_id)
                .where(HandoffMessage.delivered_at.is_(None), HandoffMessage.sender.in_((STAFF, SYSTEM)))
                .order_by(HandoffMessage.id)
            )
            if channel:
                query = query.where(Handoff.channel == channel)
            if handoff_id:
                query = query.where(Handoff.id == handoff_id)
            rows = session.execute(query).all()
            return [
                Delivery(m.id, h.id, h.person_id, h.channel, m.sender, m.text, h.helpline_id,
                         self._line_name(h.helpline_id), self.addresses.open(h.address), h.status)
                for m, h in rows
            ]

        return await self._run(work)

    def _line_name(self, helpline_id: Optional[str]) -> str:
        if helpline_id and helpline_id in self.helplines.lines:
            return self.helplines[helpline_id].name
        return helpline_id or ""

    async def mark_delivered(self, message_ids: Iterable[int]) -> None:
        ids = list(message_ids)
        if not ids:
            return

        def work(session: Session) -> None:
            session.execute(
                update(HandoffMessage).where(HandoffMessage.id.in_(ids), HandoffMessage.delivered_at.is_(None)).values(delivered_at=self.clock())
            )

        await self._run(work)

    # -- the staff side --------------------------------------------------------------------------

    def _queue_query(self, session: Session, helpline_ids: Optional[Sequence[Optional[str]]], include_active: bool = True) -> List[Handoff]:
        states = (WAITING, ACTIVE) if include_active else (WAITING,)
        query = select(Handoff).where(Handoff.status.in_(states))
        if helpline_ids is not None:
            query = query.where(Handoff.helpline_id.in_([h for h in helpline_ids if h]))
        query = query.order_by(
            (Handoff.status == ACTIVE).asc(),  # waiting first
            Handoff.priority.desc(),
            Handoff.risk_rank.desc(),
            Handoff.queued_at.asc(),
        )
        return list(session.execute(query).scalars())

    async def queue(self, staff_id: int) -> List[Handoff]:
        """What a staff member sees: waiting and active handoffs of their helpline (all for an admin),
        waiting first, then by priority, risk tier and waiting time."""

        def work(session: Session) -> List[Handoff]:
            staff = self._staff(session, staff_id)
            return self._queue_query(session, None if staff.is_admin else [staff.helpline_id])

        return await self._run(work)

    async def for_staff(self, handoff_id: str, staff_id: int, *, audit_view: bool = False) -> Tuple[Handoff, List[HandoffMessage]]:
        """A handoff and the messages this staff member may see; NotFound for another helpline's handoff.
        The pre-handoff transcript is included only with the person's consent (it is stored only then)."""

        def work(session: Session) -> Tuple[Handoff, List[HandoffMessage]]:
            staff = self._staff(session, staff_id)
            handoff = session.get(Handoff, handoff_id)
            if handoff is None or handoff.status == PREPARING or not staff.may_see(handoff.helpline_id):
                raise NotFound(handoff_id)
            messages = list(handoff.messages)
            if handoff.consent != CONSENT_TRANSCRIPT:
                messages = [m for m in messages if m.sender not in (TRANSCRIPT_PERSON, TRANSCRIPT_BOT)]
            if audit_view:
                self._audit(session, staff, "view", handoff)
            return handoff, messages

        return await self._run(work)

    async def claim(self, handoff_id: str, staff_id: int) -> bool:
        """Take a waiting handoff. A conditional UPDATE (status still 'waiting') makes two claims at the
        same moment safe: exactly one of them changes the row; the other gets False."""

        def work(session: Session) -> Tuple[bool, Optional[Handoff]]:
            staff = self._staff(session, staff_id)
            now = self.clock()
            condition = [Handoff.id == handoff_id, Handoff.status == WAITING]
            if not staff.is_admin:
                condition.append(Handoff.helpline_id == staff.helpline_id)
            result = session.execute(
                update(Handoff).where(*condition).values(status=ACTIVE, staff_id=staff.id, claimed_at=now).execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                return False, None
            handoff = self._get(session, handoff_id)
            session.refresh(handoff)
            session.add(HandoffMessage(handoff_id=handoff.id, sender=SYSTEM, text=NOTICE_CLAIMED, created_at=now))
            self._audit(session, staff, "claim", handoff)
            return True, handoff

        won, handoff = await self._run(work)
        if won and handoff is not None:
            await self._publish(handoff, "claimed")
            await self._publish_person(handoff)
        return won

    def _owned(self, session: Session, handoff_id: str, staff: Staff) -> Handoff:
        handoff = session.get(Handoff, handoff_id)
        if handoff is None or not staff.may_see(handoff.helpline_id):
            raise NotFound(handoff_id)
        return handoff

    async def transfer(self, handoff_id: str, staff_id: int, to_helpline: str) -> Handoff:
        """Hand a waiting or active handoff to another helpline's queue (keeping its waiting time)."""

        def work(session: Session) -> Tuple[Handoff, str]:
            staff = self._staff(session, staff_id)
            handoff = self._owned(session, handoff_id, staff)
            self._check_line(session, to_helpline)
            if to_helpline == handoff.helpline_id:
                raise HandoffError("handoff is already with this helpline")
            from_line = handoff.helpline_id or ""
            condition = [Handoff.id == handoff_id, Handoff.status.in_((WAITING, ACTIVE)), Handoff.helpline_id == handoff.helpline_id]
            if handoff.status == ACTIVE and not staff.is_admin:
                condition.append(Handoff.staff_id == staff.id)
            result = session.execute(
                update(Handoff).where(*condition)
                .values(helpline_id=to_helpline, status=WAITING, staff_id=None, claimed_at=None, timeout_notified_at=None, keep_waiting=False)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise HandoffError("handoff cannot be transferred now")
            session.refresh(handoff)
            session.add(HandoffMessage(handoff_id=handoff.id, sender=SYSTEM, text=NOTICE_TRANSFERRED, created_at=self.clock()))
            self._audit(session, staff, "transfer", handoff, **{"from": from_line, "to": to_helpline})
            return handoff, from_line

        handoff, from_line = await self._run(work)
        await self._publish(handoff, "transferred", from_helpline=from_line)
        await self.broker.publish("queue", {"type": "transferred", "handoff_id": handoff.id, "helpline_id": from_line})
        await self._publish_person(handoff)
        return handoff

    async def staff_message(self, handoff_id: str, staff_id: int, text: str) -> HandoffMessage:
        """A message from the staff member who claimed the handoff (or an admin) to the person."""
        text = (text or "").strip()
        if not text:
            raise HandoffError("empty message")

        def work(session: Session) -> Tuple[HandoffMessage, Handoff]:
            staff = self._staff(session, staff_id)
            handoff = self._owned(session, handoff_id, staff)
            if handoff.status != ACTIVE or (handoff.staff_id != staff.id and not staff.is_admin):
                raise Forbidden("claim the handoff before writing")
            message = HandoffMessage(handoff_id=handoff.id, sender=STAFF, staff_id=staff.id, text=text, created_at=self.clock())
            session.add(message)
            session.flush()
            return message, handoff

        message, handoff = await self._run(work)
        await self._publish(handoff, "message", message_id=message.id, sender=STAFF)
        await self._publish_person(handoff)
        return message

    async def close(self, handoff_id: str, staff_id: int, outcome: str, notes: str = "") -> Handoff:
        if outcome not in OUTCOMES:
            raise HandoffError(f"unknown outcome {outcome!r}")

        def work(session: Session) -> Handoff:
            staff = self._staff(session, staff_id)
            handoff = self._owned(session, handoff_id, staff)
            if handoff.status != ACTIVE or (handoff.staff_id != staff.id and not staff.is_admin):
                raise Forbidden("only the staff member who claimed it can close it")
            now = self.clock()
            handoff.status, handoff.closed_at, handoff.outcome, handoff.notes = CLOSED, now, outcome, (notes or "").strip() or None
            session.add(HandoffMessage(handoff_id=handoff.id, sender=SYSTEM, text=NOTICE_CLOSED, created_at=now))
            self._audit(session, staff, "close", handoff, outcome=outcome)
            return handoff

        handoff = await self._run(work)
        await self._publish(handoff, "closed")
        await self._publish_person(handoff)
        return handoff

    async def audit(self, staff_id: Optional[int], action: str, handoff_id: Optional[str] = None, **details: Any) -> None:
        def work(session: Session) -> None:
            staff = session.get(Staff, staff_id) if staff_id else None
            handoff = session.get(Handoff, handoff_id) if handoff_id else None
            self._audit(session, staff, action, handoff, **details)

        await self._run(work)

    async def audit_log(self, limit: int = 500) -> List[AuditEvent]:
        return await self._run(lambda s: list(s.execute(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)).scalars()))

    # -- time-outs, retention, forgetting ---------------------------------------------------------

    async def check_timeouts(self) -> List[Handoff]:
        """Waiting handoffs that nobody claimed within the timeout: the person is told (once) and may
        keep waiting. Returns the handoffs that timed out just now."""

        def work(session: Session) -> List[Handoff]:
            now = self.clock()
            cutoff = now - timedelta(seconds=self.timeout_seconds)
            due = list(session.execute(
                select(Handoff).where(Handoff.status == WAITING, Handoff.queued_at <= cutoff, Handoff.timeout_notified_at.is_(None), Handoff.keep_waiting.is_(False))
            ).scalars())
            timed_out = []
            for handoff in due:
                result = session.execute(
                    update(Handoff).where(Handoff.id == handoff.id, Handoff.timeout_notified_at.is_(None)).values(timeout_notified_at=now)
                    .execution_options(synchronize_session=False)
                )
                if result.rowcount == 1:
                    session.add(HandoffMessage(handoff_id=handoff.id, sender=SYSTEM, text=NOTICE_TIMEOUT, created_at=now))
                    self._audit(session, None, "timeout", handoff, actor="system")
                    timed_out.append(handoff)
            return timed_out

        timed_out = await self._run(work)
        for handoff in timed_out:
            await self._publish_person(handoff)
        return timed_out

    async def forget(self, person_id: str) -> int:
        """Delete every handoff of a person, and with them (cascade) all their messages. Returns the count."""

        def work(session: Session) -> List[Tuple[str, Optional[str]]]:
            rows = session.execute(select(Handoff.id, Handoff.helpline_id).where(Handoff.person_id == person_id)).all()
            if rows:
                session.execute(delete(HandoffMessage).where(HandoffMessage.handoff_id.in_([r[0] for r in rows])))
                session.execute(delete(Handoff).where(Handoff.person_id == person_id))
                for handoff_id, helpline_id in rows:
                    session.add(AuditEvent(at=self.clock(), actor="person", action="forgotten", handoff_id=handoff_id, helpline_id=helpline_id))
            return [(r[0], r[1]) for r in rows]

        rows = await self._run(work)
        for handoff_id, helpline_id in rows:
            event = {"type": "forgotten", "handoff_id": handoff_id, "helpline_id": helpline_id, "status": "deleted"}
            await self.broker.publish("queue", event)
            await self.broker.publish(f"handoff:{handoff_id}", event)
        return len(rows)

    async def purge(self, retention_days: int, tracker_store: Any = None, audit_retention_days: int = 365) -> Purged:
        """Delete handoff messages older than the retention period, finished (or abandoned) handoffs
        older than it, expired staff sessions, old audit events, and old Rasa tracker events."""
        from bot.handoff.retention import purge_tracker_events

        def work(session: Session) -> Purged:
            now = self.clock()
            cutoff = now - timedelta(days=retention_days)
            messages = session.execute(delete(HandoffMessage).where(HandoffMessage.created_at < cutoff)).rowcount or 0
            old = select(Handoff.id).where(
                or_(
                    Handoff.status.in_((CLOSED, CANCELLED)) & (Handoff.closed_at < cutoff),
                    Handoff.created_at < cutoff,
                    (Handoff.status == PREPARING) & (Handoff.created_at < now - timedelta(days=1)),
                )
            )
            old_ids = list(session.execute(old).scalars())
            handoffs = 0
            if old_ids:
                session.execute(delete(HandoffMessage).where(HandoffMessage.handoff_id.in_(old_ids)))
                handoffs = session.execute(delete(Handoff).where(Handoff.id.in_(old_ids))).rowcount or 0
            sessions_ = session.execute(delete(StaffSession).where(StaffSession.expires_at < now)).rowcount or 0
            audits = session.execute(delete(AuditEvent).where(AuditEvent.at < now - timedelta(days=audit_retention_days))).rowcount or 0
            return Purged(messages, handoffs, 0, sessions_, audits)

        purged = await self._run(work)
        events = 0
        if tracker_store is not None:
            cutoff_ts = (self.clock() - timedelta(days=retention_days) - datetime(1970, 1, 1)).total_seconds()
            events = await asyncio.to_thread(purge_tracker_events, tracker_store, cutoff_ts)
        return Purged(purged.handoff_messages, purged.handoffs, events, purged.sessions, purged.audit_events)
