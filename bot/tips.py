"""The tips catalogue (data/tips/*.yml): one tip at a time, fitting the age group, never twice."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import yaml

from bot import DATA_DIR

AGE_GROUPS = ("0-4", "4-12", "12-18")


@dataclass(frozen=True)
class Tip:
    id: str
    topic: str
    age_groups: Sequence[str]
    text: str
    organisation: str
    url: str


@dataclass(frozen=True)
class Topic:
    id: str
    title: str
    age_groups: Sequence[str]
    tips: Sequence[Tip]


class Catalogue:
    """All topics and tips."""

    def __init__(self, topics: Dict[str, Topic]) -> None:
        self.topics = topics

    @classmethod
    def load(cls, directory: Path = DATA_DIR / "tips") -> "Catalogue":
        topics = {}
        for path in sorted(directory.glob("*.yml")):
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
            tips = [
                Tip(
                    id=t["id"],
                    topic=raw["topic"],
                    age_groups=tuple(t["age_groups"]),
                    text=" ".join(str(t["text"]).split()),
                    organisation=t["source"]["organisation"],
                    url=t["source"]["url"],
                )
                for t in raw["tips"]
            ]
            topics[raw["topic"]] = Topic(raw["topic"], raw["title"], tuple(raw["age_groups"]), tuple(tips))
        return cls(topics)

    def all_tips(self) -> List[Tip]:
        return [tip for topic in self.topics.values() for tip in topic.tips]

    def pick(self, topic: str, age_group: Optional[str], seen: Iterable[str]) -> Optional[Tip]:
        """The first tip on `topic` for `age_group` (any age when unknown) that was not shown yet."""
        seen_ids = set(seen)
        for tip in self.topics[topic].tips:
            if tip.id in seen_ids:
                continue
            if age_group in AGE_GROUPS and age_group not in tip.age_groups:
                continue
            return tip
        return None


def age_group_for(age: Optional[str]) -> Optional[str]:
    """'7' or 'zeven' -> '4-12'."""
    if not age:
        return None
    words = {
        "een": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8, "negen": 9,
        "tien": 10, "elf": 11, "twaalf": 12, "dertien": 13, "veertien": 14, "vijftien": 15, "zestien": 16,
        "zeventien": 17, "achttien": 18,
    }
    text = str(age).strip().lower()
    digits = "".join(c for c in text if c.isdigit())
    years = int(digits) if digits else words.get(text)
    if years is None:
        return None
    if years < 4:
        return "0-4"
    return "4-12" if years < 12 else "12-18"


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    return Catalogue.load()
