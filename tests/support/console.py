"""Helpers of the console tests: the session stack's handle, its secrets, Chromium.

The fixtures that start the stack and the browser are in tests/console/conftest.py.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.client import Client

from api import gateway
from api.console.session import COOKIE, encode, new_session
from config.settings import Settings
from db.engine import session_scope
from db.keys import create_key, hash_key, revoke_key
from models.common import Actor, Role
from models.orders import ActionRequest, OrderView
from tests.support.fakes import FakeActivities
from tests.support.samples import FLOW_SAMPLES

SECRET = "console-tests-" + "s" * 32
REFUSED_EMAIL = "bounce@example.com"
REQUIRE_BROWSER = "ORDERCLOCK_REQUIRE_BROWSER"
TIMEOUTS = gateway.Timeouts(query=timedelta(seconds=30))


@dataclass
class ConsoleStack:
    """The session's stack: the API's URL, its database and Temporal client, and keys."""

    base_url: str
    engine: Engine
    client: Client
    settings: Settings
    fakes: FakeActivities
    keys: dict[str, str] = field(default_factory=dict)

    def new_key(self, role: str, tenant: str | None = None) -> tuple[str, str]:
        """A fresh key of ``role`` (of ``tenant``, if given): (name, plaintext)."""
        name = f"{role}-{uuid.uuid4().hex[:8]}"
        with session_scope(self.engine) as session:
            return name, create_key(session, name, role, tenant)

    def revoke(self, name: str) -> None:
        with session_scope(self.engine) as session:
            assert revoke_key(session, name)

    def cookie_for(self, key: str) -> dict[str, str]:
        """A valid session cookie for ``key`` (what signing in would set)."""
        return {COOKIE: encode(new_session(hash_key(key)), SECRET.encode())}

    async def start(self, flow: str, tenant: str | None = None, **changes: Any) -> OrderView:
        """A new order of ``flow`` (the flow's test sample, with ``changes``), fresh id,
        created as by a key of ``tenant``."""
        sample = FLOW_SAMPLES[flow]
        sample.prepare_database(self.engine)
        request = sample.make_request(datetime.now(UTC))
        order_id = f"con-{flow[:4]}-{uuid.uuid4().hex[:8]}"
        request = request.model_copy(update={"order_id": order_id, **changes})
        extra = sample.start_fields(datetime.now(UTC)) or None
        view, _ = await gateway.start_order(
            self.client,
            self.engine,
            self.settings,
            request,
            timeouts=TIMEOUTS,
            start_fields=extra,
            tenant=tenant,
        )
        return view

    async def act(
        self, order_id: str, action: str, role: Role, party_id: str | None, **payload: Any
    ) -> OrderView:
        request = ActionRequest(actor=Actor(role=role, id=party_id), payload=payload)
        return await gateway.run_action(self.client, order_id, action, request, timeouts=TIMEOUTS)

    async def recorded(self, order_id: str, check: Any, what: str) -> OrderView:
        """The read model's view of the order once ``check(view)`` holds."""
        from sqlmodel import Session

        from db.queries import get_order_view

        for _ in range(200):
            with Session(self.engine) as session:
                view = get_order_view(session, order_id)
            if view is not None and check(view):
                return view
            await asyncio.sleep(0.05)
        raise AssertionError(f"the read model never showed {what} for {order_id}")

    def http(self, key: str | None = None, **options: Any) -> httpx.AsyncClient:
        """An HTTP client of the console; signed in as ``key`` when given."""
        cookies = self.cookie_for(key) if key else {}
        return httpx.AsyncClient(
            base_url=self.base_url,
            cookies=cookies,
            headers={"Origin": self.base_url},
            follow_redirects=False,
            timeout=30,
            trust_env=False,
            **options,
        )


def chromium_path() -> str | None:
    """Debian's Chromium (``apt-get install chromium``), if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """Chromium's path; else skip saying why, or fail when ORDERCLOCK_REQUIRE_BROWSER=1."""
    path = chromium_path()
    if path is None:
        reason = (
            "Chromium is not installed (apt-get install -y chromium): the console's browser "
            "tests did not run"
        )
        if os.environ.get(REQUIRE_BROWSER) == "1":
            pytest.fail(f"{REQUIRE_BROWSER}=1 and {reason}")
        pytest.skip(reason)
    return path
