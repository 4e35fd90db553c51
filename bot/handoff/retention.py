"""Retention: a periodic task deletes what is older than RETENTION_DAYS (default 30).

Covers the handoff tables (bot.handoff.service.HandoffService.purge) and the Rasa tracker store
(events older than the cutoff; a conversation idle for longer disappears completely).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Optional

log = logging.getLogger(__name__)


def purge_tracker_events(tracker_store: Any, cutoff_timestamp: float) -> int:
    """Delete Rasa SQLTrackerStore events older than `cutoff_timestamp` (Unix seconds). Returns the count."""
    model = getattr(tracker_store, "SQLEvent", None)
    if model is None:  # not an SQL tracker store (e.g. a remote Rasa server): nothing we can reach
        return 0
    with tracker_store.session_scope() as session:
        count = session.query(model).filter(model.timestamp < cutoff_timestamp).delete(synchronize_session=False)
        session.commit()
    return int(count or 0)


class PeriodicTask:
    """Calls `run_once` now and then every `interval` seconds until stopped; a failed round is logged."""

    name = "periodic"
    interval: float

    def __init__(self) -> None:
        self._task: Optional["asyncio.Task[None]"] = None

    async def run_once(self) -> Any:
        raise NotImplementedError

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next round tries again
                log.exception("%s run failed", self.name)
            await asyncio.sleep(self.interval)

    def start(self) -> "PeriodicTask":
        self._task = asyncio.create_task(self._loop(), name=self.name)
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


class RetentionTask(PeriodicTask):
    """Runs `service.purge` now and then every `interval` seconds until stopped."""

    name = "retention"

    def __init__(self, service: Any, retention_days: int, tracker_store: Any = None, interval: float = 3600.0) -> None:
        super().__init__()
        self.service = service
        self.retention_days = retention_days
        self.tracker_store = tracker_store
        self.interval = interval

    async def run_once(self) -> Any:
        purged = await self.service.purge(self.retention_days, self.tracker_store)
        log.info(
            "retention: deleted %d handoff messages, %d handoffs, %d tracker events, %d sessions, %d audit events",
            purged.handoff_messages, purged.handoffs, purged.tracker_events, purged.sessions, purged.audit_events,
        )
        return purged


class TimeoutTask(PeriodicTask):
    """Checks every few seconds for waiting handoffs that nobody claimed in time."""

    name = "handoff-timeouts"

    def __init__(self, service: Any, interval: float = 5.0) -> None:
        super().__init__()
        self.service = service
        self.interval = interval

    async def run_once(self) -> None:
        await self.service.check_timeouts()
