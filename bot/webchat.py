"""A web chat for the person's side (/chat), for trying Adempauze without Telegram.

It is a second channel of the same gateway (bot.gateway.Gateway): a message posted here becomes an
`Incoming` exactly like a Telegram update, and every answer (the bot's, and later the staff member's
through the handoff) reaches the browser over Server-Sent Events.

The browser gets a random id in a signed, HttpOnly cookie; the person id is its HMAC pseudonym (as for
Telegram). Posts must be JSON with the page's token (a cross-site form cannot send that).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import deque
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable, Deque, Dict, List, Optional, Sequence

from itsdangerous import BadSignature, Signer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.assistant import Reply
from bot.privacy import pseudonym

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
COOKIE = "adempauze_chat"
CHANNEL = "web"
BUFFER = 50  # answers kept in memory for a browser that is (re)connecting
STREAM_SECONDS = 20.0
Submit = Callable[[Any], Awaitable[Any]]  # Gateway.handle(Incoming)


def reply_json(reply: Reply) -> Dict[str, Any]:
    return {"text": reply.text, "buttons": [{"title": b["title"], "payload": b["payload"]} for b in reply.buttons],
            "from_staff": reply.text.startswith("👤 Medewerker")}


class WebChat:
    """The web channel: `name`, `send`, `typing`, `clear_keyboards` as bot.gateway.Channel, plus the pages."""

    name = CHANNEL

    def __init__(self, submit: Submit, secret_key: bytes, person_side: Any = None, *, secure_cookies: Optional[bool] = None) -> None:
        self.submit = submit
        self.secret_key = secret_key
        self.signer = Signer(secret_key, salt="adempauze-webchat")
        self.person_side = person_side
        self.secure_cookies = secure_cookies
        self.streams: Dict[str, List["asyncio.Queue[Dict[str, Any]]"]] = {}
        self.buffers: Dict[str, Deque[Dict[str, Any]]] = {}
        self.closing = asyncio.Event()
        if person_side is not None:
            person_side.register_channel(CHANNEL, self.send_connected)

    # -- the gateway's channel interface ------------------------------------------------------------

    def _push(self, address: str, item: Dict[str, Any]) -> bool:
        queues = self.streams.get(address) or []
        for queue in queues:
            queue.put_nowait(item)
        return bool(queues)

    async def send(self, address: str, replies: Sequence[Reply]) -> bool:
        """The bot's answers: to the open page, or kept briefly until the page (re)connects."""
        for reply in replies:
            item = reply_json(reply)
            if not self._push(address, item):
                self.buffers.setdefault(address, deque(maxlen=BUFFER)).append(item)
        return True

    async def send_connected(self, address: str, replies: Sequence[Reply]) -> bool:
        """Staff messages and handoff notices: only to an open page; otherwise they stay pending in the
        database and are delivered when the page connects again (also after a restart)."""
        if not self.streams.get(address):
            return False
        for reply in replies:
            self._push(address, reply_json(reply))
        return True

    async def typing(self, address: str) -> None:
        self._push(address, {"typing": True})

    async def clear_keyboards(self, address: str) -> None:
        self._push(address, {"clear_keyboards": True})

    # -- ASGI app -------------------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/", self.page, methods=["GET"]),
            Route("/send", self.post, methods=["POST"]),
            Route("/events", self.events, methods=["GET"]),
            Route("/history", self.history, methods=["GET"]),
            Mount("/static", app=StaticFiles(directory=str(HERE / "webchat_static")), name="static"),
        ])

    def mount(self, path: str = "/chat") -> Mount:
        return Mount(path, app=self.app())

    async def shutdown(self) -> None:
        self.closing.set()

    def _client_id(self, request: Request) -> Optional[str]:
        cookie = request.cookies.get(COOKIE)
        if not cookie:
            return None
        try:
            return self.signer.unsign(cookie).decode()
        except BadSignature:
            return None

    def _token(self, client_id: str) -> str:
        return hmac.new(self.secret_key, f"webchat-token:{client_id}".encode(), hashlib.sha256).hexdigest()[:32]

    def person_id(self, client_id: str) -> str:
        return pseudonym(self.secret_key, CHANNEL, client_id)

    def _secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return request.headers.get("x-forwarded-proto", request.url.scheme) == "https"

    async def page(self, request: Request) -> Response:
        client_id = self._client_id(request)
        new = client_id is None
        if client_id is None:
            client_id = secrets.token_urlsafe(18)
        base = request.scope.get("root_path", "").rstrip("/")
        html = (HERE / "webchat_static" / "chat.html").read_text(encoding="utf-8")
        html = html.replace("{{base}}", base).replace("{{token}}", self._token(client_id)).replace("{{new}}", "1" if new else "0")
        response = HTMLResponse(html, headers={
            "cache-control": "no-store", "x-frame-options": "DENY", "referrer-policy": "no-referrer",
            "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'"})
        if new:
            response.set_cookie(COOKIE, self.signer.sign(client_id).decode(), max_age=30 * 86400, httponly=True, samesite="strict",
                                secure=self._secure(request), path=base or "/")
        return response

    async def post(self, request: Request) -> Response:
        client_id = self._client_id(request)
        if client_id is None:
            return JSONResponse({"error": "Laad de pagina opnieuw."}, status_code=401)
        if not request.headers.get("content-type", "").startswith("application/json"):
            return JSONResponse({"error": "JSON verwacht"}, status_code=415)
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"error": "ongeldige JSON"}, status_code=400)
        if not hmac.compare_digest(str(body.get("token", "")), self._token(client_id)):
            return JSONResponse({"error": "ongeldig token"}, status_code=403)
        text = str(body.get("text") or "").strip()[:4000]
        if not text:
            return JSONResponse({"ok": True})
        from bot.gateway import BUTTON, TEXT, Incoming

        incoming = Incoming(channel=CHANNEL, person_id=self.person_id(client_id), address=client_id, text=text,
                            kind=BUTTON if body.get("button") else TEXT)
        try:
            await self.submit(incoming)
        except Exception:  # noqa: BLE001 - the gateway answers failures itself; this is a closed gateway
            log.error("web chat: the gateway did not take the message")
            return JSONResponse({"error": "Even geen verbinding met Adempauze. Bij gevaar: bel 112."}, status_code=503)
        return JSONResponse({"ok": True})

    async def history(self, request: Request) -> Response:
        """The open handoff's messages, so a reload (or a server restart) shows the chat with the staff member again."""
        client_id = self._client_id(request)
        if client_id is None or self.person_side is None:
            return JSONResponse({"messages": []})
        service = self.person_side.service
        handoff = await service.open_for(self.person_id(client_id))
        if handoff is None or handoff.status == "preparing":
            return JSONResponse({"messages": []})
        rows = await service.person_history(handoff.id)
        name = service._line_name(handoff.helpline_id)
        messages = []
        for sender, text in rows:
            if sender == "person":
                messages.append({"text": text, "mine": True})
            elif sender == "staff":
                messages.append({"text": f"👤 Medewerker {name}:\n{text}", "from_staff": True})
        return JSONResponse({"messages": messages, "status": handoff.status, "helpline": name})

    async def events(self, request: Request) -> Response:
        client_id = self._client_id(request)
        if client_id is None:
            return JSONResponse({"error": "Laad de pagina opnieuw."}, status_code=401)
        queue: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()
        self.streams.setdefault(client_id, []).append(queue)
        person_id = self.person_id(client_id)

        async def stream() -> AsyncIterator[str]:
            try:
                yield "retry: 500\n\n"
                for item in self.buffers.pop(client_id, ()):
                    yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
                if self.person_side is not None:  # whatever the staff wrote while this page was closed
                    service = self.person_side.service
                    recent = await service.recent_for(person_id)
                    if recent is not None:
                        await service.set_address(recent.id, client_id)
                        await self.person_side.deliver_pending(recent.id)
                last = time.monotonic()
                ends = last + STREAM_SECONDS  # the browser reconnects at once; shutdown never waits long
                while not self.closing.is_set() and time.monotonic() < ends:
                    try:
                        item = await asyncio.wait_for(queue.get(), 1.0)
                        yield f"data: {json.dumps(item, ensure_ascii=False)}\n\n"
                        last = time.monotonic()
                    except asyncio.TimeoutError:
                        if time.monotonic() - last > 15:
                            yield ": keepalive\n\n"
                            last = time.monotonic()
                    if await request.is_disconnected():
                        break
            finally:
                queues = self.streams.get(client_id, [])
                if queue in queues:
                    queues.remove(queue)
                if not queues:
                    self.streams.pop(client_id, None)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"})
