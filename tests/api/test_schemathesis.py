"""Schemathesis against the API's own OpenAPI document, on a real Temporal server.

Every operation the document lists (whatever routes exist when this runs) gets its schema
examples, the coverage phase's boundary and negative values (odd path characters, wrong
types, missing and repeated parameters, other methods and content types) and fuzzing,
sent over HTTP to the API served by uvicorn. The API is wired to a time-skipping Temporal
server, a worker with every flow's workflow (fake payments and email) and a migrated
SQLite read model. Schemathesis's default checks: no 5xx, statuses, content types,
headers and bodies as documented, invalid data rejected and valid data accepted (but for a
refusal by a rule no schema can say, see ``_refused_by_rule``), the API key enforced; and
ours: without a key, every request a key-protected route receives is a 401 saying what to
send.

Bounded and reproducible: ``EXAMPLES`` fuzzed cases per operation, derandomised (the same
requests every run); about 500 requests in a few seconds.
"""

from __future__ import annotations

import asyncio
import re
import threading
import uuid
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit
from zoneinfo import available_timezones

import pytest
import requests
import schemathesis
import uvicorn
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import CheckContext, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import Engine

from activities.records import OrderRecordActivities
from api.app import create_app
from db.engine import make_engine, session_scope
from db.keys import hash_key
from db.migrate import upgrade
from db.tables import ApiKeyRow
from models.business_days import country_codes
from models.dealer import COUNTRY_FORMAT
from models.orders import TIME_ZONE_FORMAT
from tests.api.conftest import ApiActivities, make_settings
from tests.fakes import FakeActivities
from tests.fixtures.temporal import running_worker, start_time_skipping
from tests.flows import FLOW_SAMPLES
from tests.telemetry.conftest import free_port
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

T = TypeVar("T")

EXAMPLES = 20
"""Fuzzed cases per operation (the examples and coverage phases add their own)."""

# A fixed admin key, stored by the fixture: schemathesis sends it as the document's
# HTTPBearer scheme, so it knows which requests carry valid credentials.
API_KEY = "ock_schemathesis-admin-key"

# The document is the app's own: built without Temporal or a database (nothing is called).
APP = create_app(make_settings("openapi-only"))
schema = schemathesis.openapi.from_dict(
    APP.openapi(),
    config=schemathesis.Config.from_dict(
        {"auth": {"openapi": {"HTTPBearer": {"bearer": API_KEY}}}}
    ),
)
# The formats of orderclock's own: time zone names and holiday-calendar countries.
schemathesis.openapi.format(TIME_ZONE_FORMAT, st.sampled_from(sorted(available_timezones())))
schemathesis.openapi.format(COUNTRY_FORMAT, st.sampled_from(country_codes()))


class _Loop:
    """An event loop of its own in a thread: the Temporal server, worker and uvicorn run there.

    Schemathesis's tests are synchronous; the worker and the API must keep running while
    a test waits for an answer, so they cannot live on the test session's (idle) loop.
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


def _store_key(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(
            ApiKeyRow(
                name="schemathesis",
                role="admin",
                key_hash=hash_key(API_KEY),
                created_at=datetime.now(UTC),
            )
        )


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API served by uvicorn, on a time-skipping Temporal server with a worker."""
    path: Path = tmp_path_factory.mktemp("schemathesis") / "orders.db"
    upgrade(f"sqlite:///{path}")
    engine = make_engine(f"sqlite:///{path}")
    _store_key(engine)
    for sample in FLOW_SAMPLES.values():
        sample.prepare_database(engine)  # e.g. the sample account, so account orders can start
    task_queue = f"tq-{uuid.uuid4()}"
    # The real read-model writer, so GET /orders lists what the fuzzer created.
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
        settings = make_settings(task_queue, salesforce_callback_secret="sf-schemathesis")
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
            if serving.done():
                serving.result()  # raises why it could not start
            assert asyncio.get_running_loop().time() < deadline, "uvicorn did not start"
            await asyncio.sleep(0.02)

    try:
        loop.run(start())
        yield f"http://127.0.0.1:{port}"
    finally:
        loop.run(stack.aclose())
        loop.close()
        engine.dispose()


