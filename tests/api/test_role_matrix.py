"""Who may do what, checked over the whole surface: every keyed route for every key role,
and every action of every flow for every actor role.

The rules are declared, not written in this test: each keyed route names the key roles it
admits (``x-key-roles`` in OpenAPI, ``api/auth.py``), the key roles' actor roles are
``api.auth.ACTING_ROLES``, and each flow's actions declare their roles and states
(``flows/spec.py`` ``states_by_role``), which the order's view reports as
``allowed_actions``. The test checks that the API does what is declared, so a new route or
action is covered as soon as it exists.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import ACTING_ROLES, KEY_ROLES_EXTENSION
from api.console.routes import ConsoleRoute
from api.deps import KeyProtectedRoute
from config.settings import Settings
from db.keys import KeyRole
from flows.catalog import flow_spec
from models.common import Role
from tests.support.api import api_client, eventually, make_key
from tests.support.samples import FLOW_SAMPLES

pytestmark = pytest.mark.usefixtures("worker")

ACTOR_ROLES = (Role.customer, Role.provider, Role.support)
Client = Callable[[KeyRole | None], Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def client_for(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> AsyncIterator[Client]:
    """API clients by key role (None: no key), one key each, made once per test."""
    opened: dict[KeyRole | None, httpx.AsyncClient] = {}

    async def get(role: KeyRole | None) -> httpx.AsyncClient:
        if role not in opened:
            key = make_key(api_engine, role.value)[1] if role is not None else None
            opened[role] = api_client(settings, time_env.client, api_engine, api_key=key)
        return opened[role]

    yield get
    for client in opened.values():
        await client.aclose()


async def new_order(
    env: WorkflowEnvironment, api: httpx.AsyncClient, flow: str, engine: Engine
) -> str:
    """A new order of ``flow`` created through the API; its id."""
    sample = FLOW_SAMPLES[flow]
    sample.prepare_database(engine)
    request = sample.make_request(await env.get_current_time())
    body = request.model_copy(update={"order_id": f"rm-{uuid.uuid4().hex[:12]}"})
    response = await api.post("/orders", json=body.model_dump(mode="json"))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    return order_id


async def settled(api: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    """The order's view once nothing runs for it: no side effect pending, and the same
    version in two reads in a row.

    A new order's own start-up work (the dealer's card pre-authorisation, the first
    emails) changes its version and its allowed actions when it ends; read before that,
    the probe would see those changes as if a refused action had made them.
    """
    last: dict[str, Any] = {}

    async def detail() -> dict[str, Any]:
        found: dict[str, Any] = (await api.get(f"/orders/{order_id}")).json()
        return found

    def quiet(found: dict[str, Any]) -> bool:
        steady: bool = found["pending"] == [] and found["version"] == last.get("version")
        last.update(found)
        return steady

    return await eventually(detail, quiet, what=f"order {order_id} settled")


def actor(flow: str, role: Role) -> dict[str, Any]:
    """The sample order's own party for ``role`` (support has no party id)."""
    party = FLOW_SAMPLES[flow].party_ids.get(role)
    return {"role": role.value, "id": party or f"{role.value}-agent"}


def keyed_operations() -> list[tuple[str, str, list[str]]]:
    """(method, path template, admitted key roles) of every route that needs a key."""
    schema = create_app(Settings(stripe_api_key="x", stripe_webhook_secret="y")).openapi()
    found = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            # The API key is the HTTPBearer scheme (the webhook's is Stripe's signature).
            if any("HTTPBearer" in scheme for scheme in operation.get("security", [])):
                roles = operation.get(KEY_ROLES_EXTENSION)
                assert roles, f"{method.upper()} {path} needs a key but declares no key roles"
                found.append((method.upper(), path, roles))
    return found


async def test_every_keyed_route_admits_exactly_its_declared_key_roles(
    time_env: WorkflowEnvironment, client_for: Client, api_engine: Engine
) -> None:
    admin = await client_for(KeyRole.admin)
    order_id = await new_order(time_env, admin, "prepaid_service", api_engine)
    order_body = FLOW_SAMPLES["prepaid_service"].make_request(await time_env.get_current_time())
    account = await admin.post(
        "/accounts", json={"name": "Role Matrix", "email": f"rm-{uuid.uuid4().hex[:8]}@example.com"}
    )
    assert account.status_code == 201, account.text
    samples: dict[str, str] = {
        "order_id": order_id,
        "action": "cancel",
        "flow": "prepaid_service",
        "account_id": account.json()["id"],
    }
    operations = keyed_operations()
    assert ("POST", "/orders", ["service", "admin"]) in operations
    for method, template, admitted in operations:
        path = template.format_map(samples)
        for role in KeyRole:
            if method == "POST" and template == "/orders":
                fresh = order_body.model_copy(update={"order_id": f"rm-{uuid.uuid4().hex[:12]}"})
                body: Any = fresh.model_dump(mode="json")
            elif method == "POST" and template == "/accounts":
                body = {"name": "New One", "email": f"rm-{uuid.uuid4().hex[:8]}@example.com"}
            elif template.endswith("/actions/{action}"):
                # Each key acts as the first actor role it may use.
                own = next(r for r in ACTOR_ROLES if r in ACTING_ROLES[role])
                body = {"actor": actor("prepaid_service", own), "payload": {"reason": "x"}}
            else:
                body = None
            client = await client_for(role)
            response = await client.request(method, path, json=body)
            where = f"{method} {path} with a {role} key"
            if role.value in admitted:
                assert response.status_code not in (401, 403), (where, response.text)
            else:
                assert response.status_code == 403, (where, response.text)
                assert f"has role {role}, which may not" in response.json()["detail"]
        anonymous = await client_for(None)
        response = await anonymous.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)


