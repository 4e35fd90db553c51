"""`python -m bot` (`make run`): the whole bot in one process on embedded defaults.

The web app (bot/web.py) listens on HOST:PORT at once (GET /healthz says when the bot is ready); the
runtime (bot/runtime.py) starts the action server, loads the model, the gateway and Telegram. Without
TELEGRAM_TOKEN only the web app runs. SIGINT/SIGTERM stop it gracefully: no message in flight is lost.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Iterator, List, Optional

import uvicorn

from bot import logs
from bot.runtime import Extension, Runtime
from bot.settings import Settings, load_settings
from bot.web import TelegramWebhook, create_app, webhook_path

log = logging.getLogger("bot")


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime decides when and how to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def extensions(settings: Settings) -> List[Extension]:
    """Parts that plug into the runtime. Issue 5 adds the handoff, the staff console and /chat here."""
    # --- issue 5 (warm handoff): staff console at /staff, web chat at /chat when TELEGRAM_TOKEN is unset ---
    from bot.handoff.extension import HandoffExtension

    return [HandoffExtension(settings)]
    # --- end issue 5 ---


def say(line: str) -> None:
    """A line for the person who started the bot (stdout, not the log)."""
    print(line, flush=True)


async def serve(settings: Settings) -> int:
    runtime = Runtime(settings, extensions(settings))
    webhook: Optional[TelegramWebhook] = None
    if settings.telegram_token and settings.webhook_url:
        webhook = TelegramWebhook(settings.webhook_secret_token(), lambda: runtime.telegram)
    app = create_app(
        status=runtime.status,
        webhook=webhook,
        webhook_path_=webhook_path(settings.webhook_url, settings.webhook_path),
        extra_routes=runtime.routes(),
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        log_config=None,
        access_log=False,
        lifespan="off",
        ws="none",  # issue 5: no WebSockets are served (live updates use SSE); uvicorn's ws="auto" fails to import with Rasa's websockets 10.4
    )
    server = Server(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)

    web = asyncio.create_task(server.serve(), name="web")
    say(f"Adempauze starting; web app on http://{settings.host}:{settings.port} (GET /healthz)")
    if not settings.telegram_token:
        say("TELEGRAM_TOKEN is not set: Telegram is off, only the web app runs.")
    starting = asyncio.create_task(runtime.start(), name="start")
    done, _ = await asyncio.wait({starting, web, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    if starting in done and starting.exception() is None:
        mode = runtime.telegram.mode if runtime.telegram else "off"
        say(f"Adempauze ready in {runtime.ready_after:.1f} s (Telegram: {mode}). Stop with Ctrl-C.")
        await asyncio.wait({web, asyncio.create_task(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    elif starting in done:
        log.error("start-up failed (%s)", type(starting.exception()).__name__, exc_info=logs.redacted(starting.exception()))  # type: ignore[arg-type]
        code = 1
    else:
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await starting
    if web.done() and web.exception() is not None:
        log.error("web server failed (%s)", type(web.exception()).__name__)
        code = 1
    say("Adempauze stopping: finishing messages in flight ...")
    if runtime.telegram is not None:
        await runtime.telegram.stop_intake()
    server.should_exit = True
    with contextlib.suppress(Exception):
        await web
    await runtime.stop()
    say("Adempauze stopped.")
    return code


def main() -> None:
    settings = load_settings()
    logs.configure(settings.log_level, secrets=[settings.telegram_token.get(), settings.secret.get(), settings.webhook_secret.get()])
    sys.exit(asyncio.run(serve(settings)))


if __name__ == "__main__":
    main()
