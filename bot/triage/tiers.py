"""Risk tiers, speakers and the routes that follow from them."""
from __future__ import annotations

from enum import IntEnum
from typing import Dict, Optional, Tuple


class Tier(IntEnum):
    """Risk tiers, ordered low to high: when several apply, the highest wins."""

    none = 0
    stress = 1
    tension = 2
    violence = 3
    self_harm = 4
    acute = 5

    @classmethod
    def parse(cls, name: str) -> "Tier":
        return cls[name]


# Speakers of a violence signal.
PERPETRATOR = "perpetrator"
VICTIM = "victim"
CHILD = "child"
BYSTANDER = "bystander"
SPEAKERS = (PERPETRATOR, VICTIM, CHILD, BYSTANDER)

# What each NLU intent says about risk: (tier, speaker).
INTENT_RISK: Dict[str, Tuple[Tier, Optional[str]]] = {
    "feeling_overwhelmed": (Tier.stress, None),
    "feeling_lonely": (Tier.stress, None),
    "feeling_failure": (Tier.stress, None),
    "money_work_worries": (Tier.stress, None),
    "partner_conflict": (Tier.stress, None),
    "waiting_for_help": (Tier.stress, None),
    "escalation_tension": (Tier.tension, None),
    "violence_perpetrator": (Tier.violence, PERPETRATOR),
    "violence_victim": (Tier.violence, VICTIM),
    "violence_child": (Tier.violence, CHILD),
    "violence_bystander": (Tier.violence, BYSTANDER),
    "self_harm": (Tier.self_harm, None),
    "acute": (Tier.acute, None),
}

ESCALATION_INTENTS = tuple(i for i, (t, _) in INTENT_RISK.items() if t >= Tier.tension)


def route_for(tier: Tier, speaker: Optional[str]) -> Optional[str]:
    """The helpline id (data/helplines.yml) that fits a tier and speaker."""
    if tier == Tier.acute:
        return "112"
    if tier == Tier.self_harm:
        return "113"
    if tier == Tier.violence:
        return {
            PERPETRATOR: "de_waag",
            CHILD: "kindertelefoon",
        }.get(speaker or "", "veilig_thuis")
    if tier in (Tier.tension, Tier.stress):
        return "kindertelefoon" if speaker == CHILD else "luisterlijn"
    return None