@pytest.fixture(scope="module")
def http() -> Iterator[requests.Session]:
    """One connection pool for the module's requests."""
    with requests.Session() as session:
        yield session


FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "host", "connection"})


def _template(path: str) -> re.Pattern[str]:
    # A path parameter is one segment, as Starlette routes it.
    return re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")


# The operations that need an API key, as the document says: (method, path pattern).
KEY_PROTECTED = [
    (method.upper(), _template(path))
    for path, operations in schema.raw_schema["paths"].items()
    for method, operation in operations.items()
    if any("HTTPBearer" in scheme for scheme in operation.get("security", []))
]


def _key_protected(method: str, url: str) -> bool:
    """True if the request reaches an operation that needs an API key."""
    path = unquote(urlsplit(url).path)
    return any(method == verb and pattern.match(path) for verb, pattern in KEY_PROTECTED)


def refuses_without_key(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """The same request without its key: a 401 naming the Bearer scheme, as documented."""
    sent = response.request
    assert sent.method is not None and sent.url is not None
    if not _key_protected(sent.method, sent.url):
        return
    unkeyed = sent.copy()
    unkeyed.headers.pop("Authorization", None)
    with requests.Session() as session:
        answer = session.send(unkeyed, timeout=30)
    assert answer.status_code == 401, (sent.method, sent.url, answer.text)
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json() == {
        "detail": "missing API key: send the header 'Authorization: Bearer <key>'"
    }


def _at(body: object, location: list[str | int]) -> object:
    """The part of a JSON body a problem's ``loc`` names (a union's tag is no key: skipped)."""
    for key in location:
        if isinstance(body, dict) and key in body:
            body = body[key]
        elif isinstance(body, dict) and key in body.values():
            continue  # the tag pydantic puts in the location of a discriminated union
        elif isinstance(body, list) and isinstance(key, int) and key < len(body):
            body = body[key]
        else:
            return None
    return body


def _refused_by_rule(response: Response, case: schemathesis.Case) -> bool:
    """True for a 422 by a rule of the API's that a JSON schema cannot say.

    One message (``InvalidRequest.detail`` a string): a flow's refusal (an account order
    naming an unknown account, an action payload the action's own model rejects, an
    account's ``created_at`` ahead of now). Or pydantic value errors each about a whole
    object: rules across its fields (a dealer's subdivision must be one of its country's,
    a card payment needs an amount). A problem with one value, or any other kind of
    problem, is the schema failing to say what the API takes.
    """
    if response.status_code != 422:
        return False
    detail = response.json().get("detail")
    if isinstance(detail, str):
        return True
    body = case.body if isinstance(case.body, dict) else {}
    return all(
        problem["type"] == "value_error"
        and problem["loc"][:1] == ["body"]
        and isinstance(_at(body, problem["loc"][1:]), dict)
        for problem in detail
    )


def accepts_valid_data(ctx: CheckContext, response: Response, case: schemathesis.Case) -> None:
    """Schemathesis's ``positive_data_acceptance``, but for the API's refusals by rule."""
    if _refused_by_rule(response, case):
        return
    positive_data_acceptance(ctx, response, case)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_api(case: schemathesis.Case, base_url: str, http: requests.Session) -> None:
    # A generated Content-Length (or Host, ...) makes the request invalid HTTP, which
    # uvicorn refuses in plain text before any route sees it: framing is the HTTP client's.
    for name in list(case.headers or {}):
        if name.lower() in FRAMING_HEADERS:
            del case.headers[name]
    case.call_and_validate(
        base_url=base_url,
        session=http,
        excluded_checks=[positive_data_acceptance],
        additional_checks=[accepts_valid_data, refuses_without_key],
    )
