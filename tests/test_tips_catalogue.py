"""Schema of data/tips/*.yml: ids, sources, lengths, age groups per topic."""
from __future__ import annotations

from collections import Counter

import yaml

from bot import DATA_DIR
from bot.tips import AGE_GROUPS, Catalogue, age_group_for

REQUIRED_TOPICS = {
    "homeschooling", "day_structure", "screen_time", "sleep", "tantrums", "siblings", "teenagers",
    "indoor_play", "corona_worries", "special_needs", "back_to_school", "self_care", "de_escalation",
}


def raw_files():
    return [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted((DATA_DIR / "tips").glob("*.yml"))]


def test_every_topic_has_a_file_with_title_and_age_groups() -> None:
    files = raw_files()
    assert {f["topic"] for f in files} == REQUIRED_TOPICS
    for f in files:
        assert f["title"] and len(f["title"]) <= 30
        assert set(f["age_groups"]) <= set(AGE_GROUPS) and f["age_groups"]


def test_at_least_80_tips_with_unique_ids() -> None:
    ids = [t.id for t in Catalogue.load().all_tips()]
    assert len(ids) >= 80
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates


def test_every_tip_has_text_and_a_source() -> None:
    for f in raw_files():
        for tip in f["tips"]:
            assert tip["id"].startswith(f["topic"] + "-"), tip["id"]
            text = " ".join(str(tip["text"]).split())
            assert 50 <= len(text) <= 600, tip["id"]
            assert not any(ch.isdigit() for ch in text.replace("112", "")), f"numbers belong in helplines.yml: {tip['id']}"
            assert tip["source"]["organisation"].strip(), tip["id"]
            assert tip["source"]["url"].startswith("https://"), tip["id"]
            assert set(tip["age_groups"]) <= set(f["age_groups"]), tip["id"]


def test_every_topic_has_tips_for_every_age_group_it_offers() -> None:
    for topic in Catalogue.load().topics.values():
        for group in topic.age_groups:
            assert sum(group in t.age_groups for t in topic.tips) >= 2, (topic.id, group)


def test_pick_respects_age_group_and_never_repeats() -> None:
    catalogue = Catalogue.load()
    seen: list = []
    while (tip := catalogue.pick("sleep", "0-4", seen)) is not None:
        assert "0-4" in tip.age_groups
        assert tip.id not in seen
        seen.append(tip.id)
    assert len(seen) == sum("0-4" in t.age_groups for t in catalogue.topics["sleep"].tips)


def test_age_words_map_to_groups() -> None:
    assert age_group_for("3") == "0-4"
    assert age_group_for("zeven") == "4-12"
    assert age_group_for("14 jaar") == "12-18"
    assert age_group_for("oud") is None
