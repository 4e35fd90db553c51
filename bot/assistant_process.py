"""Run the in-process Rasa model in a child process: its own core and its own GIL.

The model's message handling (NLU, triage, policies, TensorFlow) is CPU work. In the gateway's process
it competes for one GIL with python-telegram-bot, HTTP and SQL, so one core does all the work while the
second waits (reports/bench.md). Here the gateway sends (sender, text) through a pipe to a model process
(`multiprocessing`, spawn) and awaits the replies; the model process runs many conversations at once on
its own event loop. The gateway still serialises the messages of one person.

The model process ignores SIGINT/SIGTERM: on shutdown the gateway first drains the messages in flight,
then closes the pipe, and the model process ends. If the gateway dies, the closed pipe ends it too.
If the model process dies, the calls waiting for it fail (the gateway answers with the apology and the
emergency numbers), it is logged as an error, and a new model process is started; until it is ready,
calls fail at once instead of waiting.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from bot.assistant import Reply, sql_tracker_store

log = logging.getLogger(__name__)
READY = "ready"


class AssistantProcessError(RuntimeError):
    """The model process failed a call or is gone."""


def _serve(conn: Connection, model: str, database_url: str, action_url: str, log_level: str) -> None:
    """The model process: load the model, then answer calls until the pipe closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    from bot import logs
    from bot.assistant import InProcessAssistant
    from bot.rasa_tuning import tune

    logs.configure(log_level)
    tune()
    try:
        inner = InProcessAssistant(Path(model), database_url, action_url)
    except BaseException as error:  # noqa: BLE001 - the gateway must hear why
        conn.send((READY, False, f"{type(error).__name__}: {error}"))
        raise
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    sending = threading.Lock()

    def reply(message: Tuple[Any, bool, Any]) -> None:
        with sending:
            conn.send(message)

    async def run(call_id: int, method: str, args: Tuple[Any, ...]) -> None:
        try:
            reply((call_id, True, await getattr(inner, method)(*args)))
        except Exception as error:  # noqa: BLE001 - one failed message must not end the process
            log.error("model process: %s failed (%s)", method, type(error).__name__)
            reply((call_id, False, type(error).__name__))

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                message = None
            if message is None:
                loop.call_soon_threadsafe(loop.stop)
                return
            loop.call_soon_threadsafe(lambda m=message: loop.create_task(run(*m)))

    reply((READY, True, inner.agent.domain.as_dict()))
    threading.Thread(target=read, name="model-pipe", daemon=True).start()
    loop.run_forever()


class ProcessAssistant:
    """`handle`, `parse` and `forget` of the model, run in a child process.

    `tracker_store` is this process's own view of the same SQL tracker store (for the handoff's
    pause/resume and summary, and retention), built with the model's domain. When the model process
    dies, the calls waiting for it fail and a new one is started (`restart_delay` between attempts);
    meanwhile calls fail at once, so the gateway answers with the emergency numbers instead of waiting.
    """

    def __init__(self, model: Path, database_url: str, action_url: str, log_level: str = "INFO", restart_delay: float = 5.0) -> None:
        self._args = (str(model), database_url, action_url, log_level)
        self.restart_delay = restart_delay
        self.restarts = 0
        self._ids = itertools.count()
        self._pending: Dict[int, Tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]] = {}
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._conn, self.process, domain = self._spawn()
        from rasa.shared.core.domain import Domain

        self.tracker_store = sql_tracker_store(database_url, Domain.from_dict(domain))
        self._gone = False
        self._listen()

    def _spawn(self) -> Tuple[Connection, Any, Dict[str, Any]]:
        """Start a model process and wait until its model is loaded; returns its pipe, process and domain."""
        context = multiprocessing.get_context("spawn")
        conn, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, *self._args), name="adempauze-model", daemon=True)
        process.start()
        child.close()
        try:
            _, ok, payload = conn.recv()
        except EOFError:
            payload, ok = "exited while loading", False
        if not ok:
            process.join(timeout=5)
            conn.close()
            raise AssistantProcessError(f"the model process did not start: {payload}")
        return conn, process, payload

    def _listen(self) -> None:
        reader = threading.Thread(target=self._read, args=(self._conn, self.process), name="model-replies", daemon=True)
        reader.start()

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        return await self._call("handle", sender_id, text)

    async def parse(self, text: str) -> Dict[str, Any]:
        return await self._call("parse", text)

    async def forget(self, sender_id: str) -> None:
        await self._call("forget", sender_id)

    async def _call(self, method: str, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        future: "asyncio.Future[Any]" = loop.create_future()
        with self._lock:
            if self._gone:
                raise AssistantProcessError("the model process is gone")
            call_id = next(self._ids)
            try:
                self._conn.send((call_id, method, args))
            except OSError as error:
                raise AssistantProcessError("the model process is gone") from error
            self._pending[call_id] = (loop, future)
        return await future

    def _read(self, conn: Connection, process: Any) -> None:
        """Hand each result to the coroutine waiting for it; when the process is gone, fail the waiting
        calls and start a new model process (unless we are closing)."""
        while True:
            try:
                call_id, ok, payload = conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                waiting = self._pending.pop(call_id, None)
            if waiting is not None:
                loop, future = waiting
                result: Any = payload if ok else AssistantProcessError(f"the model process: {payload}")
                loop.call_soon_threadsafe(_settle, future, result)
        with self._lock:
            self._gone = True
            pending, self._pending = list(self._pending.values()), {}
        for loop, future in pending:
            loop.call_soon_threadsafe(_settle, future, AssistantProcessError("the model process is gone"))
        if self._closing.is_set():
            return
        process.join(timeout=5)
        log.error("the model process ended (exit code %s); %d messages failed; starting a new one", process.exitcode, len(pending))
        conn.close()
        self._restart()

    def _restart(self) -> None:
        while not self._closing.is_set():
            try:
                conn, process, _ = self._spawn()
            except Exception as error:  # noqa: BLE001 - keep trying: without a model only the emergency numbers are left
                log.error("restarting the model process failed (%s); next try in %.0f s", type(error).__name__, self.restart_delay)
                self._closing.wait(self.restart_delay)
                continue
            with self._lock:
                if self._closing.is_set():
                    conn.send(None)
                    return
                self._conn, self.process, self._gone = conn, process, False
                self.restarts += 1
            log.warning("the model process was restarted")
            self._listen()
            return

    def close(self, timeout: float = 10.0) -> None:
        """Close the pipe and wait for the model process to end."""
        self._closing.set()
        with self._lock:
            self._gone = True
            try:
                self._conn.send(None)
            except OSError:
                pass
            process, conn = self.process, self._conn
        process.join(timeout)
        if process.is_alive():
            process.terminate()
            process.join(timeout)
        conn.close()
        self.tracker_store.engine.dispose()


def _settle(future: "asyncio.Future[Any]", result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)

