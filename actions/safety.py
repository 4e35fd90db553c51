"""Answers to danger signals, per risk tier. Numbers come only from data/helplines.yml."""
from __future__ import annotations

import random
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import SUPPORT_BUTTONS, button, latest_risk
from bot import texts
from bot.helplines import catalogue as helplines
from bot.triage.tiers import CHILD, PERPETRATOR, VICTIM, Tier


def footer() -> str:
    return texts.render(texts.load("safety")["footer"])


class ActionSafetyResponse(Action):
    """Interrupt whatever is going on and answer a danger signal with the right way out."""

    def name(self) -> Text:
        return "action_safety_response"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        tier, route, speaker = latest_risk(tracker)
        if tier == Tier.acute:
            dispatcher.utter_message(text=texts.text("safety", "acute", "first"))
            dispatcher.utter_message(text=texts.text("safety", "acute", "then"))
        elif tier == Tier.self_harm:
            dispatcher.utter_message(text=texts.text("safety", "self_harm", "first"))
            dispatcher.utter_message(text=texts.text("safety", "self_harm", "then"), buttons=SUPPORT_BUTTONS)
        elif tier == Tier.violence:
            who = speaker if speaker in (PERPETRATOR, VICTIM, CHILD) else "bystander"
            dispatcher.utter_message(text=texts.text("safety", "violence", who))
            then = texts.text("safety", "violence", "then")
            dispatcher.utter_message(text=f"{then}\n{footer()}", buttons=SUPPORT_BUTTONS)
        elif tier == Tier.tension:
            step = random.choice(texts.load("safety")["tension"]["steps"])
            dispatcher.utter_message(text=f"{texts.text('safety', 'tension', 'first')}\n👉 {step}")
            offer = texts.text("safety", "tension", "then")
            dispatcher.utter_message(
                text=offer,
                buttons=[button("Meer tips voor nu", '/ask_tip{"topic":"de_escalation"}'), *SUPPORT_BUTTONS],
            )
        else:
            dispatcher.utter_message(text=texts.text("safety", "stress", "first"))
        return [
            SlotSet("risk", tier.name),
            SlotSet("route", route),
            SlotSet("tip_topic", "de_escalation" if tier == Tier.tension else None),
        ]


class ActionListHelplines(Action):
    """Every emergency number at once (/hulp, 'noodnummers')."""

    def name(self) -> Text:
        return "action_list_helplines"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text="Hier kun je altijd terecht:\n" + helplines().emergency_list())
        return []
