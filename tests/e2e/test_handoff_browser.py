"""The whole warm handoff in headless Chromium: a person in the web chat asks for a person; a Luisterlijn
staff member logs in, sees the request appear in the queue without reloading, claims it and replies; the
person gets the reply and answers; the server restarts in the middle and nothing is lost; staff close it;
the bot resumes (ConversationResumed in the Rasa tracker) and asks for a rating.

Needs the trained model (models/adempauze.tar.gz) and Debian's chromium (scripts/install_browser.sh).
"""
from __future__ import annotations

import sqlite3
from typing import Any, Optional

import pytest

from tests.e2e.conftest import Server, demo_credentials, screenshot_dir

pytestmark = [pytest.mark.model, pytest.mark.slow]
TIMEOUT = 60_000  # ms: the first answer of the model can be slow on a busy machine


async def shot(page: Any, name: str) -> None:
    directory = screenshot_dir()
    if directory is not None:
        await page.screenshot(path=str(directory / f"{name}.png"))


async def staff_login(page: Any, server: Server, email: str, password: str) -> None:
    await page.goto(f"{server.url}/staff/login")
    await page.fill("input[name=email]", email)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await page.wait_for_selector("#queue-rows")


async def click_button(page: Any, text: str) -> None:
    button = page.locator(".buttons button:not([disabled])", has_text=text).last
    await button.wait_for(timeout=TIMEOUT)
    await button.click()


async def person_says(page: Any, text: str) -> None:
    await page.fill("#text", text)
    await page.press("#text", "Enter")


async def wait_text(page: Any, selector: str, text: str, timeout: int = TIMEOUT) -> None:
    await page.locator(selector, has_text=text).first.wait_for(timeout=timeout)


def tracker_events(db: str) -> list:
    with sqlite3.connect(db) as connection:
        return [row[0] for row in connection.execute("SELECT type_name FROM events ORDER BY id")]


async def test_person_to_staff_and_back(server: Server, browser: Any) -> None:
    accounts = demo_credentials(server.cli("demo-seed"))
    server.start()
    db = server.env["DATABASE_URL"][len("sqlite:///"):]
    staff_context = await browser.new_context(viewport={"width": 1280, "height": 860})
    person_context = await browser.new_context(viewport={"width": 820, "height": 860})
    staff = await staff_context.new_page()
    person = await person_context.new_page()

    # the staff member of De Luisterlijn logs in: the queue is empty
    await staff_login(staff, server, *accounts["luisterlijn"])
    await wait_text(staff, "#queue-rows", "Niemand wacht")
    await staff.evaluate("window.__notReloaded = true")
    await shot(staff, "05-staff-queue-empty")

    # the person opens the web chat and asks for a person
    await person.goto(f"{server.url}/chat/")
    await person.locator(".msg.bot").first.wait_for(timeout=TIMEOUT)
    await person_says(person, "Ik wil graag met een mens praten")
    await click_button(person, "Luisterlijn")
    await shot(person, "01-person-asks-for-a-person")
    await click_button(person, "Alleen een samenvatting")
    await click_button(person, "Ja, anoniem")
    await wait_text(person, ".msg.bot", "Zal ik je doorverbinden?")
    await shot(person, "02-person-consent-and-wait")
    await click_button(person, "Ja, verbind me door")
    await wait_text(person, ".msg.bot", "Je staat in de wachtrij van De Luisterlijn")

    # it appears in the staff queue without a reload
    claim = staff.locator("#queue-rows button.claim")
    await claim.wait_for(timeout=TIMEOUT)
    assert await staff.evaluate("window.__notReloaded === true"), "the queue page was reloaded"
    await shot(staff, "06-staff-queue-live")
    await claim.click()
    await staff.wait_for_selector("#send-form")
    await wait_text(person, ".msg.bot", "Een medewerker van De Luisterlijn is er nu voor je")

    # staff reply -> person; person answer -> staff (live, no reload)
    await staff.evaluate("window.__chatNotReloaded = true")
    await staff.fill("#send-form textarea", "Hoi, ik ben Sam van De Luisterlijn. Fijn dat je er bent. Hoe gaat het nu?")
    await staff.click("#send-form button[type=submit]")
    await wait_text(person, ".msg.staff", "Hoi, ik ben Sam van De Luisterlijn")
    await person_says(person, "Eerlijk gezegd ben ik heel moe en kort van stof tegen de kinderen.")
    await wait_text(staff, "#messages .msg.person", "heel moe en kort van stof")
    assert await staff.evaluate("window.__chatNotReloaded === true")
    await shot(person, "03-person-chats-with-staff")
    await shot(staff, "07-staff-chat")

    # the process restarts in the middle of the conversation: nothing is lost, on either side
    server.stop()
    server.start()
    await staff.reload()
    await wait_text(staff, "#messages .msg.person", "heel moe en kort van stof")
    await wait_text(staff, "#messages .msg.staff", "Hoi, ik ben Sam")
    await staff.fill("#send-form textarea", "Ik ben er nog. Wat zou je nu het meest helpen?")
    await staff.click("#send-form button[type=submit]")
    await wait_text(person, ".msg.staff", "Ik ben er nog", timeout=TIMEOUT)  # the open page reconnected by itself
    await person.reload()  # a reload shows the conversation with the staff member again
    await wait_text(person, ".msg.staff", "Hoi, ik ben Sam")
    await wait_text(person, ".msg.me", "heel moe en kort van stof")
    await person_says(person, "Even vijf minuten voor mezelf, denk ik.")
    await wait_text(staff, "#messages .msg.person", "vijf minuten voor mezelf")

    # staff close the handoff: the person is told, the bot resumes and asks for a rating
    await staff.select_option("#close-form select[name=outcome]", "advice")
    await staff.fill("#close-form textarea[name=notes]", "Moeheid, tips over rustmomenten gegeven.")
    await staff.click("#close-form button[type=submit]")
    await wait_text(staff, "aside", "Afgesloten")
    await wait_text(person, ".msg.bot", "heeft het gesprek afgesloten")
    await person.get_by_role("button", name="😊 Goed", exact=True).click()
    await wait_text(person, ".msg.bot", "Dank je wel")
    await shot(person, "04-person-back-with-the-bot")
    assert "resume" in tracker_events(db), "ConversationResumed was not appended to the tracker"
    bot_messages = await person.locator(".msg.bot").count()
    await person_says(person, "Heb je een tip over slapen?")
    await person.locator(".msg.bot").nth(bot_messages).wait_for(timeout=TIMEOUT)  # the assistant answers again
    assert await person.locator(".msg.staff").count() == 2

    # the admin sees the audit trail
    admin_context = await browser.new_context(viewport={"width": 1280, "height": 860})
    admin = await admin_context.new_page()
    await staff_login(admin, server, *accounts["admin"])
    await admin.goto(f"{server.url}/staff/audit")
    for action in ("aangenomen", "bekeken", "afgesloten"):
        await wait_text(admin, "table.audit", action)
    await shot(admin, "08-admin-audit-log")
