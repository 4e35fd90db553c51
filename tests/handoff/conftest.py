"""Fixtures for the handoff data layer: every test runs on SQLite and on PostgreSQL (127.0.0.1:5432).

PostgreSQL: one fresh database `adempauze_test_<random>` per test run in the local cluster (trust auth,
maintenance database `test`), dropped at the end. Set TEST_POSTGRES_URL to use another server; when the
server cannot be reached the PostgreSQL tests fail with a message saying so (they never skip silently).
"""
from __future__ import annotations

import os
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable, Iterator, List

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import make_url

from bot.db import make_engine, make_sessionmaker
from bot.handoff import models
from bot.handoff.migrate import upgrade
from bot.handoff.pubsub import Broker
from bot.handoff.service import HandoffService

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _admin_connection() -> Any:
    import psycopg2

    url = make_url(POSTGRES_ADMIN_URL)
    try:
        connection = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username or "postgres",
                                      password=url.password, dbname=url.database or "test", connect_timeout=5)
    except psycopg2.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.fail(f"PostgreSQL is not reachable at {url.host}:{url.port} ({exc}). The data-layer tests need it: "
                    "start it with `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`.")
    connection.autocommit = True
    return connection


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run, dropped afterwards."""
    name = f"adempauze_test_{secrets.token_hex(4)}"
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_ADMIN_URL).set(database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'handoff.db'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def engine(database_url: str) -> Iterator[Any]:
    engine = make_engine(database_url)
    upgrade(engine)
    _wipe(engine)
    yield engine
    _wipe(engine)
    engine.dispose()


def _wipe(engine: Any) -> None:
    with engine.begin() as connection:
        for table in (models.AuditEvent, models.HandoffMessage, models.Handoff, models.StaffSession, models.Staff):
            connection.execute(delete(table))


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = models.utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(engine: Any) -> Any:
    return make_sessionmaker(engine)


@pytest.fixture
async def service(sessions: Any, clock: Clock) -> HandoffService:
    broker = Broker()
    await broker.start()
    service = HandoffService(sessions, broker, timeout_seconds=300, clock=clock)
    await service.sync_helplines()
    return service


@pytest.fixture
def make_staff(sessions: Any) -> Callable[..., int]:
    """make_staff('luisterlijn') -> staff id (role 'admin' with helpline None)."""
    counter = iter(range(1, 10_000))

    def _make(helpline_id: Any = "luisterlijn", role: str = models.ROLE_STAFF, password: str = "") -> int:
        from bot.staff.auth import hash_password

        with sessions() as session, session.begin():
            staff = models.Staff(
                email=f"staff{next(counter)}-{secrets.token_hex(3)}@example.org",
                display_name="Test",
                password_hash=hash_password(password) if password else "not-a-hash",
                helpline_id=helpline_id,
                role=role,
            )
            session.add(staff)
            session.flush()
            return int(staff.id)

    return _make


def count(sessions: Any, model: Any, **where: Any) -> int:
    from sqlalchemy import func, select

    with sessions() as session:
        query = select(func.count()).select_from(model)
        for key, value in where.items():
            query = query.where(getattr(model, key) == value)
        return int(session.execute(query).scalar_one())


def rows(sessions: Any, model: Any) -> List[Any]:
    from sqlalchemy import select

    with sessions() as session:
        return list(session.execute(select(model)).scalars())
