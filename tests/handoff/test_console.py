"""The staff console over HTTP (no browser): login, CSRF, helpline isolation, claim, transfer, close, audit."""
from __future__ import annotations

import re
from typing import Any, AsyncIterator, Tuple

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from bot.handoff import models
from bot.handoff.service import HandoffService
from bot.staff.app import StaffConsole

from tests.handoff.conftest import count, rows

PASSWORD = "correct horse battery"


@pytest.fixture
async def console(service: HandoffService) -> StaffConsole:
    return StaffConsole(service, b"test-secret")


@pytest.fixture
async def client(console: StaffConsole) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Mount("/staff", app=console.app())])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        yield client


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, sessions: Any, staff_id: int) -> str:
    with sessions() as session:
        email = session.get(models.Staff, staff_id).email
    page = await client.get("/staff/login")
    response = await client.post("/staff/login", data={"email": email, "password": PASSWORD, "csrf_token": csrf(page.text)})
    assert response.status_code == 303, response.text
    queue = await client.get("/staff/", headers={"accept": "text/html"})
    assert queue.status_code == 200
    return csrf(queue.text)


async def test_login_required_and_wrong_password(client: httpx.AsyncClient, make_staff: Any, sessions: Any) -> None:
    make_staff("luisterlijn", password=PASSWORD)
    page = await client.get("/staff/", headers={"accept": "text/html"})
    assert page.status_code == 303 and page.headers["location"].endswith("/staff/login")
    assert (await client.get("/staff/queue")).status_code == 401
    form = await client.get("/staff/login")
    bad = await client.post("/staff/login", data={"email": "nobody@example.org", "password": "x" * 10, "csrf_token": csrf(form.text)})
    assert bad.status_code == 401 and "klopt niet" in bad.text
    assert "set-cookie" not in bad.headers or "adempauze_staff=" not in bad.headers.get("set-cookie", "")


async def test_form_post_without_csrf_token_is_rejected(client: httpx.AsyncClient, service: HandoffService, make_staff: Any,
                                                        sessions: Any) -> None:
    staff = make_staff("luisterlijn", password=PASSWORD)
    handoff = await service.request("p-csrf", "web", "luisterlijn")
    # the login form itself
    with sessions() as session:
        email = session.get(models.Staff, staff).email
    assert (await client.post("/staff/login", data={"email": email, "password": PASSWORD})).status_code == 403
    token = await login(client, sessions, staff)
    # a logged-in form post without (or with a wrong) token changes nothing
    assert (await client.post(f"/staff/h/{handoff.id}/claim")).status_code == 403
    assert (await client.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": "forged"})).status_code == 403
    assert (await client.post("/staff/logout")).status_code == 403
    assert (await service.get(handoff.id)).status == models.WAITING
    assert (await client.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token})).status_code == 303
    assert (await service.get(handoff.id)).status == models.ACTIVE


async def test_de_waag_cannot_open_a_luisterlijn_handoff(client: httpx.AsyncClient, service: HandoffService, make_staff: Any,
                                                         sessions: Any) -> None:
    waag = make_staff("de_waag", password=PASSWORD)
    handoff = await service.request("p-l", "telegram", "luisterlijn", summary={"risk": "stress"})
    token = await login(client, sessions, waag)
    assert (await client.get(f"/staff/h/{handoff.id}")).status_code == 404
    assert (await client.get(f"/staff/h/{handoff.id}/messages")).status_code == 404
    assert (await client.get(f"/staff/h/{handoff.id}/events")).status_code == 404
    assert (await client.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token})).status_code == 404
    assert (await client.post(f"/staff/h/{handoff.id}/transfer", data={"csrf_token": token, "helpline_id": "de_waag"})).status_code == 404
    assert handoff.id not in (await client.get("/staff/queue")).text
    assert (await client.get("/staff/audit")).status_code == 403
    assert (await service.get(handoff.id)).status == models.WAITING


