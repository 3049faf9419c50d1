"""The API against the time-skipping server: the real workflow, fake side effects, SQLite.

Payments and email are fakes (``tests.support.fakes``); the read model is the real
``record_order`` activity writing a migrated SQLite file, so ``GET /orders`` reads what
the workflow recorded. The helpers these fixtures use are in tests/support/api.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.records import OrderRecordActivities
from config.settings import Settings
from db.engine import make_engine
from db.migrate import upgrade
from tests.fixtures.temporal import running_worker
from tests.support.api import ApiActivities, api_client, make_settings
from tests.support.fakes import FakeActivities
from tests.support.served import served_api
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner


@pytest.fixture(scope="session")
def api_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated SQLite read model for the API tests (orders never share ids)."""
    path: Path = tmp_path_factory.mktemp("api-db") / "orders.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()


@pytest.fixture
def settings(task_queue: str) -> Settings:
    """Settings whose task queue is this test's."""
    return make_settings(task_queue)


@pytest.fixture
def activities(api_engine: Engine) -> ApiActivities:
    """This test's activities."""
    return ApiActivities(FakeActivities(), OrderRecordActivities(api_engine))


@pytest.fixture
async def worker(
    time_env: WorkflowEnvironment, task_queue: str, activities: ApiActivities
) -> AsyncIterator[Worker]:
    """A worker with every real workflow on this test's task queue.

    It is stopped once its activities are quiet (``running_worker``): a worker shut down
    while the server hands it an activity task can hang in the SDK's shutdown.
    """
    async with running_worker(
        time_env.client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS.values()),
        workflow_runner=workflow_runner(),
        activities=activities.all(),
    ) as running:
        yield running


@pytest.fixture
async def api(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> AsyncIterator[httpx.AsyncClient]:
    """The API wired to the time-skipping server and the test read model, with an admin key."""
    async with api_client(settings, time_env.client, api_engine) as client:
        yield client


@pytest.fixture(scope="module")
def base_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The API served by uvicorn for the module, on a time-skipping Temporal server with a
    worker: the module names it (``SERVED_NAME``) and gives its admin key (``API_KEY``)."""
    name: str = request.module.SERVED_NAME
    api_key: str = request.module.API_KEY
    with served_api(tmp_path_factory.mktemp(name), key_name=name, api_key=api_key) as url:
        yield url
