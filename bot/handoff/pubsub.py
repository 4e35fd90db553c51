"""Live updates inside the process (asyncio queues), or across processes through Redis pub/sub.

Topics:
  queue               a handoff entered, left or moved in a queue   {"helpline_id": ...}
  handoff:<id>        a new message or a status change of one handoff
  person              something the person's channel must deliver (staff message, claimed, closed, timeout)

Subscribers get dicts; a slow subscriber loses the oldest events rather than blocking publishers
(the console re-reads the state from the database on each event, so nothing is lost that matters).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, AsyncIterator, Dict, Optional, Set

log = logging.getLogger(__name__)

Event = Dict[str, Any]
PREFIX = "adempauze:"


class Subscription:
    def __init__(self, broker: "Broker", topic: str, maxsize: int = 100) -> None:
        self.broker = broker
        self.topic = topic
        self.queue: "asyncio.Queue[Event]" = asyncio.Queue(maxsize=maxsize)

    def put(self, event: Event) -> None:
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)

    async def get(self, timeout: Optional[float] = None) -> Optional[Event]:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except asyncio.TimeoutError:
            return None

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            yield await self.queue.get()

    def close(self) -> None:
        self.broker._unsubscribe(self)

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Broker:
    """In-process pub/sub. Subscriptions must be made and read on the broker's event loop."""

    def __init__(self) -> None:
        self._subs: Dict[str, Set[Subscription]] = {}
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        return None

    def subscribe(self, topic: str) -> Subscription:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        sub = Subscription(self, topic)
        self._subs.setdefault(topic, set()).add(sub)
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subs.get(sub.topic)
        if subs:
            subs.discard(sub)
            if not subs:
                self._subs.pop(sub.topic, None)

    def subscriber_count(self, topic: str) -> int:
        return len(self._subs.get(topic, ()))

    def _deliver(self, topic: str, event: Event) -> None:
        for sub in list(self._subs.get(topic, ())):
            sub.put(event)

    def _deliver_threadsafe(self, topic: str, event: Event) -> None:
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._deliver(topic, event)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._deliver, topic, event)

    async def publish(self, topic: str, event: Event) -> None:
        self._deliver_threadsafe(topic, event)


class RedisBroker(Broker):
    """Publishes to Redis (channel 'adempauze:<topic>'); one listener task fans messages out locally.

    Every process of a scaled-out deployment sees every event, so a console served by one process
    follows a handoff whose person is connected to another.
    """

    def __init__(self, url: str) -> None:
        super().__init__()
        import redis.asyncio as aioredis

        self.url = url
        self._redis = aioredis.from_url(url, decode_responses=True)
        self._pubsub: Any = None
        self._task: Optional["asyncio.Task[None]"] = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        self._pubsub = self._redis.pubsub()
        await self._pubsub.psubscribe(PREFIX + "*")
        self._task = asyncio.create_task(self._listen(), name="redis-pubsub")
        await asyncio.wait_for(self._ready.wait(), 5)

    async def _listen(self) -> None:
        self._ready.set()
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a broken connection must not end live updates for good
                log.warning("redis pub/sub read failed; retrying", exc_info=True)
                await asyncio.sleep(1.0)
                continue
            if not message:
                continue
            channel = message.get("channel") or ""
            try:
                event = json.loads(message["data"])
            except (TypeError, ValueError):
                continue
            self._deliver(channel[len(PREFIX):], event)

    async def publish(self, topic: str, event: Event) -> None:
        try:
            await self._redis.publish(PREFIX + topic, json.dumps(event, default=str))
        except Exception:  # noqa: BLE001 - the change is committed already; at least this process hears of it
            log.warning("redis publish failed; delivering %s in this process only", topic)
            self._deliver(topic, event)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.punsubscribe()
                await self._pubsub.close()
        with contextlib.suppress(Exception):
            await self._redis.close()


def make_broker(redis_url: Optional[str]) -> Broker:
    return RedisBroker(redis_url) if redis_url else Broker()
