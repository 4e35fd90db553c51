"""The conversation gateway between channels (Telegram, the web chat) and the Rasa assistant.

A channel turns what a person does into an `Incoming` (pseudonymous person id, the channel's reply
address, text) and calls `Gateway.submit`. The gateway

* handles the messages of one person strictly in order (one lane per person), different people
  concurrently;
* answers a flood (more than `flood.limit` messages in `flood.window` seconds) with one slow-down
  notice, and still processes every message;
* handles an update id once (`bot.updates.ProcessedUpdates`, kept in the SQL database);
* answers the gateway commands itself (/hulp, /privacy, /stop, /vergeet) and sends the rest to the
  assistant, after the hooks (issue 5's handoff) had a chance to take the message;
* never lets one failure stop it: the person gets a short apology plus the emergency numbers;
* drains the lanes on shutdown, so no message in flight is lost.

Message text never reaches the logs at INFO or above.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Deque, Dict, List, Optional, Protocol, Sequence, Set

from bot import texts
from bot.assistant import Reply
from bot.flood import FloodGuard
from bot.forget import Forgetter
from bot.helplines import catalogue
from bot.logs import redacted
from bot.updates import ProcessedUpdates

log = logging.getLogger(__name__)

TEXT, BUTTON, MEDIA = "text", "button", "media"
GATEWAY_PAYLOAD = "gw:"  # payloads of the gateway's own buttons (only accepted from a button press)
FORGET_ASK, FORGET_YES, FORGET_NO = "gw:forget", "gw:forget:yes", "gw:forget:no"
STOP_KEEP = "gw:keep"
GREET_PAYLOAD, TIP_PAYLOAD, RESTART_PAYLOAD = "/greet", "/ask_tip", "/restart"


@dataclass(frozen=True)
class Incoming:
    """One thing a person did in a channel. `address` (e.g. a Telegram chat id) stays in memory."""

    channel: str
    person_id: str
    address: str
    text: str = ""
    kind: str = TEXT  # TEXT, BUTTON (a button's payload) or MEDIA (voice, photo, ...: see `media`)
    media: Optional[str] = None
    update_id: Optional[int] = None


class Channel(Protocol):
    """How the gateway reaches a person in one channel."""

    name: str

    async def send(self, address: str, replies: Sequence[Reply]) -> bool:
        """Deliver replies in order; False when the person cannot be reached."""

    async def typing(self, address: str) -> None:
        """Show that the bot is writing (best effort)."""

    async def clear_keyboards(self, address: str) -> None:
        """Remove the buttons of earlier messages (never the messages themselves)."""


class Hook(Protocol):
    """A plug-in around the assistant, e.g. issue 5's warm handoff (bot.handoff.person.PersonSide)."""

    async def intercept(self, person_id: str, channel: str, text: str, address: Optional[str] = None) -> Optional[List[Reply]]:
        """Replies when the hook takes the message (possibly none), None to let the assistant answer."""

    async def after_rasa(self, person_id: str, channel: str, replies: Sequence[Reply], address: Optional[str] = None) -> List[Reply]:
        """Extra replies after the assistant answered."""

    async def cancel_for(self, person_id: str) -> bool:
        """/stop: end whatever the hook keeps open for the person."""


class AssistantLike(Protocol):
    async def handle(self, sender_id: str, text: str) -> List[Reply]: ...

    async def forget(self, sender_id: str) -> None: ...


def gateway_text(*path: str, **values: Any) -> str:
    """A text from data/responses/gateway.yml, with {retention_days}-style values and helpline placeholders."""
    node: Any = texts.load("gateway")
    for key in path:
        node = node[key]
    template = texts.pick(node)
    for name, value in values.items():
        template = template.replace("{" + name + "}", str(value))
    return texts.render(template)


def emergency_reply(intro_key: str) -> Reply:
    """An intro from gateway.yml followed by every emergency number (from bot.helplines only)."""
    return Reply(f"{gateway_text(intro_key)}\n\n{catalogue().emergency_list()}")


def command_of(text: str) -> Optional[str]:
    """'/hulp' -> 'hulp'; '/start@adempauze_bot x' -> 'start'; plain text or Rasa payloads -> their name too."""
    if not text.startswith("/"):
        return None
    word = text[1:].split(maxsplit=1)[0] if len(text) > 1 else ""
    return word.split("@", 1)[0].lower() or None


@dataclass
class _Lane:
    """The queue of one person; one worker task drains it."""

    items: Deque["_Job"] = field(default_factory=deque)
    task: Optional["asyncio.Task[None]"] = None


@dataclass
class _Job:
    message: Incoming
    done: Optional["asyncio.Future[None]"] = None


Command = Callable[[Incoming], Awaitable[List[Reply]]]


