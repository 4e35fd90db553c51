"""The ASGI app (Starlette, served by uvicorn): health, the Telegram webhook, and room for more.

Issue 5 adds the staff console and the /chat web chat to the same app and process: pass their routes
as `extra_routes`. The Telegram webhook accepts a POST only with the right X-Telegram-Bot-Api-Secret-Token
header (403 otherwise) and answers 503 while the bot starts or stops, so Telegram delivers it again.
"""
from __future__ import annotations

import hmac
import json
import logging
from typing import Any, Callable, Dict, Optional, Protocol, Sequence
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram/webhook"


class WebhookTarget(Protocol):
    accepting: bool

    async def feed(self, data: Dict[str, Any]) -> None: ...


def webhook_path(webhook_url: Optional[str], configured: Optional[str] = None) -> str:
    """WEBHOOK_PATH, else the path of WEBHOOK_URL (behind a proxy that keeps the path), else the default."""
    if configured:
        return "/" + configured.strip("/")
    path = urlsplit(webhook_url or "").path.rstrip("/")
    return path or DEFAULT_WEBHOOK_PATH


class TelegramWebhook:
    """POST endpoint for Telegram updates, checked against the secret token."""

    def __init__(self, secret_token: str, target: Callable[[], Optional[WebhookTarget]]) -> None:
        self.secret_token = secret_token.encode()
        self.target = target

    async def handle(self, request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not given or not hmac.compare_digest(given, self.secret_token):
            log.warning("webhook request with a missing or wrong secret token rejected")
            return PlainTextResponse("forbidden", status_code=403)
        target = self.target()
        if target is None or not target.accepting:
            return PlainTextResponse("not ready", status_code=503, headers={"Retry-After": "5"})
        try:
            data = json.loads(await request.body())
        except ValueError:
            return PlainTextResponse("bad request", status_code=400)
        if not isinstance(data, dict) or "update_id" not in data:
            return PlainTextResponse("bad request", status_code=400)
        await target.feed(data)
        return Response(status_code=200)


def create_app(
    *,
    status: Callable[[], Dict[str, Any]],
    webhook: Optional[TelegramWebhook] = None,
    webhook_path_: str = DEFAULT_WEBHOOK_PATH,
    extra_routes: Sequence[BaseRoute] = (),
) -> Starlette:
    """The web app: GET /healthz (200 when ready, 503 while starting), the webhook, extra routes."""

    async def health(request: Request) -> Response:
        state = status()
        return JSONResponse(state, status_code=200 if state.get("ready") else 503)

    async def root(request: Request) -> Response:
        return PlainTextResponse("Adempauze is running.\n")

    routes: list = [Route("/healthz", health, methods=["GET"]), Route("/", root, methods=["GET"])]
    if webhook is not None:
        routes.append(Route(webhook_path_, webhook.handle, methods=["POST"]))
    routes.extend(extra_routes)
    return Starlette(routes=routes)
