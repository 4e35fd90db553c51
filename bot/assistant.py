"""The Rasa assistant behind the gateway: in-process (rasa.core.agent) by default, or a remote Rasa server."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol
from urllib.parse import quote

from bot.model import load_agent, quiet


@dataclass
class Reply:
    """One message of the assistant: text and optional buttons (title, payload)."""

    text: str = ""
    buttons: List[Dict[str, str]] = field(default_factory=list)
    custom: Dict[str, Any] = field(default_factory=dict)  # e.g. {"handoff_offer": {"route": ..., "risk": ...}}

    @classmethod
    def from_rasa(cls, message: Dict[str, Any]) -> "Reply":
        buttons = [{"title": b["title"], "payload": b["payload"]} for b in message.get("buttons") or []]
        return cls(text=message.get("text") or "", buttons=buttons, custom=dict(message.get("custom") or {}))


class Assistant(Protocol):
    async def handle(self, sender_id: str, text: str) -> List[Reply]: ...

    async def parse(self, text: str) -> Dict[str, Any]: ...

    async def forget(self, sender_id: str) -> None: ...


class InProcessAssistant:
    """The trained model loaded in this process, with an SQL tracker store and an action endpoint."""

    def __init__(self, model: Path, database_url: str, action_url: str) -> None:
        with quiet():
            from rasa.core.tracker_store import SQLTrackerStore
            from rasa.shared.core.domain import Domain
            from rasa.utils.endpoints import EndpointConfig

            self.tracker_store = sql_tracker_store(database_url, Domain.empty())
            self.agent = load_agent(model, action_endpoint=EndpointConfig(url=action_url), tracker_store=self.tracker_store)
            self.tracker_store.domain = self.agent.domain

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        messages = await self.agent.handle_text(text, sender_id=sender_id)
        return [Reply.from_rasa(m) for m in messages or []]

    async def parse(self, text: str) -> Dict[str, Any]:
        return await self.agent.parse_message(text)

    async def forget(self, sender_id: str) -> None:
        """Delete the conversation tracker of one person."""
        delete_tracker(self.tracker_store, sender_id)


def sql_tracker_store(database_url: str, domain: Any) -> Any:
    """Rasa's SQLTrackerStore on any SQLAlchemy URL (SQLite file by default)."""
    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.orm import sessionmaker

    from bot.db import sqlite_pool_options

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        store = SQLTrackerStore(domain, dialect="sqlite", db=url.database)
        pooled = create_engine(store.engine.url, **sqlite_pool_options(f"sqlite:///{url.database}"))
        store.engine.dispose()
        store.engine, store.sessionmaker = pooled, sessionmaker(bind=pooled)
        return store
    return SQLTrackerStore(
        domain,
        dialect=url.drivername,
        host=url.host,
        port=url.port,
        db=url.database,
        username=url.username,
        password=url.password,
    )


def delete_tracker(store: Any, sender_id: str) -> None:
    """Remove every stored event of `sender_id` from Rasa's SQL tracker store."""
    with store.session_scope() as session:
        session.query(store.SQLEvent).filter(store.SQLEvent.sender_id == sender_id).delete(synchronize_session=False)
        session.commit()


class RemoteAssistant:
    """A Rasa server elsewhere, reached through its REST channel and HTTP API (for scale-out)."""

    def __init__(self, base_url: str, token: Optional[str] = None) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.client = httpx.AsyncClient(timeout=30.0)
        self.params = {"token": token} if token else {}

    async def handle(self, sender_id: str, text: str) -> List[Reply]:
        response = await self.client.post(f"{self.base_url}/webhooks/rest/webhook", json={"sender": sender_id, "message": text})
        response.raise_for_status()
        return [Reply.from_rasa(m) for m in response.json()]

    async def parse(self, text: str) -> Dict[str, Any]:
        response = await self.client.post(f"{self.base_url}/model/parse", json={"text": text}, params=self.params)
        response.raise_for_status()
        return json.loads(response.text)

    async def forget(self, sender_id: str) -> None:
        response = await self.client.put(
            f"{self.base_url}/conversations/{quote(sender_id)}/tracker/events", json=[{"event": "restart"}], params=self.params
        )
        response.raise_for_status()
