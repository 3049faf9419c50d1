"""Tenants kept apart, checked over the whole keyed surface: every key role with no tenant,
tenant A and tenant B, on every route, against an order and an account of tenant A and ones
created without a tenant.

The rule is one function (``api.auth.may_see``): a key without a tenant sees everything, a
key with one sees only its tenant's orders and accounts. For a key that may not see it, an
order or account is answered exactly as one that does not exist, so its existence does not
leak. Every keyed route must be classified below (see ``test_role_matrix.py`` for the key
roles themselves), so a new route is checked as soon as it exists.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from api.auth import ACTING_ROLES
from config.settings import Settings
from db.keys import KeyRole
from models.common import Role
from tests.api.test_role_matrix import keyed_operations
from tests.support.api import api_client, eventually, make_key
from tests.support.samples import FLOW_SAMPLES

pytestmark = pytest.mark.usefixtures("worker")

FLOW = "account_order"  # it has every order-scoped route's subject: actions, receipt, invoices
ACTION = "edit"
# Routes whose path names one order or one account: 404 for a key that may not see it.
ORDER_ROUTES = {
    ("GET", "/orders/{order_id}"),
    ("POST", "/orders/{order_id}/actions/{action}"),
    ("GET", "/orders/{order_id}/receipt"),
    ("GET", "/orders/{order_id}/invoices"),
}
ACCOUNT_ROUTES = {("GET", "/accounts/{account_id}")}
# Routes that list or find: the answer leaves out what the key may not see.
LISTING_ROUTES = {("GET", "/orders"), ("GET", "/accounts"), ("GET", "/notifications/issues")}
# Routes that create: what they make belongs to the key's tenant.
CREATING_ROUTES = {("POST", "/orders"), ("POST", "/accounts")}
# Routes about the product, not about any tenant's data.
TENANT_FREE_ROUTES = {("GET", "/flows"), ("GET", "/flows/{flow}")}
TENANT_LABELS = (None, "a", "b")


@dataclass
class Tenants:
    """Two fresh tenants and an API client for every key role with each (or no) tenant."""

    a: str
    b: str
    clients: dict[tuple[KeyRole, str | None], httpx.AsyncClient] = field(default_factory=dict)

    def tenant(self, label: str | None) -> str | None:
        return {None: None, "a": self.a, "b": self.b}[label]

    def sees(self, label: str | None, tenant: str | None) -> bool:
        """What a key of ``label`` should see, stated here rather than taken from the API."""
        return label is None or self.tenant(label) == tenant

    def client(self, role: KeyRole, label: str | None = None) -> httpx.AsyncClient:
        return self.clients[(role, label)]


@pytest.fixture
async def tenants(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> AsyncIterator[Tenants]:
    suffix = uuid.uuid4().hex[:8]
    found = Tenants(a=f"tenant-a-{suffix}", b=f"tenant-b-{suffix}")
    for role in KeyRole:
        for label in TENANT_LABELS:
            key = make_key(api_engine, role.value, tenant=found.tenant(label))[1]
            found.clients[(role, label)] = api_client(
                settings, time_env.client, api_engine, api_key=key
            )
    yield found
    for client in found.clients.values():
        await client.aclose()


@dataclass(frozen=True)
class Target:
    """An order and its account, created with a key of ``tenant``."""

    tenant: str | None
    order_id: str
    account_id: str
    email: str


async def _create(env: WorkflowEnvironment, creator: httpx.AsyncClient) -> Target:
    email = f"tm-{uuid.uuid4().hex[:10]}@example.com"
    account = await creator.post("/accounts", json={"name": "Tenant Matrix", "email": email})
    assert account.status_code == 201, account.text
    account_id = account.json()["id"]
    sample = FLOW_SAMPLES[FLOW].make_request(await env.get_current_time())
    body = sample.model_copy(
        update={"order_id": f"tm-{uuid.uuid4().hex[:12]}", "account_id": account_id}
    ).model_dump(mode="json")
    created = await creator.post("/orders", json=body)
    assert created.status_code == 201, created.text
    return Target(created.json()["tenant"], created.json()["order_id"], account_id, email)


def _request(
    role: KeyRole, method: str, template: str, order_id: str, account_id: str
) -> tuple[str, Any]:
    """The path and body a key of ``role`` sends to a route about ``order_id``/``account_id``."""
    path = template.format(order_id=order_id, account_id=account_id, action=ACTION)
    if not template.endswith("/actions/{action}"):
        return path, None
    own = next(r for r in (Role.customer, Role.support) if r in ACTING_ROLES[role])
    who = account_id if own == Role.customer else "support-agent"
    payload = FLOW_SAMPLES[FLOW].payloads[ACTION]
    return path, {"actor": {"role": own.value, "id": who}, "payload": payload}


def test_every_keyed_route_is_classified_for_tenants() -> None:
    classified = [
        ORDER_ROUTES,
        ACCOUNT_ROUTES,
        LISTING_ROUTES,
        CREATING_ROUTES,
        TENANT_FREE_ROUTES,
    ]
    for method, path, _ in keyed_operations():
        homes = [group for group in classified if (method, path) in group]
        assert len(homes) == 1, f"{method} {path}: say how tenants apply to it (in one group)"


async def test_every_key_sees_and_acts_on_exactly_its_tenants_orders(
    time_env: WorkflowEnvironment, tenants: Tenants
) -> None:
    of_a = await _create(time_env, tenants.client(KeyRole.service, "a"))
    untenanted = await _create(time_env, tenants.client(KeyRole.admin))
    assert (of_a.tenant, untenanted.tenant) == (tenants.a, None)
    missing_order, missing_account = f"tm-missing-{uuid.uuid4().hex[:8]}", "acc-missing"

    for role in KeyRole:
        for label in TENANT_LABELS:
            client = tenants.client(role, label)
            for method, template in sorted(ORDER_ROUTES | ACCOUNT_ROUTES):
                path, body = _request(role, method, template, missing_order, missing_account)
                absent = await client.request(method, path, json=body)
                for target in (of_a, untenanted):
                    path, body = _request(
                        role, method, template, target.order_id, target.account_id
                    )
                    response = await client.request(method, path, json=body)
                    where = f"{method} {path} with a {role} key of tenant {label}"
                    if tenants.sees(label, target.tenant):
                        assert response.status_code not in (401, 403, 404), (where, response.text)
                        continue
                    # Exactly the answer about an order or account that does not exist.
                    assert response.status_code == absent.status_code == 404, (where, absent.text)
                    expected = absent.text.replace(missing_order, target.order_id).replace(
                        missing_account, target.account_id
                    )
                    assert response.text == expected, where


async def test_lists_and_finds_leave_out_other_tenants(
    time_env: WorkflowEnvironment, tenants: Tenants
) -> None:
    of_a = await _create(time_env, tenants.client(KeyRole.service, "a"))
    untenanted = await _create(time_env, tenants.client(KeyRole.admin))
    targets = (of_a, untenanted)

    async def listed(client: httpx.AsyncClient, target: Target) -> list[str]:
        page = await client.get("/orders", params={"customer_id": target.account_id})
        assert page.status_code == 200, page.text
        return [item["order_id"] for item in page.json()["items"]]

    # The read model is written asynchronously: wait until a key that sees all has both.
    everyone = tenants.client(KeyRole.admin)
    for target in targets:
        assert await eventually(lambda t=target: listed(everyone, t), bool) == [target.order_id]
    for role in KeyRole:
        for label in TENANT_LABELS:
            client = tenants.client(role, label)
            for target in targets:
                visible = tenants.sees(label, target.tenant)
                assert await listed(client, target) == ([target.order_id] if visible else [])
                found = await client.get("/accounts", params={"email": target.email})
                assert [a["id"] for a in found.json()] == (
                    [target.account_id] if visible else []
                ), (role, label, target.tenant)
    # A tenant's whole list holds only its own orders.
    page = (await tenants.client(KeyRole.support, "a").get("/orders")).json()
    assert {item["tenant"] for item in page["items"]} == {tenants.a}


async def test_creating_belongs_to_the_keys_tenant_and_shows_nothing_of_others(
    time_env: WorkflowEnvironment, tenants: Tenants
) -> None:
    of_a = await _create(time_env, tenants.client(KeyRole.service, "a"))
    service_b = tenants.client(KeyRole.service, "b")

    # Tenant B repeats tenant A's order exactly: the id is taken, nothing of it is shown.
    original = (await tenants.client(KeyRole.admin).get(f"/orders/{of_a.order_id}")).json()
    sample = FLOW_SAMPLES[FLOW].make_request(await time_env.get_current_time())
    body = sample.model_copy(
        update={"order_id": of_a.order_id, "account_id": of_a.account_id}
    ).model_dump(mode="json")
    repeat = await service_b.post("/orders", json=body)
    assert repeat.status_code in (409, 422), repeat.text
    assert of_a.email not in repeat.text and original["customer"]["name"] not in repeat.text
    # Its own repeat is still the idempotent 200.
    again = await tenants.client(KeyRole.service, "a").post("/orders", json=body)
    assert again.status_code == 200, again.text

    # An email taken by tenant A: a 409 for tenant B that does not name A's account.
    taken = await service_b.post("/accounts", json={"name": "Other", "email": of_a.email})
    assert taken.status_code == 409
    assert of_a.account_id not in taken.text and "Tenant Matrix" not in taken.text

    # Tenant B cannot order on tenant A's account: as if it did not exist.
    body["order_id"] = f"tm-{uuid.uuid4().hex[:12]}"
    refused = await service_b.post("/orders", json=body)
    assert refused.status_code == 422
    assert f"unknown account {of_a.account_id!r}" in refused.text

    for role in KeyRole:
        for label in TENANT_LABELS:
            flows = await tenants.client(role, label).get("/flows")
            assert flows.status_code == 200, (role, label)
