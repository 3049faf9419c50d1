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

import re
from collections.abc import Iterator
from urllib.parse import unquote, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis import CheckContext, Response
from schemathesis.specs.openapi.checks import positive_data_acceptance

from api.app import create_app
from flows.dealer_order.models import COUNTRY_FORMAT
from models.business_days import country_codes
from models.clock import ZONES
from models.common import TIME_ZONE_FORMAT
from tests.support.api import make_settings

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
schemathesis.openapi.format(TIME_ZONE_FORMAT, st.sampled_from(sorted(ZONES)))
schemathesis.openapi.format(COUNTRY_FORMAT, st.sampled_from(country_codes()))


# The name the API is served under (the ``base_url`` fixture, tests/api/conftest.py).
SERVED_NAME = "schemathesis"


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
        "code": "unauthenticated",
        "detail": "missing API key: send the header 'Authorization: Bearer <key>'",
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

    One message (``ErrorBody.detail`` a string): a flow's refusal (an account order
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
