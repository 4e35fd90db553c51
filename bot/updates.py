"""Processed update ids, kept in the SQL database for a while, so an update is handled once, even across
a restart (Telegram re-sends updates that were not confirmed, and retries webhook deliveries).

The table holds no person id and no content: only the channel, the update id and when it was seen.
It lives in its own MetaData (created with create_all), outside the Alembic-managed handoff tables.
"""
from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import datetime, timedelta, timezone
from typing import Callable, Tuple

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, Table, delete, insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

metadata = MetaData()
processed_updates = Table(
    "gateway_processed_updates",
    metadata,
    Column("channel", String(20), primary_key=True),
    Column("update_id", BigInteger, primary_key=True, autoincrement=False),
    Column("seen_at", DateTime, nullable=False, index=True),
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class ProcessedUpdates:
    """`await claim(channel, update_id)` is True the first time, False for every duplicate."""

    def __init__(
        self,
        engine: Engine,
        retention: timedelta = timedelta(days=2),
        memory: int = 10_000,
        prune_every: float = 3600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.retention = retention
        self.memory = memory
        self.prune_every = prune_every
        self.clock = clock
        self._recent: "OrderedDict[Tuple[str, int], None]" = OrderedDict()
        self._last_prune = 0.0
        metadata.create_all(engine, checkfirst=True)

    async def claim(self, channel: str, update_id: int) -> bool:
        """Record the update as processed; False if it was recorded before (a duplicate)."""
        key = (channel, int(update_id))
        if key in self._recent:
            return False
        self._remember(key)
        return await asyncio.to_thread(self._insert, key)

    def _remember(self, key: Tuple[str, int]) -> None:
        self._recent[key] = None
        while len(self._recent) > self.memory:
            self._recent.popitem(last=False)

    def _insert(self, key: Tuple[str, int]) -> bool:
        now = self.clock()
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(processed_updates).values(channel=key[0], update_id=key[1], seen_at=now))
        except IntegrityError:
            return False
        if time.monotonic() - self._last_prune > self.prune_every:
            self._last_prune = time.monotonic()
            self.prune()
        return True

    def prune(self) -> int:
        """Delete records older than the retention period; returns how many."""
        self._recent.clear()
        cutoff = self.clock() - self.retention
        with self.engine.begin() as connection:
            result = connection.execute(delete(processed_updates).where(processed_updates.c.seen_at < cutoff))
        return int(result.rowcount or 0)
