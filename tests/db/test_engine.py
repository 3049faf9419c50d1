"""Engine set-up: driver selection for PostgreSQL, and SQLite's directory and pragmas."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from db.engine import make_engine, normalize_url, session_scope
from db.tables import OrderRow
from db.writes import order_values
from tests.db.factories import make_view


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://u@127.0.0.1:5432/db", "postgresql+psycopg"),
        ("postgres://u@127.0.0.1/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@127.0.0.1/db", "postgresql+psycopg"),
        ("sqlite:///x.db", "sqlite"),
    ],
)
def test_normalize_url(given: str, driver: str) -> None:
    assert normalize_url(given).drivername == driver


def test_sqlite_creates_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "orders.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            assert conn.execute(sa.text("PRAGMA journal_mode")).scalar_one() == "wal"
            assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar_one() == 1
        assert path.exists()
    finally:
        engine.dispose()


def test_engine_driver_and_connection(engine: Engine, database_url: str) -> None:
    expected = "sqlite" if database_url.startswith("sqlite") else "postgresql+psycopg"
    assert engine.url.drivername == expected
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1


def test_session_scope_rolls_back_on_error(engine: Engine) -> None:
    view = make_view()
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(OrderRow(**order_values(view)))
        session.flush()
        raise RuntimeError("boom")
    with session_scope(engine) as session:
        assert session.get(OrderRow, view.order_id) is None
