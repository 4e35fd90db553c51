"""User-facing texts from data/responses/*.yml, with helpline placeholders filled from data/helplines.yml."""
from __future__ import annotations

import random
import re
from datetime import datetime
from functools import lru_cache
from typing import Any, Dict, Optional

import yaml

from bot import DATA_DIR
from bot.helplines import Helplines, catalogue as helplines_catalogue

PLACEHOLDER = re.compile(r"\{(contact|referral):([a-z0-9_]+)\}")


@lru_cache(maxsize=None)
def load(name: str) -> Dict[str, Any]:
    return yaml.safe_load((DATA_DIR / "responses" / f"{name}.yml").read_text(encoding="utf-8"))


def render(template: str, moment: Optional[datetime] = None, helplines: Optional[Helplines] = None) -> str:
    """Fill {contact:ID} and {referral:ID}; unknown ids raise, so a typo never reaches a user."""
    lines = helplines or helplines_catalogue()

    def fill(match: "re.Match[str]") -> str:
        kind, helpline_id = match.groups()
        if kind == "contact":
            return lines.reachable(helpline_id, moment).contact_text()
        return lines.referral(helpline_id, moment)

    return PLACEHOLDER.sub(fill, template)


def pick(variants: Any, rng: Optional[random.Random] = None) -> str:
    """One variant of a text (a list of variants, or a single string)."""
    if isinstance(variants, str):
        return variants
    return (rng or random).choice(list(variants))


def text(name: str, *path: str, moment: Optional[datetime] = None, rng: Optional[random.Random] = None) -> str:
    """texts.text('safety', 'violence', 'victim') -> a rendered variant."""
    node: Any = load(name)
    for key in path:
        node = node[key]
    return render(pick(node, rng), moment)