class Gateway:
    """Channel-agnostic core: ordered per person, concurrent across people, robust, drainable."""

    def __init__(
        self,
        assistant: AssistantLike,
        *,
        updates: Optional[ProcessedUpdates] = None,
        forgetter: Optional[Forgetter] = None,
        flood: Optional[FloodGuard] = None,
        hooks: Sequence[Hook] = (),
        retention_days: int = 30,
        max_concurrency: int = 64,
        typing_delay: float = 0.3,
        typing_interval: float = 4.5,
    ) -> None:
        self.assistant = assistant
        self.updates = updates
        self.forgetter = forgetter or Forgetter()
        self.forgetter.register("rasa_tracker", assistant.forget)
        self.flood = flood or FloodGuard()
        self.hooks: List[Hook] = list(hooks)
        self.retention_days = retention_days
        self.typing_delay = typing_delay
        self.typing_interval = typing_interval
        self.channels: Dict[str, Channel] = {}
        self._lanes: Dict[str, _Lane] = {}
        self._background: Set["asyncio.Task[Any]"] = set()
        self._slots = asyncio.Semaphore(max_concurrency)
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False
        self.commands: Dict[str, Command] = {
            "start": lambda m: self._converse(m, GREET_PAYLOAD),
            "tip": lambda m: self._converse(m, TIP_PAYLOAD),
            "hulp": self._help,
            "help": self._help,
            "noodnummers": self._help,
            "privacy": self._privacy,
            "stop": self._stop,
            "vergeet": self._ask_forget,
        }

    # -- wiring -------------------------------------------------------------------------------------

    def add_channel(self, channel: Channel) -> None:
        self.channels[channel.name] = channel

    def add_hook(self, hook: Hook) -> None:
        self.hooks.append(hook)

    # -- intake ---------------------------------------------------------------------------------------

    def submit(self, message: Incoming) -> "asyncio.Future[None]":
        """Queue a message in its person's lane (synchronously, so arrival order is kept).

        Returns a future that is done when the message has been answered.
        """
        done: "asyncio.Future[None]" = asyncio.get_running_loop().create_future()
        if self._closed:
            log.warning("gateway closed: message not accepted")
            done.set_exception(RuntimeError("gateway closed"))
            return done
        if self.flood.hit(message.person_id):
            self._spawn(self._send(message, [Reply(gateway_text("slow_down"))]))
        lane = self._lanes.get(message.person_id)
        if lane is None:
            lane = self._lanes[message.person_id] = _Lane()
        lane.items.append(_Job(message, done))
        if lane.task is None:
            self._idle.clear()
            lane.task = asyncio.create_task(self._drain_lane(message.person_id, lane), name="gateway-lane")
        return done

    async def handle(self, message: Incoming) -> None:
        """Submit and wait until the message has been answered."""
        await self.submit(message)

    async def _drain_lane(self, person_id: str, lane: _Lane) -> None:
        try:
            while lane.items:
                job = lane.items[0]
                try:
                    async with self._slots:
                        await self._process(job.message)
                finally:
                    lane.items.popleft()
                    if job.done is not None and not job.done.done():
                        job.done.set_result(None)
        finally:
            lane.task = None
            if self._lanes.get(person_id) is lane and not lane.items:
                del self._lanes[person_id]
            if not self._lanes:
                self._idle.set()

    # -- processing -----------------------------------------------------------------------------------

    async def _process(self, message: Incoming) -> None:
        """Answer one message; any failure becomes an apology with the emergency numbers."""
        started = time.perf_counter()
        try:
            if message.update_id is not None and self.updates is not None:
                if not await self.updates.claim(message.channel, message.update_id):
                    log.info("duplicate update %s ignored", message.update_id)
                    return
        except Exception as error:  # noqa: BLE001 - better to answer twice than not at all
            log.error("could not record update %s (%s)", message.update_id, type(error).__name__)
        typing = self._typing(message) if message.kind != MEDIA else None
        try:
            replies = await self._respond(message)
        except Exception as error:  # noqa: BLE001 - one failure must never stop the bot
            log.error("handling a message failed (%s)", type(error).__name__, exc_info=redacted(error))
            replies = [emergency_reply("apology")]
        finally:
            if typing is not None:
                typing.cancel()
        await self._send(message, replies)
        log.debug("message handled in %.0f ms", (time.perf_counter() - started) * 1000)

    async def _respond(self, message: Incoming) -> List[Reply]:
        if message.kind == MEDIA:
            return [Reply(gateway_text("media", message.media if message.media in _MEDIA else "other"))]
        text = message.text.strip()
        if not text:
            return []
        if text.startswith(GATEWAY_PAYLOAD):
            return await self._gateway_button(message, text) if message.kind == BUTTON else []
        command = self.commands.get(command_of(text) or "")
        if command is not None:
            return await command(message)
        return await self._converse(message, text)

    async def _converse(self, message: Incoming, text: str) -> List[Reply]:
        """Hooks first (a handoff may take the message), then the assistant, then the hooks' extras."""
        for hook in self.hooks:
            taken = await hook.intercept(message.person_id, message.channel, text, message.address)
            if taken is not None:
                return list(taken)
        replies = list(await self.assistant.handle(message.person_id, text))
        extra: List[Reply] = []
        for hook in self.hooks:
            extra.extend(await hook.after_rasa(message.person_id, message.channel, replies, message.address))
        answer = [r for r in replies if r.text or r.buttons] + extra
        if not answer:
            log.info("the assistant had no answer; sending the gateway's")
            answer = [Reply(gateway_text("no_answer"))]
        return answer

    async def _send(self, message: Incoming, replies: Sequence[Reply]) -> None:
        if not replies:
            return
        channel = self.channels.get(message.channel)
        if channel is None:
            log.error("no channel %r to answer on", message.channel)
            return
        try:
            await channel.send(message.address, replies)
        except Exception as error:  # noqa: BLE001
            log.error("sending on %s failed (%s)", message.channel, type(error).__name__, exc_info=redacted(error))

    def _typing(self, message: Incoming) -> Optional["asyncio.Task[None]"]:
        """Show 'typing' only if the answer takes longer than `typing_delay`: no extra request, no latency."""
        channel = self.channels.get(message.channel)
        if channel is None:
            return None

        async def keep_typing() -> None:
            await asyncio.sleep(self.typing_delay)
            while True:
                with contextlib.suppress(Exception):
                    await channel.typing(message.address)
                await asyncio.sleep(self.typing_interval)

        return asyncio.create_task(keep_typing(), name="gateway-typing")

    # -- commands ---------------------------------------------------------------------------------------

    async def _help(self, message: Incoming) -> List[Reply]:
        """/hulp: every emergency number at once, without the model."""
        return [emergency_reply("hulp")]

    async def _privacy(self, message: Incoming) -> List[Reply]:
        """/privacy: what is stored, where, how long, who sees it."""
        return [Reply(gateway_text("privacy", retention_days=self.retention_days))]

    async def _stop(self, message: Incoming) -> List[Reply]:
        """/stop: end the conversation (restart in the tracker), remove keyboards, offer deletion."""
        for hook in self.hooks:
            await hook.cancel_for(message.person_id)
        await self.assistant.handle(message.person_id, RESTART_PAYLOAD)
        channel = self.channels.get(message.channel)
        if channel is not None:
            await channel.clear_keyboards(message.address)
        buttons = [
            {"title": gateway_text("stop", "forget_button"), "payload": FORGET_ASK},
            {"title": gateway_text("stop", "keep_button"), "payload": STOP_KEEP},
        ]
        return [Reply(gateway_text("stop", "text"), buttons)]

    async def _ask_forget(self, message: Incoming) -> List[Reply]:
        """/vergeet: ask for confirmation with a button; nothing is deleted yet."""
        buttons = [
            {"title": gateway_text("forget", "yes"), "payload": FORGET_YES},
            {"title": gateway_text("forget", "no"), "payload": FORGET_NO},
        ]
        return [Reply(gateway_text("forget", "confirm"), buttons)]

    async def _gateway_button(self, message: Incoming, payload: str) -> List[Reply]:
        if payload == FORGET_ASK:
            return await self._ask_forget(message)
        if payload == FORGET_YES:
            await self.forget_person(message.person_id)
            return [Reply(gateway_text("forget", "done"))]
        if payload == FORGET_NO:
            return [Reply(gateway_text("forget", "kept"))]
        if payload == STOP_KEEP:
            return []
        return [Reply(gateway_text("button_expired"))]

    async def forget_person(self, person_id: str) -> Dict[str, Any]:
        """Delete everything stored about a person: every registered deleter, and the gateway's memory."""
        self.flood.forget(person_id)
        results = await self.forgetter.forget(person_id)
        log.info("forgot a person in %s", ", ".join(results))
        return results

    # -- shutdown -----------------------------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    @property
    def busy(self) -> int:
        """Messages queued or in progress."""
        return sum(len(lane.items) for lane in self._lanes.values())

    async def drain(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued message has been answered; True if all were."""
        try:
            await asyncio.wait_for(self._wait_idle(), timeout)
            return True
        except asyncio.TimeoutError:
            log.warning("shutdown: %d messages still in progress", self.busy)
            return False

    async def _wait_idle(self) -> None:
        while True:
            await self._idle.wait()
            if self._background:
                await asyncio.gather(*list(self._background), return_exceptions=True)
            if self._idle.is_set() and not self._background:
                return

    async def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting messages and drain."""
        self._closed = True
        return await self.drain(timeout)


_MEDIA = frozenset({"voice", "audio", "photo", "sticker", "video", "document", "location", "contact"})

