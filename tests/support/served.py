"""The API served by uvicorn over HTTP, on a time-skipping Temporal server with a worker.

For tests whose client is another program (schemathesis, a generated client): the worker
runs every flow's workflow with fake payments and email, the read model is a migrated
SQLite file, and the database holds an admin key and what every flow's sample needs (the
sample account).
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from sqlalchemy import Engine

from activities.records import OrderRecordActivities
from api.app import create_app
from db.engine import make_engine, session_scope
from db.keys import hash_key
from db.migrate import upgrade
from db.tables import ApiKeyRow
from tests.fixtures.temporal import running_worker, start_time_skipping
from tests.support.api import ApiActivities, make_settings
from tests.support.fakes import FakeActivities
from tests.support.samples import FLOW_SAMPLES
from tests.support.telemetry import free_port
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

T = TypeVar("T")


class _Loop:
    """An event loop of its own in a thread: the Temporal server, worker and uvicorn run there.

    The clients are synchronous; the worker and the API must keep running while a test
    waits for an answer, so they cannot live on the test session's (idle) loop.
    """

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def _store_key(engine: Engine, name: str, key: str) -> None:
    with session_scope(engine) as session:
        session.add(
            ApiKeyRow(name=name, role="admin", key_hash=hash_key(key), created_at=datetime.now(UTC))
        )


@contextmanager
def served_api(directory: Path, *, key_name: str, api_key: str) -> Iterator[str]:
    """The API's base URL while it serves; ``api_key`` is an admin key of its database."""
    path = directory / "orders.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    _store_key(engine, key_name, api_key)
    for sample in FLOW_SAMPLES.values():
        sample.prepare_database(engine)  # e.g. the sample account, so account orders can start
    task_queue = f"tq-{uuid.uuid4()}"
    # The real read-model writer, so GET /orders lists what the clients created.
    activities = ApiActivities(FakeActivities(), OrderRecordActivities(engine)).all()
    port = free_port()
    loop = _Loop()
    stack = AsyncExitStack()

    async def start() -> None:
        env = await start_time_skipping()
        stack.push_async_callback(env.shutdown)
        await stack.enter_async_context(
            running_worker(
                env.client,
                task_queue=task_queue,
                workflows=list(WORKFLOWS.values()),
                activities=activities,
                workflow_runner=workflow_runner(),
            )
        )
        # A callback secret, so the Salesforce callback answers (401) instead of 503.
        # The served API's clients (schemathesis) try wrong keys on every operation and expect
        # their 401 each time; the wrong-key limit (429) has its own test_wrong_key_limit.py.
        settings = make_settings(
            task_queue, salesforce_callback_secret="sf-served", api_wrong_keys_per_minute=0
        )
        app = create_app(settings, temporal_client=env.client, engine=engine)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
        )
        serving = asyncio.create_task(server.serve())

        async def stop() -> None:
            server.should_exit = True
            await serving

        stack.push_async_callback(stop)
        # A bound for a server that hangs while starting, not a speed check.
        deadline = asyncio.get_running_loop().time() + 120
        while not server.started:
            assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
            if serving.done():
                serving.result()  # raises why it could not start
            await asyncio.sleep(0.02)

    try:
        loop.run(start())
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.run(stack.aclose())
        loop.close()
        engine.dispose()
