"""Create or upgrade a database to the current schema by running Alembic programmatically.

Operators and tests call `migrate(url)` instead of the `alembic` command, so no `alembic.ini` has
to be found on disk and the same code path upgrades an SQLite file and a PostgreSQL database.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine
from sqlalchemy.engine import URL

from metra.store.engine import make_engine

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config() -> Config:
    """An Alembic configuration pointing at the store's migration scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def migrate(url: str | Path | URL | Engine, revision: str = "head") -> None:
    """Bring the database at `url` (or behind an engine) to `revision` (default: the newest)."""
    engine = url if isinstance(url, Engine) else make_engine(url)
    config = alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    if engine is not url:
        engine.dispose()
