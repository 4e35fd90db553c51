"""Run the Alembic migrations (alembic.ini + migrations/ at the repository root) programmatically."""
from __future__ import annotations

from typing import Optional

from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT


def alembic_config(database_url: Optional[str] = None):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    config.attributes["configure_logging"] = False
    if database_url:
        config.attributes["database_url"] = database_url
    return config


def upgrade(engine_or_url: "Engine | str", revision: str = "head") -> None:
    """Bring the handoff tables up to `revision` (idempotent)."""
    from alembic import command

    if isinstance(engine_or_url, str):
        command.upgrade(alembic_config(engine_or_url), revision)
        return
    with engine_or_url.begin() as connection:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current(engine: Engine) -> Optional[str]:
    from alembic.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()
