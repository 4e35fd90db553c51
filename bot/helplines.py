"""Helplines from data/helplines.yml: who they are for, whether they are open now, how to reach them.

This module is the only way a phone number reaches a user: it shows a number only when the entry is
`verified: true`, and otherwise the website or a verified fallback line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml
from zoneinfo import ZoneInfo

from bot import DATA_DIR

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES_NL = {"mon": "ma", "tue": "di", "wed": "wo", "thu": "do", "fri": "vr", "sat": "za", "sun": "zo"}
EMERGENCY_IDS = ("112", "113", "veilig_thuis")


@dataclass(frozen=True)
class Window:
    """An opening window on some weekdays; `end` before `start` runs past midnight."""

    days: Sequence[str]
    start: time
    end: time

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(AMSTERDAM)
        today = DAYS[local.weekday()]
        yesterday = DAYS[(local.weekday() - 1) % 7]
        now = local.time()
        if self.start <= self.end:
            return today in self.days and self.start <= now < self.end
        # across midnight: the evening part today, or the early part that started yesterday
        return (today in self.days and now >= self.start) or (yesterday in self.days and now < self.end)

    def describe(self) -> str:
        days = list(self.days)
        if days == list(DAYS):
            label = "elke dag"
        elif days == list(DAYS[:5]):
            label = "ma t/m vr"
        else:
            label = ", ".join(DAY_NAMES_NL[d] for d in days)
        return f"{label} {self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class Helpline:
    id: str
    name: str
    for_whom: str
    phone: Optional[str]
    verified: bool
    web: Optional[str]
    chat: Optional[str]
    always_open: bool
    windows: Sequence[Window]
    anonymous: bool
    cost: Optional[str]
    source: str
    checked: str
    phone_alt: Optional[str] = None
    fallback: Optional[str] = None
    chat_windows: Sequence[Window] = field(default_factory=tuple)

    @property
    def shows_phone(self) -> bool:
        return bool(self.phone) and self.verified

    def hours_known(self) -> bool:
        return self.always_open or bool(self.windows)

    def is_open(self, moment: Optional[datetime] = None) -> Optional[bool]:
        """True/False, or None when the hours are not known."""
        if self.always_open:
            return True
        if not self.windows:
            return None
        moment = moment or datetime.now(AMSTERDAM)
        return any(w.contains(moment) for w in self.windows)

    def hours_text(self) -> str:
        if self.always_open:
            return "dag en nacht"
        return ", ".join(w.describe() for w in self.windows) or "openingstijden: zie de website"

    def contact_text(self) -> str:
        """'bel 0800-2000 (gratis, anoniem, dag en nacht) of chat via ...' — only verified numbers."""
        details = [d for d in (self.cost if self.cost == "gratis" else None, "anoniem" if self.anonymous else None) if d]
        if self.hours_known():
            details.append(self.hours_text())
        suffix = f" ({', '.join(details)})" if details else ""
        parts: List[str] = []
        if self.shows_phone:
            phone = f"bel {self.phone}" + (f" of {self.phone_alt}" if self.phone_alt else "")
            parts.append(phone + suffix)
            suffix = ""
        if self.chat:
            chat = f"chat via {self.chat.replace('https://', '')}"
            if self.chat_windows:
                chat += f" ({', '.join(w.describe() for w in self.chat_windows)})"
            parts.append(chat + suffix)
        elif self.web and not self.shows_phone:
            parts.append(f"kijk op {self.web.replace('https://', '')}")
        return " of ".join(parts)


def _windows(raw: object) -> List[Window]:
    if not raw or raw == "24/7":
        return []
    return [
        Window(tuple(w["days"]), time.fromisoformat(w["from"]), time.fromisoformat(w["to"]))
        for w in raw  # type: ignore[union-attr]
    ]


def parse(entry: dict) -> Helpline:
    return Helpline(
        id=str(entry["id"]),
        name=entry["name"],
        for_whom=entry["for_whom"],
        phone=entry.get("phone"),
        verified=bool(entry.get("verified")),
        web=entry.get("web"),
        chat=entry.get("chat"),
        always_open=entry.get("hours") == "24/7",
        windows=_windows(entry.get("hours")),
        anonymous=bool(entry.get("anonymous")),
        cost=entry.get("cost"),
        source=entry["source"],
        checked=str(entry["checked"]),
        phone_alt=entry.get("phone_alt"),
        fallback=entry.get("fallback"),
        chat_windows=_windows(entry.get("chat_hours")),
    )


class Helplines:
    """The catalogue, keyed by id."""

    def __init__(self, lines: Dict[str, Helpline]) -> None:
        self.lines = lines

    @classmethod
    def load(cls, path: Path = DATA_DIR / "helplines.yml") -> "Helplines":
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls({str(e["id"]): parse(e) for e in raw["helplines"]})

    def __getitem__(self, helpline_id: str) -> Helpline:
        return self.lines[helpline_id]

    def reachable(self, helpline_id: str, moment: Optional[datetime] = None) -> Helpline:
        """The line itself if it can be shown and is open, else its verified fallback (or Veilig Thuis)."""
        line = self.lines[helpline_id]
        if line.shows_phone and line.is_open(moment) is not False:
            return line
        if line.chat and line.is_open(moment):
            return line
        fallback = line.fallback or "veilig_thuis"
        return self.lines[fallback]

    def referral(self, helpline_id: str, moment: Optional[datetime] = None) -> str:
        """One or two Dutch lines: the fitting helpline, honest about hours, with a way that works now."""
        line = self.lines[helpline_id]
        reachable = self.reachable(helpline_id, moment)
        if reachable.id == line.id:
            return f"{line.name}: {line.contact_text()}."
        if line.is_open(moment) is False:
            text = f"{line.name} is nu gesloten ({line.hours_text()})."
            if line.chat:
                text += f" Later kun je chatten via {line.chat.replace('https://', '')}."
        else:
            text = f"{line.name} ({line.for_whom.rstrip('.').lower()})"
            text += f": {line.web.replace('https://', '')}." if line.web else "."
        return f"{text}\nNu bereikbaar: {reachable.name}, {reachable.contact_text()}."

    def emergency_list(self, moment: Optional[datetime] = None) -> str:
        """Every emergency number at once (for /hulp and 'noodnummers')."""
        rows = [
            f"🚨 Direct gevaar: {self.lines['112'].contact_text()}",
            f"💬 Denk je aan zelfmoord? 113 Zelfmoordpreventie: {self.lines['113'].contact_text()}",
            f"🏠 Geweld of onveiligheid thuis (ook als je bang bent dat jij te ver gaat): Veilig Thuis, {self.lines['veilig_thuis'].contact_text()}",
            f"👂 Even praten: {self.lines['luisterlijn'].name}, {self.lines['luisterlijn'].contact_text()}",
            f"🧒 Voor kinderen: {self.referral('kindertelefoon', moment)}",
        ]
        return "\n".join(rows)


@lru_cache(maxsize=1)
def catalogue() -> Helplines:
    """The shared, cached catalogue."""
    return Helplines.load()
