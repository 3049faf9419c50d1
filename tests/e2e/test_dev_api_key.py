"""``orderclock dev`` makes an admin development key, prints it and keeps it (mode 600)."""

from __future__ import annotations

import stat

import httpx
from sqlmodel import Session

from db.engine import make_engine
from db.keys import lookup
from tests.fixtures.devstack import DevStack


def test_dev_prints_and_keeps_an_admin_key(devstack: DevStack) -> None:
    key = devstack.api_key
    assert key.startswith("ock_")
    assert key in devstack.stdout()
    assert stat.S_IMODE(devstack.paths.dev_api_key.stat().st_mode) == 0o600

    engine = make_engine(devstack.database_url)
    try:
        with Session(engine) as session:
            row = lookup(session, key)
            assert row is not None and (row.name, row.role) == ("dev", "admin")
    finally:
        engine.dispose()

    assert httpx.get(f"{devstack.api_base_url}/flows", timeout=30).status_code == 401
    answer = httpx.get(f"{devstack.api_base_url}/flows", headers=devstack.auth_headers, timeout=30)
    assert answer.status_code == 200
