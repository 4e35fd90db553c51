"""Form questions and Rasa's fallback steps, in Dutch, with texts from data/responses/dialogue.yml."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.common import utter


class _Say(Action):
    """An action that sends one text of dialogue.yml."""

    text_name = ""

    def name(self) -> Text:
        return f"action_{self.text_name}"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        utter(dispatcher, self.text_name)
        return []


class ActionAskTopic(_Say):
    """Which topic? One button per tip topic."""

    text_name = "ask_topic"


class ActionAskHouseGood(_Say):
    """Three houses, first question: what goes well."""

    text_name = "ask_house_good"


class ActionAskHouseWorries(_Say):
    """Three houses, second question: worries."""

    text_name = "ask_house_worries"


class ActionAskHouseWishes(_Say):
    """Three houses, third question: wishes."""

    text_name = "ask_house_wishes"


class ActionDefaultAskRephrase(_Say):
    """Second stage of the fallback: ask to say it differently."""

    text_name = "ask_rephrase"

    def name(self) -> Text:
        return "action_default_ask_rephrase"


class ActionDefaultFallback(Action):
    """Last stage of the fallback: say what the bot can do, and forget the message that was not understood."""

    def name(self) -> Text:
        return "action_default_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        utter(dispatcher, "default")
        return [UserUtteranceReverted()]
