"""The person's side of a warm handoff, for every channel (Telegram, web chat).

The gateway plugs this in at three places:

  replies = await handoffs.intercept(person_id, channel, text, address)
      before Rasa: returns None when Rasa should answer; otherwise the replies to send (possibly none:
      during a handoff the bot is silent and the message goes to the staff member). Handles the
      pre-handoff buttons (payloads starting with /handoff:), triage on every message (an acute message
      gets the 112 answer at once and moves the handoff to the top of the queue), waiting and chat.
  extra = await handoffs.after_rasa(person_id, channel, replies, address)
      after Rasa: a reply with the custom payload {"handoff_offer": {...}} starts the pre-handoff steps.
  handoffs.register_channel(channel, send)
      `async send(address, replies) -> bool` delivers staff messages and notices that arrive later
      (claimed, transferred, closed, nobody-accepts timeout, waiting position). Pending deliveries are
      kept in the database until sent, so they survive a restart.

Plus `cancel_for(person_id)` for /stop and `forget(person_id)` for /vergeet.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

from bot import texts
from bot.assistant import Reply
from bot.handoff.models import ACTIVE, CONSENTS, PREPARING, WAITING, Handoff
from bot.handoff.service import (
    NOTICE_CLAIMED,
    NOTICE_CLOSED,
    NOTICE_TIMEOUT,
    NOTICE_TRANSFERRED,
    Delivery,
    HandoffError,
    HandoffService,
)
from bot.helplines import Helplines, catalogue
from bot.triage.tiers import Tier

log = logging.getLogger(__name__)
PREFIX = "/handoff:"
Send = Callable[[str, List[Reply]], Awaitable[bool]]


def T(*path: str, **values: Any) -> str:
    """A text from data/responses/handoff.yml with {contact:ID}/{referral:ID} and {name} filled."""
    node: Any = texts.load("handoff")
    for key in path:
        node = node[key]
    rendered = texts.render(texts.pick(node))  # helpline placeholders first: values (e.g. a staff message) are never parsed
    return rendered.format(**values) if values else rendered


def button(title: str, payload: str) -> Dict[str, str]:
    return {"title": title, "payload": payload}


def minutes_text(seconds: int) -> str:
    minutes = max(1, round(seconds / 60))
    return "1 minuut" if minutes == 1 else f"{minutes} minuten"


class ConversationEvents:
    """Pauses and resumes the Rasa conversation around a handoff (ConversationPaused / ConversationResumed)."""

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant

    async def append(self, sender_id: str, event: str) -> None:
        store = getattr(self.assistant, "tracker_store", None)
        try:
            if store is not None:
                from rasa.shared.core.events import ConversationPaused, ConversationResumed

                tracker = await store.get_or_create_tracker(sender_id)
                tracker.update(ConversationPaused() if event == "pause" else ConversationResumed())
                await store.save(tracker)
            elif hasattr(self.assistant, "client") and hasattr(self.assistant, "base_url"):
                from urllib.parse import quote

                response = await self.assistant.client.post(
                    f"{self.assistant.base_url}/conversations/{quote(sender_id)}/tracker/events",
                    json=[{"event": event}], params=getattr(self.assistant, "params", {}),
                )
                response.raise_for_status()
        except Exception:  # noqa: BLE001 - a failed pause/resume must never block the handoff itself
            log.warning("could not append %s to the conversation", event, exc_info=True)

    async def history(self, sender_id: str) -> List[Any]:
        store = getattr(self.assistant, "tracker_store", None)
        if store is None:
            return []
        tracker = await store.retrieve(sender_id)
        return list(tracker.events) if tracker is not None else []

    async def slots(self, sender_id: str) -> Dict[str, Any]:
        store = getattr(self.assistant, "tracker_store", None)
        if store is None:
            return {}
        tracker = await store.retrieve(sender_id)
        return tracker.current_slot_values() if tracker is not None else {}


def build_summary(events: Sequence[Any], slots: Dict[str, Any], risk: str, helplines: Helplines) -> Dict[str, Any]:
    """What the staff member sees with consent 'summary': risk tier, topics, age group, what the bot
    already advised. No literal message of the person."""
    from bot.tips import catalogue as tips_catalogue

    labels = texts.load("intent_labels")
    topics: List[str] = []
    for event in events:
        if getattr(event, "type_name", "") == "user":
            intent = (getattr(event, "intent", None) or {}).get("name")
            label = labels.get(intent or "")
            if intent and label and not intent.startswith(("greet", "goodbye", "thanks", "affirm", "deny", "ask_human", "bot_challenge")):
                label = label.removeprefix("dat je ").removeprefix("een tip over ")
                if label not in topics:
                    topics.append(label)
    advised: List[str] = []
    tips = tips_catalogue()
    by_id = {t.id: t for t in tips.all_tips()}
    for tip_id in slots.get("shown_tips") or []:
        tip = by_id.get(tip_id)
        if tip is not None:
            title = tips.topics[tip.topic].title if tip.topic in tips.topics else tip.topic
            advised.append(f"Tip ({title}): {tip.text[:160]}{'…' if len(tip.text) > 160 else ''}")
    route = slots.get("route")
    if route and route in helplines.lines:
        advised.append(f"Verwezen naar {helplines[route].name}")
    seen = [str((getattr(e, "parse_data", None) or {}).get("risk") or "none") for e in events if getattr(e, "type_name", "") == "user"]
    if "acute" in seen:
        advised.append("Acuut signaal: de bot gaf meteen het 112-advies")
    elif "self_harm" in seen:
        advised.append("Signaal van zelfdoding: de bot verwees naar 113 Zelfmoordpreventie")
    highest = max((Tier.parse(r) for r in seen if r in Tier.__members__), default=Tier.none)
    tier = max(Tier.parse(risk if risk in Tier.__members__ else "none"),
               Tier.parse(slots.get("risk") if slots.get("risk") in Tier.__members__ else "none"), highest)
    return {"risk": tier.name, "topics": topics[:10], "age_group": slots.get("age_group") or slots.get("age"), "advised": advised[:10]}


def build_transcript(events: Sequence[Any]) -> List[Tuple[str, str]]:
    """(who, text) of the conversation with the bot so far, for consent 'transcript'."""
    rows: List[Tuple[str, str]] = []
    for event in events:
        kind = getattr(event, "type_name", "")
        text = getattr(event, "text", None)
        if not text:
            continue
        if kind == "user" and not text.startswith("/"):
            rows.append(("person", text))
        elif kind == "bot":
            rows.append(("bot", text))
    return rows[-200:]


class PersonSide:
    def __init__(self, service: HandoffService, assistant: Any, helplines: Optional[Helplines] = None) -> None:
        self.service = service
        self.assistant = assistant
        self.helplines = helplines or catalogue()
        self.conversation = ConversationEvents(assistant)
        self.channels: Dict[str, Send] = {}
        self._locks: Dict[str, asyncio.Lock] = {}
        self._positions: Dict[str, int] = {}
        self._tasks: List["asyncio.Task[None]"] = []
        self.sweep_interval = 15.0  # retry pending deliveries (a channel that was not up yet, a network error)

    def bind(self, assistant: Any) -> None:
        """Use this assistant for triage and the tracker (when it is known only after construction)."""
        self.assistant = assistant
        self.conversation = ConversationEvents(assistant)

    # -- wiring ------------------------------------------------------------------------------------

    def register_channel(self, channel: str, send: Send) -> None:
        self.channels[channel] = send

    async def start(self) -> None:
        """Listen for deliveries and queue changes; deliver whatever is still pending (after a restart)."""
        self._tasks.append(asyncio.create_task(self._listen("person", self._on_person_event), name="handoff-person"))
        self._tasks.append(asyncio.create_task(self._listen("queue", self._on_queue_event), name="handoff-positions"))
        self._tasks.append(asyncio.create_task(self._sweep(), name="handoff-sweep"))

    async def _sweep(self) -> None:
        """Deliver what is pending now (after a restart) and then every `sweep_interval` seconds."""
        while True:
            try:
                await self.deliver_pending()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001
                log.exception("delivering pending handoff messages failed")
            await asyncio.sleep(self.sweep_interval)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def _listen(self, topic: str, handler: Callable[[Dict[str, Any]], Awaitable[None]]) -> None:
        subscription = self.service.broker.subscribe(topic)
        try:
            async for event in subscription:
                try:
                    await handler(event)
                except Exception:  # noqa: BLE001 - one failed delivery must not stop the listener
                    log.exception("handoff %s event failed", topic)
        finally:
            subscription.close()

    async def _on_person_event(self, event: Dict[str, Any]) -> None:
        if event.get("channel") in self.channels:
            await self.deliver_pending(event.get("handoff_id"))

    async def _on_queue_event(self, event: Dict[str, Any]) -> None:
        """Tell waiting people when they moved up in the queue."""
        helpline_id = event.get("helpline_id")
        if not helpline_id or not self.channels:
            return
        for handoff in await self.service.waiting_in(helpline_id):
            if handoff.channel not in self.channels:
                continue
            position = (await self.service.position(handoff.id)).position
            before = self._positions.get(handoff.id)
            self._positions[handoff.id] = position
            if before is not None and 0 < position < before:
                address = await self.service.address_of(handoff.id)
                if address:
                    await self.channels[handoff.channel](address, [Reply(T("position", position=position, name=self._name(handoff.helpline_id)))])

    def _lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def _name(self, helpline_id: Optional[str]) -> str:
        return self.service._line_name(helpline_id)

    # -- deliveries to the person ----------------------------------------------------------------

    async def deliver_pending(self, handoff_id: Optional[str] = None) -> int:
        """Send staff messages and notices that are still pending; returns how many were sent."""
        sent = 0
        deliveries = await self.service.undelivered(handoff_id=handoff_id)
        by_handoff: Dict[str, List[Delivery]] = {}
        for delivery in deliveries:
            if delivery.channel in self.channels:
                by_handoff.setdefault(delivery.handoff_id, []).append(delivery)
        for hid, items in by_handoff.items():
            async with self._lock(hid):
                fresh = {d.message_id for d in await self.service.undelivered(handoff_id=hid)}
                for delivery in items:
                    if delivery.message_id not in fresh or not delivery.address:
                        continue
                    replies = await self._compose(delivery)
                    if not await self.channels[delivery.channel](delivery.address, replies):
                        break  # the channel is not reachable now (e.g. the web chat is closed): keep it pending
                    await self.service.mark_delivered([delivery.message_id])
                    sent += 1
                    if delivery.sender == "system" and delivery.text == NOTICE_CLOSED:
                        await self.conversation.append(delivery.person_id, "resume")
                        await self.service.mark_resumed(delivery.handoff_id)
        return sent

    async def _compose(self, delivery: Delivery) -> List[Reply]:
        name = delivery.helpline_name
        short = delivery.handoff_id[:8]
        if delivery.sender == "staff":
            return [Reply(T("staff_message", name=name, text=delivery.text))]
        if delivery.text == NOTICE_CLAIMED:
            return [Reply(T("claimed", name=name))]
        if delivery.text == NOTICE_TRANSFERRED:
            position = (await self.service.position(delivery.handoff_id)).position
            return [Reply(T("transferred", name=name, position=position or 1), [button(T("cancel"), f"{PREFIX}cancel:{short}")])]
        if delivery.text == NOTICE_TIMEOUT:
            referral = self._open_referral(delivery.helpline_id)
            return [Reply(T("timeout", name=name, referral=referral), [
                button(T("keep_waiting"), f"{PREFIX}wait:{short}"), button(T("cancel"), f"{PREFIX}cancel:{short}")])]
        if delivery.text == NOTICE_CLOSED:
            rates = [button(label, f"{PREFIX}rate:{short}:{n}") for n, label in ((5, "😊 Goed"), (3, "😐 Gaat wel"), (1, "🙁 Niet goed"))]
            return [Reply(T("closed", name=name)), Reply(T("rate", "question"), rates + [button(T("rate", "skip"), f"{PREFIX}rate:{short}:0")])]
        return [Reply(delivery.text)]

    def _open_referral(self, helpline_id: Optional[str]) -> str:
        """A phone or chat line that is open now (honest about the hours of the chosen line)."""
        if helpline_id and helpline_id in self.helplines.lines:
            return self.helplines.referral(helpline_id)
        return self.helplines.referral("luisterlijn")

    # -- messages from the person ------------------------------------------------------------------

    async def intercept(self, person_id: str, channel: str, text: str, address: Optional[str] = None) -> Optional[List[Reply]]:
        """Handle the message when it belongs to a handoff; None means: let Rasa answer."""
        text = (text or "").strip()
        if text.startswith(PREFIX):
            async with self._lock(person_id):
                return await self._button(person_id, channel, text[len(PREFIX):], address)
        handoff = await self.service.recent_for(person_id)
        if handoff is None:
            return None
        if not handoff.is_open:
            if handoff.queued_at is not None and handoff.resumed_at is None:
                # ended while the person could not be told (the notice is still pending): never leave
                # the Rasa conversation paused, or the bot would not answer
                await self.conversation.append(person_id, "resume")
                await self.service.mark_resumed(handoff.id)
            return None
        async with self._lock(person_id):
            if address and handoff.channel == channel:
                await self.service.set_address(handoff.id, address)
            if text.startswith("/") and handoff.status in (WAITING, ACTIVE):
                # a button of an earlier bot message, or /start: not for the staff member
                return await self._status_reminder(handoff)
            risk = await self._triage(text)
            replies: List[Reply] = []
            if risk == "acute":
                replies.append(Reply(texts.text("safety", "acute", "first")))
            if handoff.status == PREPARING:
                if text.lower().strip(" .!") in texts.load("handoff")["stop_words"]:
                    await self.service.cancel(handoff.id)
                    return replies + [Reply(T("declined"))]
                return replies + [Reply(T("use_buttons"))] + await self._next_question(handoff)
            try:
                _, bumped = await self.service.person_message(handoff.id, text, risk)
            except HandoffError:
                return None
            if handoff.status == WAITING:
                position = (await self.service.position(handoff.id)).position
                self._positions[handoff.id] = position
                if bumped:
                    replies.append(Reply(T("moved_up")))
                else:
                    replies.append(Reply(T("stored_waiting", position=position), [button(T("cancel"), f"{PREFIX}cancel:{handoff.id[:8]}")]))
            return replies  # during an active chat the bot is silent (but an acute message gets the 112 answer)

    async def _status_reminder(self, handoff: Handoff) -> List[Reply]:
        short = handoff.id[:8]
        if handoff.status == WAITING:
            position = (await self.service.position(handoff.id)).position
            text = T("already_waiting", name=self._name(handoff.helpline_id), position=position)
        else:
            text = T("already_active", name=self._name(handoff.helpline_id))
        return [Reply(text, [button(T("cancel"), f"{PREFIX}cancel:{short}"), button(T("emergency"), "/hulp")])]

    async def _triage(self, text: str) -> str:
        if not text or text.startswith("/"):
            return "none"
        try:
            parsed = await self.assistant.parse(text)
        except Exception:  # noqa: BLE001 - triage failing must not lose the message
            log.exception("triage failed during a handoff")
            return "none"
        risk = parsed.get("risk") or "none"
        return risk if risk in Tier.__members__ else "none"

    async def after_rasa(self, person_id: str, channel: str, replies: Sequence[Reply], address: Optional[str] = None) -> List[Reply]:
        """Start the pre-handoff steps when the assistant offered a person."""
        offers = [r.custom["handoff_offer"] for r in replies if isinstance(getattr(r, "custom", None), dict) and r.custom.get("handoff_offer")]
        if not offers:
            return []
        offer = offers[-1]
        async with self._lock(person_id):
            return await self.offer(person_id, channel, offer.get("route"), offer.get("risk") or "none", address)

    async def offer(self, person_id: str, channel: str, route: Optional[str], risk: str, address: Optional[str]) -> List[Reply]:
        existing = await self.service.open_for(person_id)
        if existing is not None and existing.status == WAITING:
            position = (await self.service.position(existing.id)).position
            return [Reply(T("already_waiting", name=self._name(existing.helpline_id), position=position))]
        if existing is not None and existing.status == ACTIVE:
            return [Reply(T("already_active", name=self._name(existing.helpline_id)))]
        lines, route_closed = await self.service.candidates(route)
        wanted = self._wanted(route)
        staffed = await self.service.handoff_lines()
        if not lines and not (route_closed and wanted in staffed):
            return [Reply(T("offer", "none_available", referral=self._open_referral(wanted)))]
        handoff = await self.service.start(person_id, channel, route, risk, address)
        short = handoff.id[:8]
        buttons = []
        for i, line_id in enumerate(lines):
            title = T("offer", "suggested", name=self._name(line_id)) if line_id == wanted and i == 0 else self._name(line_id)
            buttons.append(button(title, f"{PREFIX}line:{short}:{line_id}"))
        if route_closed:
            line = self.helplines[wanted]
            text = T("offer", "which_closed", name=line.name, hours=line.hours_text())
            buttons.append(button(T("offer", "keep_closed_queue", name=line.name), f"{PREFIX}line:{short}:{wanted}"))
        else:
            text = T("offer", "which")
        buttons.append(button(T("offer", "decline"), f"{PREFIX}cancel:{short}"))
        return [Reply(T("offer", "intro")), Reply(text, buttons)]

    @staticmethod
    def _wanted(route: Optional[str]) -> str:
        from bot.handoff.service import HANDOFF_FALLBACK

        return HANDOFF_FALLBACK.get(route or "", route) or "luisterlijn"

    async def _next_question(self, handoff: Handoff) -> List[Reply]:
        """Re-ask what is still open in the preparation (after free text, or after a restart)."""
        short = handoff.id[:8]
        if not handoff.helpline_id:
            lines, _ = await self.service.candidates(handoff.route)
            buttons = [button(self._name(i), f"{PREFIX}line:{short}:{i}") for i in lines]
            return [Reply(T("offer", "which"), buttons + [button(T("offer", "decline"), f"{PREFIX}cancel:{short}")])]
        return [self._consent_question(short)]

    def _consent_question(self, short: str) -> Reply:
        return Reply(T("consent", "question"), [button(T("consent", c), f"{PREFIX}consent:{short}:{c}") for c in CONSENTS])

    async def _button(self, person_id: str, channel: str, payload: str, address: Optional[str]) -> List[Reply]:
        parts = payload.split(":")
        action, short, arg = parts[0], (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")
        handoff = await self.service.find_for(person_id, short)
        if handoff is None:
            return [Reply(T("declined"))] if action in ("cancel", "line", "consent", "anon", "go") else []
        if action == "rate":
            rating = int(arg) if arg.isdigit() else 0
            if rating:
                await self.service.rate(handoff.id, rating)
                return [Reply(T("rate", "thanks"))]
            return [Reply(T("rate", "skipped"))]
        if action == "cancel":
            if handoff.is_open:
                was_queued = handoff.status != PREPARING
                await self.service.cancel(handoff.id)
                if was_queued:
                    await self.conversation.append(person_id, "resume")
                    await self.service.mark_resumed(handoff.id)
                    return [Reply(T("cancelled"))]
                return [Reply(T("declined"))]
            return []
        if action == "wait":
            if handoff.status == WAITING:
                await self.service.keep_waiting(handoff.id)
                return [Reply(T("kept_waiting"))]
            return []
        if handoff.status != PREPARING:
            if handoff.status == WAITING:
                position = (await self.service.position(handoff.id)).position
                return [Reply(T("already_waiting", name=self._name(handoff.helpline_id), position=position))]
            return []
        if address and handoff.channel == channel:
            await self.service.set_address(handoff.id, address)
        try:
            if action == "line":
                await self.service.prepare(handoff.id, helpline_id=arg)
                return [self._consent_question(short)]
            if action == "consent":
                await self.service.prepare(handoff.id, consent=arg)
                return [Reply(T("anonymous", "question"), [button(T("anonymous", "yes"), f"{PREFIX}anon:{short}:1"),
                                                           button(T("anonymous", "no"), f"{PREFIX}anon:{short}:0")])]
            if action == "anon":
                handoff = await self.service.prepare(handoff.id, anonymous=arg != "0")
                return [await self._wait_estimate(handoff)]
            if action == "go":
                return await self._submit(person_id, handoff)
        except HandoffError:
            log.info("pre-handoff step %s rejected", action)
            return await self._next_question(handoff)
        return []

    async def _wait_estimate(self, handoff: Handoff) -> Reply:
        short = handoff.id[:8]
        waiting = await self.service.waiting_in(handoff.helpline_id or "")
        ahead = len(waiting)
        ahead_text = T("wait", "ahead_none") if ahead == 0 else T("wait", "ahead_one") if ahead == 1 else T("wait", "ahead_many", n=ahead)
        expected = await self.service.expected_wait(handoff.helpline_id or "", ahead + 1)
        lines = [T("wait", "estimate", ahead_text=ahead_text, minutes=minutes_text(expected)) if expected is not None
                 else T("wait", "unknown", ahead_text=ahead_text)]
        lines.append(T("wait", "timeout_hint", timeout=minutes_text(self.service.timeout_seconds)))
        lines.append(T("wait", "confirm"))
        return Reply("\n".join(lines), [button(T("wait", "yes"), f"{PREFIX}go:{short}"), button(T("wait", "no"), f"{PREFIX}cancel:{short}")])

    async def _submit(self, person_id: str, handoff: Handoff) -> List[Reply]:
        summary: Dict[str, Any] = {}
        transcript: List[Tuple[str, str]] = []
        if handoff.consent != "none":
            try:
                events = await self.conversation.history(person_id)
                slots = await self.conversation.slots(person_id)
                summary = build_summary(events, slots, handoff.risk, self.helplines)
                if handoff.consent == "transcript":
                    transcript = build_transcript(events)
            except Exception:  # noqa: BLE001 - a missing summary must not block the handoff
                log.exception("could not build the handoff summary")
        handoff = await self.service.submit(handoff.id, summary, transcript)
        await self.conversation.append(person_id, "pause")
        position = (await self.service.position(handoff.id)).position
        self._positions[handoff.id] = position
        short = handoff.id[:8]
        return [Reply(T("queued", name=self._name(handoff.helpline_id), position=position),
                      [button(T("cancel"), f"{PREFIX}cancel:{short}"), button(T("emergency"), "/hulp")])]

    # -- commands ------------------------------------------------------------------------------------

    async def cancel_for(self, person_id: str) -> bool:
        """/stop: cancel an open handoff of the person (the staff console shows it as cancelled)."""
        handoff = await self.service.open_for(person_id)
        if handoff is None:
            return False
        await self.service.cancel(handoff.id)
        if handoff.status != PREPARING:
            await self.conversation.append(person_id, "resume")
            await self.service.mark_resumed(handoff.id)
        return True

    async def forget(self, person_id: str) -> int:
        """/vergeet: delete the person's handoffs and their messages."""
        return await self.service.forget(person_id)
