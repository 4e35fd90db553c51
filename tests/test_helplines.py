"""data/helplines.yml: verified numbers only, sources, and opening hours in Amsterdam time."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from zoneinfo import ZoneInfo

from bot import DATA_DIR, PROJECT_ROOT
from bot.helplines import Helplines, catalogue
from bot.texts import PLACEHOLDER, load, render

AMS = ZoneInfo("Europe/Amsterdam")
PHONE = re.compile(r"\b(?:0800|0900|088|085)[- ]?\d[\d ]{2,}\d|\b11[23]\b")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=AMS)


def test_every_entry_has_source_date_and_schema() -> None:
    raw = yaml.safe_load((DATA_DIR / "helplines.yml").read_text(encoding="utf-8"))["helplines"]
    for entry in raw:
        for key in ("id", "name", "for_whom", "verified", "source", "checked", "anonymous"):
            assert key in entry, (entry.get("id"), key)
        assert entry["source"].startswith("https://"), entry["id"]
        datetime.strptime(str(entry["checked"]), "%Y-%m-%d")
        if entry.get("fallback"):
            assert entry["fallback"] in {e["id"] for e in raw}


def test_the_three_ways_out_are_verified() -> None:
    lines = catalogue()
    assert lines["112"].shows_phone and lines["112"].phone == "112"
    assert lines["113"].shows_phone and lines["113"].phone_alt == "0800-0113"
    assert lines["veilig_thuis"].shows_phone and lines["veilig_thuis"].phone == "0800-2000"
    assert lines["veilig_thuis"].is_open(at(2026, 11, 22, 3, 0))


def test_unverified_number_is_never_shown() -> None:
    lines = catalogue()
    assert not lines["de_waag"].shows_phone
    text = lines.referral("de_waag")
    assert "0800-2000" in text  # Veilig Thuis also serves people who fear they go too far
    oudertelefoon = lines["oudertelefoon"]
    assert oudertelefoon.phone and oudertelefoon.phone not in lines.referral("oudertelefoon")


def shown_numbers(text: str) -> set:
    return {m.group(0).replace(" ", "").replace("-", "") for m in PHONE.finditer(text)}


def verified_numbers() -> set:
    numbers = set()
    for line in catalogue().lines.values():
        if line.shows_phone:
            numbers |= {n.replace(" ", "").replace("-", "") for n in (line.phone, line.phone_alt) if n}
    return numbers


def test_no_number_in_any_text_file_outside_helplines() -> None:
    """Numbers in response texts must come from placeholders, except the short emergency numbers."""
    for path in list((DATA_DIR / "responses").glob("*.yml")) + list((PROJECT_ROOT / "domain").glob("*.yml")):
        for number in shown_numbers(path.read_text(encoding="utf-8")):
            assert number in {"112", "113"}, (path.name, number)


def test_every_rendered_text_shows_only_verified_numbers() -> None:
    lines = catalogue()
    texts = [lines.emergency_list(at(2026, 11, 23, h, 0)) for h in (3, 12, 22)]
    for name in ("safety", "support", "dialogue"):
        texts += [render(m.group(0)) for m in PLACEHOLDER.finditer(str(load(name)))]
    texts += [lines.referral(i, at(2026, 11, 23, 22, 0)) for i in lines.lines]
    for text in texts:
        assert shown_numbers(text) <= verified_numbers(), text


def test_every_helpline_id_used_in_texts_exists() -> None:
    ids = set(catalogue().lines)
    for name in ("safety", "support", "dialogue"):
        for match in PLACEHOLDER.finditer(str(load(name))):
            assert match.group(2) in ids
    from bot.triage.tiers import SPEAKERS, Tier, route_for

    for tier in Tier:
        for speaker in (*SPEAKERS, None):
            route = route_for(tier, speaker)
            assert route is None or route in ids


@pytest.mark.parametrize(
    "moment, is_open",
    [
        (at(2026, 11, 23, 10, 59), False),  # Monday before 11:00
        (at(2026, 11, 23, 11, 0), True),
        (at(2026, 11, 23, 20, 59), True),
        (at(2026, 11, 23, 21, 0), False),  # closes at 21:00
        (at(2026, 11, 29, 15, 0), True),  # Sunday
        (datetime(2026, 11, 23, 20, 30, tzinfo=timezone.utc), False),  # 21:30 in Amsterdam (CET)
        (datetime(2026, 7, 1, 19, 30, tzinfo=timezone.utc), False),  # 21:30 in Amsterdam (CEST)
        (datetime(2026, 7, 1, 18, 30, tzinfo=timezone.utc), True),  # 20:30 in Amsterdam (CEST)
    ],
)
def test_kindertelefoon_hours_in_amsterdam_time(moment: datetime, is_open: bool) -> None:
    assert catalogue()["kindertelefoon"].is_open(moment) is is_open


def test_closed_line_says_so_and_offers_an_open_one() -> None:
    text = catalogue().referral("kindertelefoon", at(2026, 11, 23, 22, 30))
    assert "nu gesloten" in text and "11:00-21:00" in text
    assert "0800-2000" in text  # Veilig Thuis is open day and night, also for children


def test_windows_across_midnight_and_weekends(tmp_path: Path) -> None:
    (tmp_path / "h.yml").write_text(
        yaml.safe_dump({"helplines": [{
            "id": "night", "name": "Nachtlijn", "for_whom": "test", "phone": "0800-0000", "verified": True,
            "hours": [{"days": ["fri", "sat"], "from": "22:00", "to": "06:00"}],
            "anonymous": True, "source": "https://example.org", "checked": "2026-11-23",
        }]}),
        encoding="utf-8",
    )
    night = Helplines.load(tmp_path / "h.yml")["night"]
    assert night.is_open(at(2026, 11, 27, 23, 0))  # Friday night
    assert night.is_open(at(2026, 11, 28, 5, 59))  # early Saturday, opened on Friday
    assert night.is_open(at(2026, 11, 29, 2, 0))  # early Sunday, opened on Saturday
    assert not night.is_open(at(2026, 11, 29, 23, 0))  # Sunday night
    assert not night.is_open(at(2026, 11, 27, 6, 30))  # Friday morning: Thursday was closed
    # DST: the night of 28-29 March 2026 has no 02:00-03:00; 01:30 and 03:30 are still in the window
    assert night.is_open(at(2026, 3, 28, 1, 30)) and night.is_open(at(2026, 3, 29, 3, 30))
