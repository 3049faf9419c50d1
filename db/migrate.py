"""Schema migrations: ``alembic upgrade head`` without an alembic.ini."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

import db.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config for ``database_url``, pointing at ``db/migrations``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    # Through attributes, not "sqlalchemy.url": the ini parser would choke on a '%' in a password.
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at ``database_url`` to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    """The newest revision in ``db/migrations``."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database behind ``engine`` is at, or None if never migrated."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_diff(engine: Engine) -> list[Any]:
    """Differences between the table models and the migrated database; empty means they agree."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))
