"""A stand-alone server for the handoff browser tests: the gateway with Rasa in-process, the handoff
runtime, the staff console at /staff and the web chat at /chat (the person's side).

`python -m tests.support.handoff_server` serves on HOST:PORT with the settings from the environment. It
wires the same parts as `python -m bot` does without TELEGRAM_TOKEN (bot.gateway.Gateway with the
handoff's PersonSide as its hook, the web chat as a channel). The browser test uses `python -m bot`;
ADEMPAUZE_E2E_SERVER=stack makes it use this server instead (e.g. to tell the two apart when one fails).
"""
from __future__ import annotations

import contextlib
import logging
import os
from typing import AsyncIterator

import uvicorn
from starlette.applications import Starlette
from starlette.responses import JSONResponse, RedirectResponse
from starlette.routing import Route

from bot.action_server import ActionServer
from bot.assistant import InProcessAssistant
from bot.gateway import Gateway
from bot.handoff.runtime import HandoffRuntime
from bot.model import quiet
from bot.settings import load_settings
from bot.webchat import WebChat


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = load_settings()
    actions = ActionServer().start()
    try:
        with quiet():
            assistant = InProcessAssistant(settings.model_path, settings.database_url, actions.url)
        runtime = HandoffRuntime(settings, assistant, timeout_interval=float(os.environ.get("HANDOFF_TIMEOUT_INTERVAL", "1")))
        gateway = Gateway(assistant, hooks=[runtime.person], retention_days=settings.retention_days)
        gateway.forgetter.register("handoffs", runtime.person.forget)
        chat = WebChat(gateway.handle, settings.secret_key(), runtime.person)
        gateway.add_channel(chat)

        @contextlib.asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            await runtime.start()
            yield
            await gateway.close(10)
            await chat.shutdown()
            await runtime.stop()
            actions.stop()

        routes = [Route("/", lambda request: RedirectResponse("/chat/")), Route("/healthz", lambda request: JSONResponse({"ready": True})),
                  *runtime.routes(), chat.mount("/chat")]
        app = Starlette(routes=routes, lifespan=lifespan)
        uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", timeout_graceful_shutdown=3, ws="none")
    finally:
        actions.stop()


if __name__ == "__main__":
    main()
