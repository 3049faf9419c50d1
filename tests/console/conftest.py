"""The console against the API on a real Temporal dev server, and Debian's Chromium.

One stack for the session (the dev server in memory, a worker with the real workflows,
fake payments and email, the real read-model writer on a SQLite file, and the API app
served by uvicorn on a free port); every test makes its own orders with fresh ids.

The browser is Playwright's async API driving ``chromium`` from apt, in session fixtures
of our own (the pytest-playwright plugin's sync fixtures break the suite's async tests).
Without Chromium the browser tests skip saying why, unless ``ORDERCLOCK_REQUIRE_BROWSER=1``
(CI sets it): then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.records import OrderRecordActivities
from api import gateway
from api.app import create_app
from api.console.session import COOKIE, encode, new_session
from config.settings import Settings
from db.engine import make_engine, session_scope
from db.keys import create_key, hash_key, revoke_key
from db.migrate import upgrade
from models.common import Actor, Role
from models.orders import ActionRequest, OrderView
from tests.api.conftest import ApiActivities, make_settings
from tests.fakes import FakeActivities
from tests.fixtures.devstack import free_ports
from tests.fixtures.temporal import register_search_attributes, running_worker, start_dev_server
from tests.flows import FLOW_SAMPLES
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

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


@pytest.fixture(scope="session")
async def console_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ConsoleStack]:
    env: WorkflowEnvironment = await start_dev_server(data_converter=pydantic_data_converter)
    async with env:
        await register_search_attributes(env.client)
        path: Path = tmp_path_factory.mktemp("console-db") / "orders.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        engine = make_engine(url)
        task_queue = f"console-{uuid.uuid4().hex[:8]}"
        settings = make_settings(
            task_queue,
            database_url=url,
            console_secret=SecretStr(SECRET),
            console_cookie_secure=False,
            api_key_cache_seconds=1,
            temporal_web_ui_url="http://127.0.0.1:8233",
        )
        fakes = FakeActivities()
        fakes.refused_addresses.add(REFUSED_EMAIL)
        activities = ApiActivities(fakes, OrderRecordActivities(engine))
        (port,) = free_ports(1)
        app = create_app(settings, temporal_client=env.client, engine=engine, timeouts=TIMEOUTS)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
        )
        async with running_worker(
            env.client,
            task_queue=task_queue,
            workflows=list(WORKFLOWS.values()),
            workflow_runner=workflow_runner(),
            activities=activities.all(),
        ):
            serving = asyncio.create_task(server.serve())
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.02)
            stack = ConsoleStack(
                base_url=f"http://127.0.0.1:{port}",
                engine=engine,
                client=env.client,
                settings=settings,
                fakes=fakes,
            )
            for role in ("support", "admin", "service"):
                stack.keys[role] = stack.new_key(role)[1]
            try:
                yield stack
            finally:
                server.should_exit = True
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(serving, 10)
        engine.dispose()


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


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Chromium under Playwright; skipped without it, unless ORDERCLOCK_REQUIRE_BROWSER=1."""
    path = require_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()
