"""Chat with Adempauze in the terminal (`python -m bot.shell`): same model, actions and tracker store.

Buttons are shown as numbers; type the number to press one. /hulp lists the emergency numbers, /stop ends.
"""
from __future__ import annotations

import asyncio
import getpass
import sys
import textwrap
from typing import Dict, List

from bot.action_server import ActionServer
from bot.assistant import InProcessAssistant, Reply
from bot.helplines import catalogue
from bot.model import quiet
from bot.privacy import pseudonym
from bot.settings import load_settings

WIDTH = 78


def show(replies: List[Reply]) -> Dict[str, str]:
    """Print replies; return the number -> payload map of the last buttons."""
    choices: Dict[str, str] = {}
    for reply in replies:
        if reply.text:
            for paragraph in reply.text.split("\n"):
                print(textwrap.fill(paragraph, WIDTH, initial_indent="  ", subsequent_indent="  ") if paragraph else "")
        if reply.buttons:
            choices = {str(i): b["payload"] for i, b in enumerate(reply.buttons, 1)}
            print("  " + "   ".join(f"[{i}] {b['title']}" for i, b in enumerate(reply.buttons, 1)))
        if reply.custom.get("handoff_offer"):
            print("  (In Telegram en in de webchat verbind ik je hier door met een hulpverlener.)")
    return choices


async def chat() -> None:
    settings = load_settings()
    print("Adempauze in de terminal. Typ je bericht; /hulp voor noodnummers, /stop om te stoppen.\n")
    with quiet(), ActionServer() as actions:
        assistant = InProcessAssistant(settings.model_path, settings.database_url, actions.url)
        sender = pseudonym(settings.secret_key(), "cli", getpass.getuser())
        choices = show(await assistant.handle(sender, "/greet"))
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            text = line.strip()
            if text in ("/stop", "/quit", "/exit"):
                print("  Tot ziens. Zorg goed voor jezelf.")
                break
            if text == "/hulp":
                print(textwrap.indent(catalogue().emergency_list(), "  "))
                continue
            if not text:
                continue
            print()
            choices = show(await assistant.handle(sender, choices.get(text, text))) or choices
            print()


if __name__ == "__main__":
    try:
        asyncio.run(chat())
    except KeyboardInterrupt:
        print()
