"""Flood guard: more than `limit` messages of one person within `window` seconds earns ONE slow-down notice.

Nothing is dropped here; the guard only says when to send the notice. The person is warned again only
after the flood has ended (their rate fell back to at most `limit` messages per window).
"""
from __future__ import annotations

import time
from collections import deque
from typing import Callable, Deque, Dict, Set


class FloodGuard:
    """Per-person sliding window of message times, in memory only."""

    def __init__(self, limit: int = 10, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._hits: Dict[str, Deque[float]] = {}
        self._warned: Set[str] = set()
        self._calls = 0

    def hit(self, key: str) -> bool:
        """Count one message of `key`; True exactly once per flood (when the limit is first exceeded)."""
        now = self.clock()
        hits = self._hits.setdefault(key, deque())
        while hits and now - hits[0] > self.window:
            hits.popleft()
        hits.append(now)
        self._calls += 1
        if self._calls % 1000 == 0:
            self._sweep(now)
        if len(hits) <= self.limit:
            self._warned.discard(key)
            return False
        if key in self._warned:
            return False
        self._warned.add(key)
        return True

    def forget(self, key: str) -> None:
        """Drop everything held about `key`."""
        self._hits.pop(key, None)
        self._warned.discard(key)

    def _sweep(self, now: float) -> None:
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] > self.window]:
            self.forget(key)
