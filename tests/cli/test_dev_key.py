"""The development key of ``orderclock dev``: reused while it works, replaced when it cannot be."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from cli.support import DevPaths
from db.engine import make_engine, session_scope
from db.keys import list_keys, lookup, revoke_key
from db.migrate import upgrade
from devstack.stack import ensure_dev_key


def test_dev_key_is_reused_then_replaced(tmp_path: Path) -> None:
    paths = DevPaths(tmp_path)
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    key, created = ensure_dev_key(paths, url)
    assert created and paths.dev_api_key.read_text() == key + "\n"
    assert ensure_dev_key(paths, url) == (key, False)

    engine = make_engine(url)
    try:
        with session_scope(engine) as session:
            assert revoke_key(session, "dev")
        revoked_replaced, created = ensure_dev_key(paths, url)
        assert created and revoked_replaced != key
        paths.dev_api_key.unlink()  # the plaintext is lost: only a new key helps
        lost_replaced, created = ensure_dev_key(paths, url)
        assert created and lost_replaced not in (key, revoked_replaced)
        with Session(engine) as session:
            assert [(k.name, k.role) for k in list_keys(session)] == [("dev", "admin")]
            assert lookup(session, lost_replaced) is not None
            assert lookup(session, revoked_replaced) is None
    finally:
        engine.dispose()
