"""Engines and sessions for the order database (SQLite by default, PostgreSQL in production)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session


def normalize_url(database_url: str) -> URL:
    """The URL SQLAlchemy should use: plain ``postgresql://`` goes through psycopg 3."""
    url = make_url(database_url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _sqlite_file(url: URL) -> Path | None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets the API read while a worker writes; foreign keys are off by default.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for ``database_url``; SQLite gets its directory, WAL and foreign keys."""
    url = normalize_url(database_url)
    if url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        connect_args = dict(kwargs.pop("connect_args", {}))
        # Activities use the engine from worker threads (asyncio.to_thread); the pool
        # hands each connection to one thread at a time.
        connect_args.setdefault("check_same_thread", False)
        # Wait for a concurrent writer instead of failing at once with "database is locked".
        connect_args.setdefault("timeout", 30)
        engine = sa.create_engine(url, connect_args=connect_args, **kwargs)
        sa.event.listen(engine, "connect", _on_sqlite_connect)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return sa.create_engine(url, **kwargs)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits when the block ends and rolls back if it raises."""
    with Session(engine) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
