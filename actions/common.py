"""Helpers shared by the actions: reading the parsed message and making buttons."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from bot.triage.tiers import INTENT_RISK, Tier, route_for


def button(title: str, payload: str) -> Dict[str, str]:
    return {"title": title, "payload": payload}


def latest_intent(tracker: Tracker) -> str:
    return (tracker.latest_message.get("intent") or {}).get("name") or ""


def latest_risk(tracker: Tracker) -> Tuple[Tier, Optional[str], Optional[str]]:
    """(tier, route, speaker) of the latest message; from the triage, or from the intent of a button."""
    message: Dict[str, Any] = tracker.latest_message or {}
    if message.get("risk"):
        return Tier.parse(message["risk"]), message.get("route"), message.get("speaker")
    tier, speaker = INTENT_RISK.get(latest_intent(tracker), (Tier.none, None))
    return tier, route_for(tier, speaker), speaker


SUPPORT_BUTTONS: List[Dict[str, str]] = [
    button("Met iemand praten", "/ask_human"),
    button("Alle noodnummers", "/ask_helplines"),
]


def utter(dispatcher: CollectingDispatcher, name: str) -> None:
    """Send one variant of a text from data/responses/dialogue.yml (text and buttons)."""
    from bot import texts

    variant = texts.pick(texts.load("dialogue")[name])
    dispatcher.utter_message(text=texts.render(variant["text"]), buttons=variant.get("buttons") or [])
