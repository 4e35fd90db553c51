"""The SQL database (SQLite by default, any SQLAlchemy URL via DATABASE_URL), 2.0-style on SQLAlchemy 1.4."""
from __future__ import annotations

from pathlib import Path

from typing import Any, Dict

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import declarative_base, sessionmaker
from sqlalchemy.pool import QueuePool

Base = declarative_base()


def sqlite_pool_options(url: str) -> Dict[str, Any]:
    """Keep SQLite file connections open in a pool (SQLAlchemy 1.4 opens and closes one per query, plus
    the PRAGMAs: ~15% of the gateway's CPU under load, reports/bench.md). Threads take turns per connection."""
    if not url.startswith("sqlite:///") or url.endswith(":memory:") or url == "sqlite:///":
        return {}
    return {"poolclass": QueuePool, "pool_size": 5, "max_overflow": 10, "connect_args": {"check_same_thread": False}}


def make_engine(url: str) -> Engine:
    """An engine with foreign keys enforced on SQLite, so cascades delete everything about a person."""
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, pool_pre_ping=True, **sqlite_pool_options(url))
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _enable_foreign_keys(connection, _record) -> None:  # type: ignore[no-untyped-def]
            cursor = connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker:
    """Sessions are owned by the caller: `with Session() as session, session.begin(): ...`."""
    return sessionmaker(engine, future=True, expire_on_commit=False)
