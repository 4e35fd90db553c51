"""Custom actions with tracker fixtures: exact events and messages."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet, UserUtteranceReverted
from rasa_sdk.executor import CollectingDispatcher

from actions.conversation import ActionDefaultAskAffirmation, ActionGreet, ActionOfferHuman, ActionStressSupport, ActionThreeHousesSummary
from actions.dialogue import ActionDefaultFallback
from actions.safety import ActionListHelplines, ActionSafetyResponse
from actions.tips import ActionGiveTip
from bot.tips import catalogue


def tracker(intent: str = "", slots: Optional[Dict[str, Any]] = None, **message: Any) -> Tracker:
    latest = {"intent": {"name": intent, "confidence": 1.0}, "entities": [], "text": "…", **message}
    return Tracker("test-user", slots or {}, latest, [], False, None, {}, "action_listen")


def run(action, t: Tracker) -> tuple:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def texts(messages: List[dict]) -> str:
    return "\n".join(m.get("text") or "" for m in messages)


def test_greeting_discloses_bot_no_diagnosis_data_and_emergency_numbers() -> None:
    messages, events = run(ActionGreet(), tracker("greet"))
    text = texts(messages)
    assert events == []
    assert "chatbot, geen mens" in text and "geen diagnose" in text and "/privacy" in text
    assert "112" in text and "0800-2000" in text
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/ask_tip", "/want_reflection", "/ask_human"]


def test_tip_asks_age_once_then_gives_fitting_tip() -> None:
    messages, events = run(ActionGiveTip(), tracker("tip_sleep"))
    assert "Hoe oud" in messages[0]["text"]
    assert events == [SlotSet("tip_topic", "sleep"), SlotSet("asked_age", True)]
    messages, events = run(ActionGiveTip(), tracker("inform_age", {"tip_topic": "sleep", "asked_age": True, "age_group": "0-4"}))
    first = catalogue().pick("sleep", "0-4", [])
    assert messages[0]["text"].startswith(f"💡 {first.text}")
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/more_tip", "/something_else"]
    assert events == [SlotSet("age_group", "0-4"), SlotSet("tip_topic", "sleep"), SlotSet("shown_tips", [first.id])]


def test_more_tip_never_repeats_and_ends_kindly() -> None:
    seen: List[str] = []
    slots = {"tip_topic": "teenagers", "shown_tips": seen}
    for _ in range(len(catalogue().topics["teenagers"].tips)):
        messages, events = run(ActionGiveTip(), tracker("more_tip", dict(slots)))
        shown = [e["value"] for e in events if e["name"] == "shown_tips"][0]
        assert len(shown) == len(set(shown)) == len(slots["shown_tips"]) + 1
        slots["shown_tips"] = shown
    messages, events = run(ActionGiveTip(), tracker("more_tip", dict(slots)))
    assert "alle tips" in messages[0]["text"]


def test_age_from_number_entity() -> None:
    messages, events = run(ActionGiveTip(), tracker("tip_tantrums", {"age": "3"}))
    assert SlotSet("age_group", "0-4") in events
    tip_id = [e["value"] for e in events if e["name"] == "shown_tips"][0][0]
    assert "0-4" in next(t for t in catalogue().all_tips() if t.id == tip_id).age_groups


def test_ask_tip_without_topic_shows_topics() -> None:
    messages, events = run(ActionGiveTip(), tracker("ask_tip"))
    assert messages[0]["text"] == "Waar wil je een tip over?" and len(messages[0]["buttons"]) == 13
    assert events == [SlotSet("tip_topic", None)]


@pytest.mark.parametrize(
    "risk, route, speaker, expected_first",
    [
        ("acute", "112", None, "112"),
        ("self_harm", "113", None, "113"),
        ("violence", "de_waag", "perpetrator", "anoniem"),
        ("violence", "veilig_thuis", "victim", "0800-2000"),
        ("violence", "kindertelefoon", "child", "nooit jouw schuld"),
        ("tension", "luisterlijn", None, "👉"),
    ],
)
def test_safety_response_per_tier(risk: str, route: str, speaker: Optional[str], expected_first: str) -> None:
    messages, events = run(ActionSafetyResponse(), tracker("x", risk=risk, route=route, speaker=speaker))
    assert expected_first in messages[0]["text"]
    assert not messages[0].get("buttons"), "the crisis answer itself never hides behind a button"
    assert SlotSet("risk", risk) in events and SlotSet("route", route) in events
    if risk == "acute":
        assert messages[0]["text"].index("112") < 60, "112 comes first, in one short message"


def test_perpetrator_answer_is_without_judgement_and_shows_verified_line() -> None:
    messages, _ = run(ActionSafetyResponse(), tracker("violence_perpetrator", risk="violence", route="de_waag", speaker="perpetrator"))
    text = texts(messages)
    assert "anoniem" in text and "0800-2000" in text and "112" in text


def test_button_payload_without_triage_uses_intent_tier() -> None:
    messages, events = run(ActionSafetyResponse(), tracker("self_harm"))
    assert "113" in messages[0]["text"] and SlotSet("risk", "self_harm") in events


def test_helpline_list_has_all_emergency_numbers() -> None:
    messages, _ = run(ActionListHelplines(), tracker("ask_helplines"))
    for number in ("112", "113", "0800-0113", "0800-2000", "088 0767 000"):
        assert number in messages[0]["text"]


def test_stress_support_acknowledges_and_gives_a_self_care_tip() -> None:
    messages, events = run(ActionStressSupport(), tracker("feeling_lonely"))
    assert "alleen" in messages[0]["text"].lower()
    assert messages[1]["text"].startswith("💡")
    assert SlotSet("risk", "stress") in events and SlotSet("tip_topic", "self_care") in events


def test_offer_human_refers_and_offers_handoff() -> None:
    messages, _ = run(ActionOfferHuman(), tracker("ask_human", {"risk": "violence", "route": "de_waag"}))
    assert "bot" in messages[0]["text"] and "0800-2000" in messages[0]["text"]
    assert messages[1]["custom"] == {"handoff_offer": {"route": "de_waag", "risk": "violence"}}


def test_three_houses_summary_repeats_the_answers_and_clears_them() -> None:
    slots = {"house_good": "we lachen veel", "house_worries": "de oudste is stil", "house_wishes": "meer rust"}
    messages, events = run(ActionThreeHousesSummary(), tracker("x", slots))
    for value in slots.values():
        assert value in messages[0]["text"]
    assert events == [SlotSet("house_good", None), SlotSet("house_worries", None), SlotSet("house_wishes", None)]


def test_fallback_in_dutch() -> None:
    messages, events = run(ActionDefaultAskAffirmation(), tracker("nlu_fallback", intent_ranking=[{"name": "nlu_fallback", "confidence": 0.45}, {"name": "tip_sleep", "confidence": 0.4}]))
    assert messages[0]["text"] == "Bedoel je een tip over slapen?"
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/tip_sleep", "/out_of_scope"]
    messages, events = run(ActionDefaultFallback(), tracker("nlu_fallback"))
    assert "begrijp" in messages[0]["text"] and events == [UserUtteranceReverted()]
