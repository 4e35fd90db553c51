"""Tables of the warm handoff: a helplines mirror, staff, sessions, handoffs, their messages, audit events.

A person appears only as a pseudonymous id (bot.privacy.pseudonym). Deleting a handoff deletes its
messages (ON DELETE CASCADE in the database and in the ORM). Audit events never hold message text or a
person id, so they can outlive a forgotten person.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional
from uuid import uuid4

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import relationship

from bot.db import Base
from bot.triage.tiers import Tier

# Handoff states: preparing (the person still answers the pre-handoff questions) -> waiting (in the queue)
# -> active (claimed by a staff member) -> closed; or cancelled by the person at any point before closed.
PREPARING, WAITING, ACTIVE, CLOSED, CANCELLED = "preparing", "waiting", "active", "closed", "cancelled"
OPEN_STATES = (PREPARING, WAITING, ACTIVE)

# Consent about what the staff member may see.
CONSENT_SUMMARY, CONSENT_TRANSCRIPT, CONSENT_NONE = "summary", "transcript", "none"
CONSENTS = (CONSENT_SUMMARY, CONSENT_TRANSCRIPT, CONSENT_NONE)

# Who wrote a handoff message. transcript_* rows are the conversation with the bot before the handoff,
# copied only when the person consented to share it.
PERSON, STAFF, SYSTEM, TRANSCRIPT_PERSON, TRANSCRIPT_BOT = "person", "staff", "system", "transcript_person", "transcript_bot"

ROLE_STAFF, ROLE_ADMIN = "staff", "admin"

OUTCOMES = {
    "listened": "Geluisterd / stoom afgeblazen",
    "advice": "Advies gegeven",
    "referred": "Doorverwezen naar andere hulp",
    "safety_plan": "Veiligheidsafspraken gemaakt",
    "emergency": "Acute hulp ingeschakeld (112 / crisisdienst)",
    "no_contact": "Geen contact (persoon reageerde niet)",
    "other": "Anders",
}


def utcnow() -> datetime:
    """Naive UTC (the same on SQLite and PostgreSQL)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def new_id() -> str:
    return uuid4().hex


def risk_rank(risk: Optional[str]) -> int:
    try:
        return int(Tier.parse(risk or "none"))
    except KeyError:
        return 0


class HelplineRow(Base):
    """A mirror of data/helplines.yml (synced at start), so staff accounts and handoffs can refer to it."""

    __tablename__ = "helplines"

    id = Column(String(40), primary_key=True)
    name = Column(String(200), nullable=False)
    accepts_handoffs = Column(Boolean, nullable=False, default=True)
    active = Column(Boolean, nullable=False, default=True)
    synced_at = Column(DateTime, nullable=False, default=utcnow)


class Staff(Base):
    __tablename__ = "staff"

    id = Column(Integer, primary_key=True)
    email = Column(String(254), nullable=False, unique=True)
    display_name = Column(String(100), nullable=False, default="")
    password_hash = Column(String(255), nullable=False)
    helpline_id = Column(String(40), ForeignKey("helplines.id", ondelete="RESTRICT"), nullable=True)
    role = Column(String(10), nullable=False, default=ROLE_STAFF)
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    last_login_at = Column(DateTime, nullable=True)

    helpline = relationship(HelplineRow, lazy="joined")
    sessions = relationship("StaffSession", cascade="all, delete-orphan", passive_deletes=True, back_populates="staff")

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    def may_see(self, helpline_id: Optional[str]) -> bool:
        return self.is_admin or (self.helpline_id is not None and self.helpline_id == helpline_id)

    def __repr__(self) -> str:  # no hash, no e-mail in logs
        return f"Staff(id={self.id}, role={self.role!r}, helpline={self.helpline_id!r})"


