"""Fixtures of the telemetry tests (their helpers are in tests/support/telemetry.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from db.engine import make_engine
from db.migrate import upgrade


@pytest.fixture
def read_model(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite read model of this test's own."""
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()
