"""Live updates: the in-process broker, and Redis pub/sub on 127.0.0.1:6379."""
from __future__ import annotations

import asyncio
import os
import secrets

import pytest

from bot.handoff.pubsub import Broker, RedisBroker

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


async def test_in_process_broker_fans_out_per_topic() -> None:
    broker = Broker()
    await broker.start()
    a, b, other = broker.subscribe("queue"), broker.subscribe("queue"), broker.subscribe("handoff:x")
    await broker.publish("queue", {"type": "queued", "handoff_id": "h1"})
    assert (await a.get(1))["handoff_id"] == "h1"
    assert (await b.get(1))["handoff_id"] == "h1"
    assert await other.get(0.05) is None
    a.close()
    assert broker.subscriber_count("queue") == 1


async def test_slow_subscriber_drops_oldest_instead_of_blocking() -> None:
    broker = Broker()
    sub = broker.subscribe("queue")
    for n in range(150):
        await broker.publish("queue", {"n": n})
    assert (await sub.get(1))["n"] == 50


async def test_publish_from_a_worker_thread_reaches_the_loop() -> None:
    broker = Broker()
    await broker.start()
    sub = broker.subscribe("person")
    await asyncio.to_thread(lambda: asyncio.run(broker.publish("person", {"type": "deliver"})))
    assert (await sub.get(1)) == {"type": "deliver"}


async def test_redis_broker_across_two_brokers() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL} ({exc}); start it with "
                    "`redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no`")
    one, two = RedisBroker(REDIS_URL), RedisBroker(REDIS_URL)
    await one.start()
    await two.start()
    try:
        topic = f"handoff:{secrets.token_hex(4)}"
        sub = two.subscribe(topic)
        await one.publish(topic, {"type": "message", "handoff_id": "h"})
        assert await sub.get(5) == {"type": "message", "handoff_id": "h"}
    finally:
        await one.stop()
        await two.stop()


async def test_redis_down_still_delivers_in_process() -> None:
    broker = RedisBroker("redis://127.0.0.1:1/0")  # nothing listens there
    sub = broker.subscribe("queue")
    await broker.publish("queue", {"type": "queued"})
    assert await sub.get(1) == {"type": "queued"}
    await broker.stop()
