"""Greeting, privacy, the parent's own stress, a person to talk to, and the Dutch fallback question."""
from __future__ import annotations

from typing import Any, Dict, List, Text

import yaml
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, latest_intent
from actions.tips import send_tip
from bot import DATA_DIR, texts
from bot.helplines import catalogue as helplines
from bot.tips import catalogue as tips

START_BUTTONS = [
    button("Een tip", "/ask_tip"),
    button("Even op een rij zetten", "/want_reflection"),
    button("Met iemand praten", "/ask_human"),
]


class ActionGreet(Action):
    """Say that this is a bot, what it can do, how data is handled, and where to go in danger."""

    def name(self) -> Text:
        return "action_greet"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=texts.text("safety", "greeting"), buttons=START_BUTTONS)
        return []


class ActionPrivacyInfo(Action):
    """What is stored, for how long, and who sees it."""

    def name(self) -> Text:
        return "action_privacy_info"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        dispatcher.utter_message(text=texts.text("support", "privacy"))
        return []


class ActionStressSupport(Action):
    """Acknowledge the parent's own state and give one tip for themselves."""

    def name(self) -> Text:
        return "action_stress_support"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        intent = latest_intent(tracker)
        support = texts.load("support")
        dispatcher.utter_message(text=texts.pick(support.get(intent) or support["feeling_overwhelmed"]))
        events = send_tip(dispatcher, tracker, "self_care", None, tips())
        dispatcher.utter_message(
            text=support["stress_offer"],
            buttons=[button("Met iemand praten", "/ask_human"), button("Iets anders", "/something_else")],
        )
        return [SlotSet("risk", "stress"), *events]


class ActionOfferHuman(Action):
    """Point to a person: the line that fits the latest risk and is open now, and offer a warm handoff."""

    def name(self) -> Text:
        return "action_offer_human"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        risk = tracker.get_slot("risk") or "none"
        route = tracker.get_slot("route") or {"violence": "veilig_thuis", "self_harm": "113", "acute": "112"}.get(risk, "luisterlijn")
        lines = helplines()
        rows = [lines.referral(route)]
        if route == "luisterlijn":
            rows.append(lines.referral("mind_korrelatie"))
        intro = texts.load("support")["human"]["intro"]
        dispatcher.utter_message(text=intro + "\n" + "\n".join(rows))
        # the gateway turns this into a warm handoff to helpline staff (consent first)
        dispatcher.utter_message(json_message={"handoff_offer": {"route": route, "risk": risk}})
        return []


class ActionDefaultAskAffirmation(Action):
    """Dutch version of Rasa's 'Did you mean ...?' in the two-stage fallback."""

    def name(self) -> Text:
        return "action_default_ask_affirmation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        labels = yaml.safe_load((DATA_DIR / "responses" / "intent_labels.yml").read_text(encoding="utf-8"))
        ranking = [r for r in tracker.latest_message.get("intent_ranking", []) if r.get("name") != "nlu_fallback"]
        intent = ranking[0]["name"] if ranking else "out_of_scope"
        label = labels.get(intent.split("/")[0])
        if not label:
            dispatcher.utter_message(response="utter_ask_rephrase")
            return []
        dispatcher.utter_message(
            text=f"Bedoel je {label}?",
            buttons=[button("Ja", f"/{intent.split('/')[0]}"), button("Nee", "/out_of_scope")],
        )
        return []


class ActionThreeHousesSummary(Action):
    """Summarise the three houses back to the parent, then clear them."""

    def name(self) -> Text:
        return "action_three_houses_summary"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        houses = texts.load("support")["three_houses"]
        values = {k: (tracker.get_slot(f"house_{k}") or "-").strip()[:400] for k in ("good", "worries", "wishes")}
        dispatcher.utter_message(text=houses["summary"].format(**values))
        dispatcher.utter_message(
            text=houses["offer"],
            buttons=[button("Een tip", "/ask_tip"), button("Met iemand praten", "/ask_human")],
        )
        return [SlotSet("house_good", None), SlotSet("house_worries", None), SlotSet("house_wishes", None)]