@pytest.mark.parametrize("flow", sorted(FLOW_SAMPLES))
async def test_every_action_by_every_role_is_allowed_exactly_as_declared(
    time_env: WorkflowEnvironment, client_for: Client, api_engine: Engine, flow: str
) -> None:
    spec = flow_spec(flow)
    assert spec is not None
    sample = FLOW_SAMPLES[flow]
    admin = await client_for(KeyRole.admin)
    probe = await new_order(time_env, admin, flow, api_engine)
    view = await settled(admin, probe)
    version = view["version"]
    allowed: dict[str, list[str]] = view["allowed_actions"]
    checked_allowed = 0
    for action in spec.actions:
        payload = sample.payload_at(action.name, await time_env.get_current_time())
        for role in ACTOR_ROLES:
            request = {"actor": actor(flow, role), "payload": payload}
            url = f"/orders/{probe}/actions/{action.name}"
            # Keys whose role may not act as this actor: 403 before Temporal.
            for key_role in KeyRole:
                if role not in ACTING_ROLES[key_role]:
                    refused = await (await client_for(key_role)).post(url, json=request)
                    assert refused.status_code == 403, (action.name, role, key_role)
                    assert f"may not act as {role}" in refused.json()["detail"]
            # Another order's customer or provider: 403 from the workflow's validator.
            if role in (Role.customer, Role.provider):
                stranger = {"actor": {"role": role.value, "id": "stranger-1"}, "payload": payload}
                response = await admin.post(url, json=stranger)
                assert response.status_code == 403, (action.name, role, response.text)
            # This order's own party: exactly what the view advertises.
            if action.name in allowed.get(role.value, []):
                fresh = await new_order(time_env, admin, flow, api_engine)
                response = await admin.post(f"/orders/{fresh}/actions/{action.name}", json=request)
                assert response.status_code == 200, (action.name, role, response.text)
                checked_allowed += 1
            else:
                response = await admin.post(url, json=request)
                # 403 where the flow has no such party at all, else 409 with the reason.
                has_party = role == Role.support or role in sample.party_ids
                expected = 409 if has_party else 403
                assert response.status_code == expected, (action.name, role, response.text)
                assert response.json()["detail"], response.text
    assert checked_allowed >= 1, f"{flow}: no action is allowed to anyone after creation"
    after = (await admin.get(f"/orders/{probe}")).json()
    assert after["version"] == version, "a refused action changed the order"


# The routes anyone may call, and how each authenticates instead of by API key. A route
# missing from here must be a KeyProtectedRoute: an open route is a decision, not a default.
OPEN_ROUTES = {
    ("POST", "/webhooks/stripe"): "Stripe's signature",
    ("POST", "/callbacks/salesforce"): "the shared secret in X-Orderclock-Secret",
    ("GET", "/healthz"): "a probe: says only that the process is up",
    ("GET", "/readyz"): "a probe: names what is unreachable, nothing of any order",
    ("GET", "/metrics"): "Prometheus scrapes it; counters hold no personal data",
    ("GET", "/console/login"): "the console's sign-in form",
    ("POST", "/console/login"): "the console's sign-in: takes a support or admin key",
}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every APIRoute, also inside included routers (FastAPI nests them)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (router := getattr(route, "original_router", None)) is not None:
            found += api_routes(router.routes)
    return found


def test_every_route_needs_a_key_unless_it_is_declared_open() -> None:
    app = create_app(Settings(stripe_api_key="x", stripe_webhook_secret="y"))
    routes = api_routes(app.routes)
    assert len(routes) >= 16
    open_found = set()
    for route in routes:
        for method in route.methods - {"HEAD"}:
            key = (method, route.path)
            if isinstance(route, KeyProtectedRoute):
                assert key not in OPEN_ROUTES, f"{key} is declared open but needs a key"
            elif isinstance(route, ConsoleRoute) and key not in OPEN_ROUTES:
                # The console's pages need its session (tests/console/test_routes.py tries
                # each with every kind of key).
                continue
            else:
                assert key in OPEN_ROUTES, f"{method} {route.path} is open to anyone"
                open_found.add(key)
    assert open_found == set(OPEN_ROUTES)
