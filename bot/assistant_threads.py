"""Run the in-process Rasa model on worker threads, each with its own event loop.

Rasa's message handling is CPU work that holds the event loop (NLU, policies, TensorFlow). On worker
threads it no longer blocks the gateway and the Telegram I/O, and TensorFlow, SQLite and the action
server calls release the GIL, so a second core is used. The gateway already serialises the messages of
one person, so a conversation never runs on two threads at once.
"""
from __future__ import annotations

import asyncio
import itertools
import threading
from concurrent.futures import Future
from typing import Any, Coroutine, Dict, List, Optional, TypeVar

from bot.assistant import Reply

T = TypeVar("T")


class _Worker:
    def __init__(self, index: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.pending = 0
        self.thread = threading.Thread(target=self._run, name=f"assistant-{index}", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()
        self.loop.close()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


class ThreadedAssistant:
    """Wraps an in-process assistant; `handle`, `parse` and `forget` run on the least busy worker."""

    def __init__(self, inner: Any, threads: int = 2) -> None:
        self.inner = inner
        self.workers = [_Worker(i) for i in range(max(1, threads))]
        self._round = itertools.cycle(range(len(self.workers)))

    def __getattr__(self, name: str) -> Any:  # agent, tracker_store, ... of the wrapped assistant
        return getattr(self.inner, name)

    def _pick(self) -> _Worker:
        start = next(self._round)
        ordered = self.workers[start:] + self.workers[:start]
        return min(ordered, key=lambda w: w.pending)

    async def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        worker = self._pick()
        worker.pending += 1
        try:
            future: "Future[T]" = asyncio.run_coroutine_threadsafe(coroutine, worker.loop)
            return await asyncio.wrap_future(future)
        finally:
            worker.pending -= 1

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        return await self._call(self.inner.handle(sender_id, text))

    async def parse(self, text: str) -> Dict[str, Any]:
        return await self._call(self.inner.parse(text))

    async def forget(self, sender_id: str) -> None:
        await self._call(self.inner.forget(sender_id))

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()


def threaded(inner: Any, threads: Optional[int]) -> Any:
    """`inner` on `threads` worker threads, or `inner` itself when threads is 0/None."""
    return ThreadedAssistant(inner, threads) if threads else inner
