"""The staff console: server-rendered pages in the gateway's ASGI app (mounted at /staff).

Pages: login, queue (live via Server-Sent Events), chat view (live), audit log (admins). Every form post
carries a CSRF token (403 without). A staff member sees only their helpline's handoffs (404 otherwise);
an admin sees all. JavaScript is one small file (static/console.js): it listens to the SSE streams and
swaps in server-rendered fragments.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, AsyncIterator, Deque, Dict, List, Optional, Tuple

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from bot.handoff.models import (
    ACTIVE,
    OUTCOMES,
    STAFF,
    SYSTEM,
    TRANSCRIPT_BOT,
    TRANSCRIPT_PERSON,
    WAITING,
    Handoff,
    Staff,
    utcnow,
)
from bot.handoff.service import Forbidden, HandoffError, HandoffService, NotFound
from bot.helplines import AMSTERDAM
from bot.staff.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, Sessions, csrf_ok

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent

TIER_LABELS = {
    "none": "geen signaal",
    "stress": "stress",
    "tension": "spanning",
    "violence": "geweld",
    "self_harm": "zelfdoding / zelfbeschadiging",
    "acute": "ACUUT",
}
STATUS_LABELS = {"preparing": "wordt voorbereid", "waiting": "wacht", "active": "in gesprek", "closed": "afgesloten",
                 "cancelled": "geannuleerd door persoon", "deleted": "gewist"}
CONSENT_LABELS = {"summary": "alleen samenvatting", "transcript": "samenvatting + gesprek met de bot", "none": "niets delen"}
NOTICE_LABELS = {"claimed": "Gesprek aangenomen", "transferred": "Doorgezet naar een andere hulplijn", "closed": "Gesprek afgesloten",
                 "timeout": "Persoon gemeld dat nog niemand reageerde"}
ACTION_LABELS = {"login": "ingelogd", "logout": "uitgelogd", "login_failed": "mislukte login", "view": "bekeken", "claim": "aangenomen",
                 "transfer": "doorgezet", "close": "afgesloten", "requested": "aangevraagd", "cancelled": "geannuleerd",
                 "timeout": "wachttijd verstreken", "priority": "naar boven (acuut)", "forgotten": "gewist (/vergeet)"}
KEEPALIVE_SECONDS = 15.0
# A live stream ends after this long and the browser reconnects at once (re-reading the state): the
# server never waits long for open streams when it shuts down.
STREAM_SECONDS = 20.0


def _local(moment: Optional[datetime]) -> str:
    if moment is None:
        return ""
    return moment.replace(tzinfo=timezone.utc).astimezone(AMSTERDAM).strftime("%d-%m %H:%M:%S")


def _waited(handoff: Handoff) -> str:
    if handoff.queued_at is None:
        return ""
    seconds = max(0, int((utcnow() - handoff.queued_at).total_seconds()))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} u {seconds % 3600 // 60} min"


@dataclass
class Current:
    staff: Staff
    csrf: str


class LoginThrottle:
    """At most `limit` failed logins per e-mail address or client in `window` seconds."""

    def __init__(self, limit: int = 10, window: float = 900.0) -> None:
        self.limit, self.window = limit, window
        self.failures: Dict[str, Deque[float]] = defaultdict(deque)

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            failures = self.failures[key]
            while failures and failures[0] < now - self.window:
                failures.popleft()
            if len(failures) >= self.limit:
                return True
        return False

    def fail(self, *keys: str) -> None:
        for key in keys:
            self.failures[key].append(time.monotonic())


class StaffConsole:
    def __init__(self, service: HandoffService, secret_key: bytes, *, secure_cookies: Optional[bool] = None) -> None:
        self.service = service
        self.auth = Sessions(secret_key)
        self.secure_cookies = secure_cookies
        self.throttle = LoginThrottle()
        self.closing = asyncio.Event()
        self.templates = Jinja2Templates(directory=str(HERE / "templates"))
        env = self.templates.env
        env.filters["local"] = _local
        env.filters["waited"] = _waited
        env.globals.update(TIER_LABELS=TIER_LABELS, STATUS_LABELS=STATUS_LABELS, CONSENT_LABELS=CONSENT_LABELS, OUTCOMES=OUTCOMES,
                           NOTICE_LABELS=NOTICE_LABELS, ACTION_LABELS=ACTION_LABELS, STAFF=STAFF, SYSTEM=SYSTEM,
                           TRANSCRIPT_PERSON=TRANSCRIPT_PERSON, TRANSCRIPT_BOT=TRANSCRIPT_BOT, WAITING=WAITING, ACTIVE=ACTIVE)

    # -- the ASGI app ---------------------------------------------------------------------------

    def app(self) -> Starlette:
        routes = [
            Route("/", self.queue_page, methods=["GET"]),
            Route("/login", self.login_page, methods=["GET"]),
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/queue", self.queue_fragment, methods=["GET"]),
            Route("/events", self.queue_events, methods=["GET"]),
            Route("/audit", self.audit_page, methods=["GET"]),
            Route("/h/{handoff_id}", self.handoff_page, methods=["GET"]),
            Route("/h/{handoff_id}/messages", self.messages_fragment, methods=["GET"]),
            Route("/h/{handoff_id}/events", self.handoff_events, methods=["GET"]),
            Route("/h/{handoff_id}/claim", self.claim, methods=["POST"]),
            Route("/h/{handoff_id}/transfer", self.transfer, methods=["POST"]),
            Route("/h/{handoff_id}/send", self.send, methods=["POST"]),
            Route("/h/{handoff_id}/close", self.close, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
        ]
        app = Starlette(routes=routes)
        app.add_exception_handler(HTTPException, self._http_error)  # type: ignore[arg-type]
        return _SecurityHeaders(app)  # type: ignore[return-value]

    async def shutdown(self) -> None:
        """End the live streams so the server can stop without waiting for browsers."""
        self.closing.set()

    # -- helpers ----------------------------------------------------------------------------------

    @staticmethod
    def base(request: Request) -> str:
        return request.scope.get("root_path", "").rstrip("/")

    def _secure(self, request: Request) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        proto = request.headers.get("x-forwarded-proto", request.url.scheme)
        return proto == "https"

    async def current(self, request: Request) -> Optional[Current]:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            return None

        def work() -> Optional[Current]:
            with self.service.sessions() as session:
                row = self.auth.load(session, cookie)
                return Current(row.staff, row.csrf_token) if row else None

        return await asyncio.to_thread(work)

    async def require(self, request: Request) -> Current:
        current = await self.current(request)
        if current is None:
            if request.method == "GET" and request.headers.get("accept", "").startswith("text/html"):
                raise _Redirect(f"{self.base(request)}/login")
            raise HTTPException(401, "Log eerst in.")
        return current

    async def form_with_csrf(self, request: Request, current: Current) -> Dict[str, str]:
        form = await request.form()
        if not csrf_ok(current.csrf, form.get("csrf_token")):  # type: ignore[arg-type]
            raise HTTPException(403, "Ongeldig of ontbrekend CSRF-token. Laad de pagina opnieuw.")
        return {k: str(v) for k, v in form.items()}

    def render(self, request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("base", self.base(request))
        return self.templates.TemplateResponse(request, name, context, status_code=status_code)

    async def _http_error(self, request: Request, exc: HTTPException) -> Response:
        if isinstance(exc, _Redirect):
            return RedirectResponse(exc.detail, status_code=303)
        if "text/html" in request.headers.get("accept", ""):
            return self.render(request, "error.html", status_code=exc.status_code, status=exc.status_code, message=exc.detail)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    def _redirect(self, request: Request, path: str) -> RedirectResponse:
        return RedirectResponse(f"{self.base(request)}{path}", status_code=303)

    # -- login / logout ----------------------------------------------------------------------------

    async def login_page(self, request: Request, error: str = "", status_code: int = 200) -> Response:
        cookie, token = self.auth.login_token()
        response = self.render(request, "login.html", status_code=status_code, csrf_token=token, error=error)
        response.set_cookie(LOGIN_CSRF_COOKIE, cookie, max_age=3600, httponly=True, samesite="strict",
                            secure=self._secure(request), path=self.base(request) or "/")
        return response

    async def login(self, request: Request) -> Response:
        form = await request.form()
        if not self.auth.check_login_token(request.cookies.get(LOGIN_CSRF_COOKIE), form.get("csrf_token")):  # type: ignore[arg-type]
            raise HTTPException(403, "Ongeldig of ontbrekend CSRF-token. Laad de inlogpagina opnieuw.")
        email = str(form.get("email") or "").strip().lower()
        password = str(form.get("password") or "")
        client = request.client.host if request.client else "?"
        if self.throttle.blocked(email, client):
            return await self.login_page(request, "Te veel mislukte pogingen. Probeer het over een kwartier opnieuw.", 429)

        def work() -> Optional[Tuple[str, int]]:
            with self.service.sessions() as session, session.begin():
                staff = self.auth.authenticate(session, email, password)
                if staff is None:
                    return None
                cookie, _csrf = self.auth.open(session, staff)
                self.service._audit(session, staff, "login")
                return cookie, staff.id

        result = await asyncio.to_thread(work)
        if result is None:
            self.throttle.fail(email, client)
            return await self.login_page(request, "E-mailadres of wachtwoord klopt niet.", 401)
        response = self._redirect(request, "/")
        response.set_cookie(SESSION_COOKIE, result[0], max_age=self.auth.max_age, httponly=True, samesite="strict",
                            secure=self._secure(request), path=self.base(request) or "/")
        response.delete_cookie(LOGIN_CSRF_COOKIE, path=self.base(request) or "/")
        return response

    async def logout(self, request: Request) -> Response:
        current = await self.require(request)
        await self.form_with_csrf(request, current)
        cookie = request.cookies.get(SESSION_COOKIE)

        def work() -> None:
            with self.service.sessions() as session, session.begin():
                self.auth.close(session, cookie)
                self.service._audit(session, current.staff, "logout")

        await asyncio.to_thread(work)
        response = self._redirect(request, "/login")
        response.delete_cookie(SESSION_COOKIE, path=self.base(request) or "/")
        return response

    # -- queue ------------------------------------------------------------------------------------

    async def queue_page(self, request: Request) -> Response:
        current = await self.require(request)
        handoffs = await self.service.queue(current.staff.id)
        return self.render(request, "queue.html", me=current.staff, csrf_token=current.csrf, handoffs=handoffs)

    async def queue_fragment(self, request: Request) -> Response:
        current = await self.require(request)
        handoffs = await self.service.queue(current.staff.id)
        return self.render(request, "_queue_rows.html", me=current.staff, csrf_token=current.csrf, handoffs=handoffs)

    async def _stream(self, request: Request, topic: str, wanted: Any) -> StreamingResponse:
        subscription = self.service.broker.subscribe(topic)

        async def events() -> AsyncIterator[str]:
            try:
                yield "retry: 500\n\n"
                last = time.monotonic()
                ends = last + STREAM_SECONDS
                while not self.closing.is_set() and time.monotonic() < ends:
                    event = await subscription.get(timeout=1.0)
                    if event is not None and wanted(event):
                        yield f"event: {event.get('type', 'update')}\ndata: {json.dumps(event, default=str)}\n\n"
                        last = time.monotonic()
                    elif time.monotonic() - last > KEEPALIVE_SECONDS:
                        yield ": keepalive\n\n"
                        last = time.monotonic()
                    if await request.is_disconnected():
                        break
            finally:
                subscription.close()

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(events(), media_type="text/event-stream", headers=headers)

    async def queue_events(self, request: Request) -> Response:
        current = await self.require(request)
        staff = current.staff
        return await self._stream(request, "queue", lambda e: staff.is_admin or e.get("helpline_id") == staff.helpline_id)

    # -- one handoff -----------------------------------------------------------------------------

    async def _load(self, handoff_id: str, staff: Staff, audit_view: bool = False) -> Tuple[Handoff, List[Any]]:
        try:
            return await self.service.for_staff(handoff_id, staff.id, audit_view=audit_view)
        except NotFound:
            raise HTTPException(404, "Deze aanvraag bestaat niet of hoort niet bij jouw hulplijn.")
        except Forbidden:
            raise HTTPException(403, "Geen toegang.")

    async def handoff_page(self, request: Request) -> Response:
        current = await self.require(request)
        handoff, messages = await self._load(request.path_params["handoff_id"], current.staff, audit_view=True)
        lines = [i for i in await self.service.handoff_lines() if i != handoff.helpline_id]
        return self.render(request, "handoff.html", me=current.staff, csrf_token=current.csrf, h=handoff, messages=messages,
                           transfer_lines=[(i, self.service._line_name(i)) for i in lines],
                           line_name=self.service._line_name(handoff.helpline_id))

    async def messages_fragment(self, request: Request) -> Response:
        current = await self.require(request)
        handoff, messages = await self._load(request.path_params["handoff_id"], current.staff)
        return self.render(request, "_messages.html", me=current.staff, h=handoff, messages=messages,
                           line_name=self.service._line_name(handoff.helpline_id))

    async def handoff_events(self, request: Request) -> Response:
        current = await self.require(request)
        handoff_id = request.path_params["handoff_id"]
        await self._load(handoff_id, current.staff)
        return await self._stream(request, f"handoff:{handoff_id}", lambda e: True)

    async def claim(self, request: Request) -> Response:
        current = await self.require(request)
        await self.form_with_csrf(request, current)
        handoff_id = request.path_params["handoff_id"]
        await self._load(handoff_id, current.staff)
        if not await self.service.claim(handoff_id, current.staff.id):
            raise HTTPException(409, "Iemand anders heeft deze aanvraag al aangenomen (of de persoon heeft geannuleerd).")
        return self._redirect(request, f"/h/{handoff_id}")

    async def transfer(self, request: Request) -> Response:
        current = await self.require(request)
        form = await self.form_with_csrf(request, current)
        handoff_id = request.path_params["handoff_id"]
        await self._load(handoff_id, current.staff)
        try:
            await self.service.transfer(handoff_id, current.staff.id, form.get("helpline_id", ""))
        except NotFound:
            raise HTTPException(404, "Niet gevonden.")
        except HandoffError as exc:
            raise HTTPException(409, f"Doorzetten lukt nu niet ({exc}).")
        return self._redirect(request, "/")

    async def send(self, request: Request) -> Response:
        current = await self.require(request)
        form = await self.form_with_csrf(request, current)
        handoff_id = request.path_params["handoff_id"]
        await self._load(handoff_id, current.staff)
        text = form.get("text", "").strip()
        if text:
            try:
                await self.service.staff_message(handoff_id, current.staff.id, text[:4000])
            except Forbidden:
                raise HTTPException(403, "Neem de aanvraag eerst aan.")
            except HandoffError as exc:
                raise HTTPException(409, str(exc))
        if request.headers.get("x-requested-with") == "fetch":  # the page's script: no reload (and no extra 'view')
            return Response(status_code=204)
        return self._redirect(request, f"/h/{handoff_id}")

    async def close(self, request: Request) -> Response:
        current = await self.require(request)
        form = await self.form_with_csrf(request, current)
        handoff_id = request.path_params["handoff_id"]
        await self._load(handoff_id, current.staff)
        try:
            await self.service.close(handoff_id, current.staff.id, form.get("outcome", ""), form.get("notes", "")[:4000])
        except Forbidden:
            raise HTTPException(403, "Alleen wie de aanvraag aannam, kan hem afsluiten.")
        except HandoffError as exc:
            raise HTTPException(400, f"Afsluiten lukt niet: {exc}")
        return self._redirect(request, f"/h/{handoff_id}")

    # -- audit --------------------------------------------------------------------------------------

    async def audit_page(self, request: Request) -> Response:
        current = await self.require(request)
        if not current.staff.is_admin:
            raise HTTPException(403, "Alleen beheerders zien het auditlog.")
        events = await self.service.audit_log()
        return self.render(request, "audit.html", me=current.staff, csrf_token=current.csrf, events=events)


class _Redirect(HTTPException):
    def __init__(self, location: str) -> None:
        super().__init__(303, location)


class _SecurityHeaders:
    """No framing, no sniffing, scripts only from this origin, nothing cached."""

    HEADERS = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (b"content-security-policy", b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                     b"frame-ancestors 'none'; form-action 'self'"),
    ]

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k for k, _ in headers}
                headers += [(k, v) for k, v in self.HEADERS if k not in names]
                if b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
