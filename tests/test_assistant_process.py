"""The model in a child process (bot.assistant_process), as `python -m bot` runs it by default."""
from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import MODEL

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def process_assistant(action_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bot.assistant_process import ProcessAssistant

    database = tmp_path_factory.mktemp("process") / "adempauze.db"
    assistant = ProcessAssistant(MODEL, f"sqlite:///{database}", action_server.url)
    yield assistant
    assistant.close()


async def test_answers_in_order_and_concurrently(process_assistant: Any) -> None:
    greeting = await process_assistant.handle("proc-a", "hallo")
    assert greeting and any(reply.text for reply in greeting)
    acute, tip = await asyncio.gather(
        process_assistant.handle("proc-b", "hij staat nu met een mes voor mijn neus"),
        process_assistant.handle("proc-c", "ik wil een tip over slapen"),
    )
    assert "112" in acute[0].text, "the acute answer starts with 112, also from the model process"
    assert tip and (tip[0].buttons or tip[0].text)
    parsed = await process_assistant.parse("mijn man slaat me")
    assert parsed["risk"] == "violence" and parsed["route"] == "veilig_thuis"


async def test_this_process_sees_and_forgets_the_same_tracker(process_assistant: Any) -> None:
    await process_assistant.handle("proc-forget", "hallo")
    tracker = await process_assistant.tracker_store.retrieve("proc-forget")
    assert tracker is not None and any(e.as_dict().get("event") == "user" for e in tracker.events)
    assert tracker.current_slot_values() is not None, "the domain came from the model process"
    await process_assistant.forget("proc-forget")
    tracker = await process_assistant.tracker_store.retrieve("proc-forget")
    assert tracker is None or not list(tracker.events)


def test_a_dead_model_process_fails_fast_and_is_restarted(action_server: Any, tmp_path: Path) -> None:
    import time

    from bot.assistant_process import AssistantProcessError, ProcessAssistant

    assistant = ProcessAssistant(MODEL, f"sqlite:///{tmp_path / 'dead.db'}", action_server.url, restart_delay=1.0)
    try:
        first = assistant.process
        os.kill(first.pid, 9)
        first.join(10)

        async def call() -> Any:
            return await asyncio.wait_for(assistant.handle("proc-dead", "hallo"), 10)

        with pytest.raises(AssistantProcessError):  # no waiting for a model that is not there
            asyncio.run(call())
        deadline = time.monotonic() + 300
        while assistant.restarts == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert assistant.restarts == 1 and assistant.process.pid != first.pid
        replies = asyncio.run(call())
        assert replies and any(reply.text for reply in replies), "the new model process answers"
    finally:
        assistant.close()
    assert not assistant.process.is_alive()
