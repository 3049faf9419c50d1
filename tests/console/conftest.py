"""The console against the API on a real Temporal dev server, and Debian's Chromium.

One stack for the session (the dev server in memory, a worker with the real workflows,
fake payments and email, the real read-model writer on a SQLite file, and the API app
served by uvicorn on a free port); every test makes its own orders with fresh ids.

The browser is Playwright's async API driving ``chromium`` from apt, in session fixtures
of our own (the pytest-playwright plugin's sync fixtures break the suite's async tests).
The stack's handle (``ConsoleStack``) and the Chromium check are in tests/support/console.py.
Without Chromium the browser tests skip saying why, unless ``ORDERCLOCK_REQUIRE_BROWSER=1``
(CI sets it): then they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from pydantic import SecretStr
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from activities.records import OrderRecordActivities
from api.app import create_app
from db.engine import make_engine
from db.migrate import upgrade
from tests.fixtures.devstack import free_ports
from tests.fixtures.temporal import register_search_attributes, running_worker, start_dev_server
from tests.support.api import ApiActivities, make_settings
from tests.support.console import REFUSED_EMAIL, SECRET, TIMEOUTS, ConsoleStack, require_chromium
from tests.support.fakes import FakeActivities
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner


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