async def test_claim_chat_transfer_close_and_audit(client: httpx.AsyncClient, service: HandoffService, make_staff: Any,
                                                   sessions: Any, console: StaffConsole) -> None:
    staff = make_staff("luisterlijn", password=PASSWORD)
    admin = make_staff(None, role=models.ROLE_ADMIN, password=PASSWORD)
    handoff = await service.request("p-chat", "web", "luisterlijn", risk="tension", consent="transcript",
                                    summary={"risk": "tension", "topics": ["slapen"], "age_group": "4-12", "advised": ["Tip (Slapen): ..."]},
                                    transcript=[("person", "Hij slaapt niet"), ("bot", "Probeer een vast ritueel")])
    token = await login(client, sessions, staff)
    queue = await client.get("/staff/queue")
    assert handoff.id in queue.text and "spanning" in queue.text
    page = await client.get(f"/staff/h/{handoff.id}")
    assert page.status_code == 200
    assert "Hij slaapt niet" in page.text and "slapen" in page.text and "4-12" in page.text
    assert (await client.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token})).status_code == 303
    assert (await client.post(f"/staff/h/{handoff.id}/send", data={"csrf_token": token, "text": "Hoi, ik ben Anne <b>"})).status_code == 303
    await service.person_message(handoff.id, "Fijn dat je er bent")
    messages = await client.get(f"/staff/h/{handoff.id}/messages")
    assert "Hoi, ik ben Anne &lt;b&gt;" in messages.text and "Fijn dat je er bent" in messages.text
    # a second claim loses
    assert (await client.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token})).status_code == 409
    closed = await client.post(f"/staff/h/{handoff.id}/close", data={"csrf_token": token, "outcome": "advice", "notes": "Slaaptips gegeven"})
    assert closed.status_code == 303
    stored = await service.get(handoff.id)
    assert stored.status == models.CLOSED and stored.outcome == "advice" and stored.notes == "Slaaptips gegeven"
    assert (await client.post("/staff/logout", data={"csrf_token": token})).status_code == 303
    assert (await client.get("/staff/queue")).status_code == 401

    # the admin sees the audit log: who viewed, claimed and closed, without message text
    await login(client, sessions, admin)
    audit = await client.get("/staff/audit")
    assert audit.status_code == 200
    for label in ("bekeken", "aangenomen", "afgesloten", "ingelogd"):
        assert label in audit.text
    assert "Fijn dat je er bent" not in audit.text and "Slaaptips" not in audit.text
    assert {"view", "claim", "close", "login", "logout"} <= {e.action for e in rows(sessions, models.AuditEvent)}


async def test_transfer_moves_it_to_the_other_queue(client: httpx.AsyncClient, service: HandoffService, make_staff: Any,
                                                    sessions: Any) -> None:
    staff = make_staff("luisterlijn", password=PASSWORD)
    make_staff("veilig_thuis")
    handoff = await service.request("p-t", "telegram", "luisterlijn", risk="violence")
    token = await login(client, sessions, staff)
    response = await client.post(f"/staff/h/{handoff.id}/transfer", data={"csrf_token": token, "helpline_id": "veilig_thuis"})
    assert response.status_code == 303
    assert (await service.get(handoff.id)).helpline_id == "veilig_thuis"
    assert (await client.get(f"/staff/h/{handoff.id}")).status_code == 404  # no longer this helpline's


async def test_security_headers_and_cookie_flags(client: httpx.AsyncClient, make_staff: Any) -> None:
    page = await client.get("/staff/login")
    assert page.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "httponly" in page.headers["set-cookie"].lower() and "samesite=strict" in page.headers["set-cookie"].lower()


async def test_two_staff_click_claim_at_once_one_wins(console: StaffConsole, service: HandoffService, make_staff: Any,
                                                      sessions: Any) -> None:
    import asyncio

    app = Starlette(routes=[Mount("/staff", app=console.app())])
    one, two = make_staff("luisterlijn", password=PASSWORD), make_staff("luisterlijn", password=PASSWORD)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as a, \
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as b:
        token_a, token_b = await login(a, sessions, one), await login(b, sessions, two)
        for n in range(5):
            handoff = await service.request(f"p-race-{n}", "web", "luisterlijn")
            results = await asyncio.gather(a.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token_a}),
                                           b.post(f"/staff/h/{handoff.id}/claim", data={"csrf_token": token_b}))
            assert sorted(r.status_code for r in results) == [303, 409]
            winner = one if results[0].status_code == 303 else two
            assert (await service.get(handoff.id)).staff_id == winner