class StaffSession(Base):
    """A login session; the cookie carries a signed random id, the table only its SHA-256."""

    __tablename__ = "staff_sessions"

    id_hash = Column(String(64), primary_key=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token = Column(String(64), nullable=False)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    expires_at = Column(DateTime, nullable=False)

    staff = relationship(Staff, back_populates="sessions", lazy="joined")


class Handoff(Base):
    __tablename__ = "handoffs"

    id = Column(String(32), primary_key=True, default=new_id)
    person_id = Column(String(64), nullable=False, index=True)  # pseudonym, never a name or a Telegram id
    channel = Column(String(20), nullable=False)  # telegram | web
    route = Column(String(40), nullable=True)  # what triage / the dialogue proposed
    helpline_id = Column(String(40), ForeignKey("helplines.id", ondelete="RESTRICT"), nullable=True)
    status = Column(String(12), nullable=False, default=PREPARING)
    risk = Column(String(12), nullable=False, default="none")
    risk_rank = Column(Integer, nullable=False, default=0)
    priority = Column(Integer, nullable=False, default=0)  # 1 = moved to the top (acute message while waiting)
    consent = Column(String(12), nullable=False, default=CONSENT_SUMMARY)
    anonymous = Column(Boolean, nullable=False, default=True)
    summary = Column(JSON, nullable=True)  # only with consent: risk, topics, age group, what the bot advised
    created_at = Column(DateTime, nullable=False, default=utcnow)
    queued_at = Column(DateTime, nullable=True)
    claimed_at = Column(DateTime, nullable=True)
    closed_at = Column(DateTime, nullable=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    timeout_notified_at = Column(DateTime, nullable=True)
    keep_waiting = Column(Boolean, nullable=False, default=False)
    outcome = Column(String(30), nullable=True)
    notes = Column(Text, nullable=True)
    rating = Column(Integer, nullable=True)
    resumed_at = Column(DateTime, nullable=True)  # the bot told the person and resumed the conversation
    # Where the channel delivers staff messages (a Telegram chat id, a web chat id), encrypted with a key
    # derived from ADEMPAUZE_SECRET; kept only while the handoff is open, wiped when it ends.
    address = Column(Text, nullable=True)

    staff = relationship(Staff, lazy="joined")
    helpline = relationship(HelplineRow, lazy="joined")
    messages = relationship(
        "HandoffMessage",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="HandoffMessage.id",
        back_populates="handoff",
    )

    __table_args__ = (Index("ix_handoffs_queue", "status", "helpline_id", "priority", "risk_rank", "queued_at"),)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    def __repr__(self) -> str:
        return f"Handoff(id={self.id!r}, status={self.status!r}, helpline={self.helpline_id!r}, risk={self.risk!r})"


class HandoffMessage(Base):
    __tablename__ = "handoff_messages"

    id = Column(Integer, primary_key=True)
    handoff_id = Column(String(32), ForeignKey("handoffs.id", ondelete="CASCADE"), nullable=False, index=True)
    sender = Column(String(20), nullable=False)  # person | staff | system | transcript_person | transcript_bot
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    text = Column(Text, nullable=False)
    risk = Column(String(12), nullable=True)  # triage tier of a person's message
    created_at = Column(DateTime, nullable=False, default=utcnow, index=True)
    delivered_at = Column(DateTime, nullable=True)  # staff -> person: when the channel confirmed sending

    handoff = relationship(Handoff, back_populates="messages")

    def __repr__(self) -> str:  # never the text
        return f"HandoffMessage(id={self.id}, handoff={self.handoff_id!r}, sender={self.sender!r})"


class AuditEvent(Base):
    """Who did what to which handoff, and when. No message text, no notes, no person id."""

    __tablename__ = "audit_events"

    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=utcnow, index=True)
    staff_id = Column(Integer, ForeignKey("staff.id", ondelete="SET NULL"), nullable=True)
    actor = Column(String(254), nullable=False)  # staff e-mail, or 'person' / 'system'
    action = Column(String(30), nullable=False)  # login, logout, view, claim, transfer, close, message, ...
    handoff_id = Column(String(32), nullable=True, index=True)  # no foreign key: survives /vergeet
    helpline_id = Column(String(40), nullable=True)
    details = Column(JSON, nullable=True)  # e.g. {"to": "veilig_thuis"}, {"outcome": "advice"}
