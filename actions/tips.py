"""The tips flow: topic -> optionally the child's age -> one tip at a time, never the same tip twice."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, latest_intent, utter
from bot import texts
from bot.tips import AGE_GROUPS, Catalogue, age_group_for, catalogue

TIP_BUTTONS = [button("Nog een tip", "/more_tip"), button("Iets anders", "/something_else")]


def topic_from_intent(intent: str) -> Optional[str]:
    """'tip_sleep' -> 'sleep'."""
    return intent[len("tip_"):] if intent.startswith("tip_") else None


def send_tip(dispatcher: CollectingDispatcher, tracker: Tracker, topic: str, age_group: Optional[str], tips: Catalogue) -> List[EventType]:
    """Send the next unseen tip on `topic`, or say that there are no more."""
    seen = tracker.get_slot("shown_tips") or []
    tip = tips.pick(topic, age_group, seen)
    if tip is None:
        utter(dispatcher, "no_more_tips")
        return [SlotSet("tip_topic", topic)]
    footer = texts.load("support")["tip_footer"].format(organisation=tip.organisation, url=tip.url)
    dispatcher.utter_message(text=f"💡 {tip.text}\n\n{footer}", buttons=TIP_BUTTONS)
    return [SlotSet("tip_topic", topic), SlotSet("shown_tips", [*seen, tip.id])]


class ActionGiveTip(Action):
    """Give one tip that fits the topic and age group; ask for what is missing first."""

    def name(self) -> Text:
        return "action_give_tip"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        tips = catalogue()
        intent = latest_intent(tracker)
        topic = topic_from_intent(intent) or tracker.get_slot("tip_topic")
        if topic not in tips.topics:
            utter(dispatcher, "ask_topic")
            return [SlotSet("tip_topic", None)]
        age_group = tracker.get_slot("age_group") or age_group_for(tracker.get_slot("age"))
        events: List[EventType] = []
        if age_group not in AGE_GROUPS and age_group != "any":
            offered = tips.topics[topic].age_groups
            if len(offered) == 1:
                age_group = offered[0]
            elif not tracker.get_slot("asked_age"):
                utter(dispatcher, "ask_age")
                return [SlotSet("tip_topic", topic), SlotSet("asked_age", True)]
        if age_group in AGE_GROUPS:
            events.append(SlotSet("age_group", age_group))
        return events + send_tip(dispatcher, tracker, topic, age_group, tips)
