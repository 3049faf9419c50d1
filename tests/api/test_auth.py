"""API keys: 401 without a valid one, 403 outside the key's role, the key named in history.

The CLI's ``keys`` commands run as real processes on their own database; the API built on
that database then accepts and refuses their keys.
"""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.auth import Caller
from api.keycache import MAX_ENTRIES, KeyCache
from config.settings import Settings
from db.engine import make_engine, session_scope
from db.keys import KEY_PREFIX, KeyRole, hash_key, lookup, revoke_key
from db.queries import transitions_of
from tests.fixtures.devstack import clean_environment, orderclock_command, run_cli
from tests.support.api import (
    BASE_URL,
    actor,
    api_client,
    bearer,
    eventually,
    make_key,
    order_body,
    stripe_event,
    stripe_signature,
)

pytestmark = pytest.mark.usefixtures("worker")


@pytest.fixture
async def as_role(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> AsyncIterator[Any]:
    """A factory of API clients, each with a new key of the given role: (client, key name)."""
    opened: list[httpx.AsyncClient] = []

    async def client_for(role: str) -> tuple[httpx.AsyncClient, str]:
        name, key = make_key(api_engine, role)
        client = api_client(settings, time_env.client, api_engine, api_key=key)
        opened.append(client)
        return client, name

    yield client_for
    for client in opened:
        await client.aclose()


async def _act(
    api: httpx.AsyncClient, order_id: str, action: str, who: dict[str, Any], **payload: Any
) -> httpx.Response:
    return await api.post(
        f"/orders/{order_id}/actions/{action}", json={"actor": who, "payload": payload}
    )


async def test_missing_unknown_and_revoked_keys_are_401(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> None:
    async with api_client(settings, time_env.client, api_engine, api_key=None) as anonymous:
        for method, path in (("GET", "/orders"), ("GET", "/flows"), ("GET", "/orders/x-1")):
            response = await anonymous.request(method, path)
            assert response.status_code == 401, (path, response.text)
            assert response.json() == {
                "code": "unauthenticated",
                "detail": "missing API key: send the header 'Authorization: Bearer <key>'",
            }
            assert response.headers["www-authenticate"] == "Bearer"
        created = await anonymous.post("/orders", json=await order_body(time_env))
        assert created.status_code == 401
        # Another scheme is no bearer key either.
        basic = await anonymous.get("/orders", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert basic.status_code == 401

    for unknown in (f"{KEY_PREFIX}not-a-key", "plainly-wrong"):
        async with api_client(settings, time_env.client, api_engine, api_key=unknown) as api:
            response = await api.get("/orders")
        assert response.status_code == 401
        assert response.json() == {
            "code": "unauthenticated",
            "detail": "the API key is unknown or has been revoked",
        }

    # Without the key cache a revocation holds from the next request.
    uncached = settings.model_copy(update={"api_key_cache_seconds": 0})
    name, key = make_key(api_engine, "support")
    async with api_client(uncached, time_env.client, api_engine, api_key=key) as api:
        assert (await api.get("/orders")).status_code == 200
        with session_scope(api_engine) as session:
            assert revoke_key(session, name) is True
        response = await api.get("/orders")
    assert response.status_code == 401
    assert response.json() == {
        "code": "unauthenticated",
        "detail": "the API key is unknown or has been revoked",
    }


async def test_a_cached_key_is_read_again_once_its_time_is_up(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> None:
    now = [1000.0]
    name, key = make_key(api_engine, "support")
    app = create_app(settings, temporal_client=time_env.client, engine=api_engine)
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds, clock=lambda: now[0])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url=BASE_URL, headers=bearer(key)
    ) as api:
        assert (await api.get("/orders")).status_code == 200
        with session_scope(api_engine) as session:
            assert revoke_key(session, name) is True
        # Within the cache time the process still trusts what it read...
        now[0] += settings.api_key_cache_seconds - 0.5
        assert (await api.get("/orders")).status_code == 200
        # ...and after it, reads the key again and refuses it.
        now[0] += 1.0
        refused = await api.get("/orders")
        assert refused.status_code == 401
        assert refused.json() == {
            "code": "unauthenticated",
            "detail": "the API key is unknown or has been revoked",
        }
        # A refused key is not remembered: a new key of the same process works at once.
        _, fresh = make_key(api_engine, "support")
        assert (await api.get("/orders", headers=bearer(fresh))).status_code == 200


def test_key_cache_bounds_its_entries_and_can_be_off() -> None:
    caller = Caller(name="k", role=KeyRole.support)
    off = KeyCache(0)
    off.put("h", caller)
    assert off.get("h") is None
    cache = KeyCache(60, clock=lambda: 0.0)
    for n in range(MAX_ENTRIES + 5):
        cache.put(f"h{n}", caller)
    assert cache.get("h0") is None and cache.get("h4") is None
    assert cache.get("h5") == caller and cache.get(f"h{MAX_ENTRIES + 4}") == caller


async def test_open_routes_need_no_key(
    time_env: WorkflowEnvironment, settings: Settings, api_engine: Engine
) -> None:
    async with api_client(settings, time_env.client, api_engine, api_key=None) as anonymous:
        for path in ("/healthz", "/metrics", "/docs", "/openapi.json"):
            assert (await anonymous.get(path)).status_code == 200, path
        # The webhook authenticates by Stripe's signature, not by key.
        payload = stripe_event("payment_intent.created", {"id": "pi_1"})
        unsigned = await anonymous.post("/webhooks/stripe", content=payload)
        assert unsigned.status_code == 401
        assert unsigned.headers["www-authenticate"] == "Stripe-Signature"
        signed = await anonymous.post(
            "/webhooks/stripe",
            content=payload,
            headers={"stripe-signature": stripe_signature(payload)},
        )
        assert signed.status_code == 200, signed.text
        schema = (await anonymous.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert schema["components"]["securitySchemes"]["StripeSignature"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Stripe-Signature",
        "description": "Stripe's signature of the body (t=<unix time>,v1=<HMAC-SHA256>).",
    }


async def test_roles_outside_the_key_are_403_before_temporal(
    as_role: Any, time_env: WorkflowEnvironment, api: httpx.AsyncClient
) -> None:
    service, _ = await as_role("service")
    support, support_name = await as_role("support")

    # Support may not create orders: nothing is started.
    body = await order_body(time_env)
    refused = await support.post("/orders", json=body)
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"key {support_name!r} has role support, which may not create orders "
        "(service or admin keys may)"
    )
    assert (await api.get(f"/orders/{body['order_id']}")).status_code == 404

    created = await service.post("/orders", json=body)
    assert created.status_code == 201, created.text
    order_id = body["order_id"]

    # A service may not act as support; support may not act as the customer.
    as_support = await _act(service, order_id, "cancel", actor(body, "support"), reason="no")
    assert as_support.status_code == 403
    assert (
        "which may not act as support (it may act as: customer, provider)"
        in (as_support.json()["detail"])
    )
    as_customer = await _act(support, order_id, "cancel", actor(body, "customer"), reason="no")
    assert as_customer.status_code == 403
    assert as_customer.json()["detail"] == (
        f"key {support_name!r} has role support, which may not act as customer "
        "(it may act as: support)"
    )

    # Neither reached the workflow: its history is still just the creation.
    view = (await support.get(f"/orders/{order_id}")).json()
    assert view["status"] == "confirmation"
    assert [t["action"] for t in view["history"]] == ["create"]


async def test_allowed_roles_act_and_the_history_names_the_key(
    as_role: Any, time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    service, service_name = await as_role("service")
    support, support_name = await as_role("support")
    admin, admin_name = await as_role("admin")

    body = await order_body(time_env)
    order_id = body["order_id"]
    created = await service.post("/orders", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["history"][0]["actor"]["key_name"] == service_name

    # The body cannot choose the key name: the API sets the caller's, and refuses one sent.
    spoofed = actor(body, "provider") | {"key_name": "someone-else"}
    refused = await _act(service, order_id, "confirm", spoofed)
    assert refused.status_code == 422, refused.text
    assert [p["loc"] for p in refused.json()["detail"]] == [
        ["body", "actor", "provider", "key_name"]
    ]
    confirmed = await _act(service, order_id, "confirm", actor(body, "provider"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["status"] == "payment"

    # Support reads one order and the list; an admin may act as the customer too.
    assert (await support.get(f"/orders/{order_id}")).status_code == 200
    assert (await support.get("/orders")).status_code == 200
    assert (await support.get("/flows")).status_code == 200
    paid = await _act(
        admin, order_id, "pay", actor(body, "customer"), payment_method="pm_card_visa"
    )
    assert paid.status_code == 200, paid.text

    cancelled = await _act(support, order_id, "cancel", actor(body, "support"), reason="asked")
    assert cancelled.status_code == 200, cancelled.text
    history = cancelled.json()["history"]
    assert [(t["action"], t["actor"]["role"], t["actor"]["key_name"]) for t in history] == [
        ("create", "system", service_name),
        ("confirm", "provider", service_name),
        ("pay", "customer", admin_name),
        ("cancel", "support", support_name),
    ]

    # The read model records the key name of every transition too.
    def recorded() -> list[str | None]:
        with Session(api_engine) as session:
            return [t.actor.key_name for t in transitions_of(session, order_id)]

    async def read() -> list[str | None]:
        return recorded()

    names = await eventually(read, lambda found: len(found) == 4)
    assert names == [service_name, service_name, admin_name, support_name]


def _keys_cli(
    database_url: str, *args: str, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """``orderclock keys``: in this process, or with ``process`` as a real one."""
    # Only the database is configured: the keys commands need no Stripe secrets.
    env = {"ORDERCLOCK_DATABASE_URL": database_url}
    if not process:
        return run_cli("keys", *args, env=env)
    return subprocess.run(
        [*orderclock_command(), "keys", *args],
        env=clean_environment() | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_keys_cli_create_list_revoke(
    time_env: WorkflowEnvironment, settings: Settings, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'fresh' / 'orders.db'}"

    created = _keys_cli(
        database_url, "create", "--role", "support", "--name", "alice", process=True
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert created.stdout == key + "\n"  # the key alone, once
    assert key.startswith(KEY_PREFIX) and len(key) >= len(KEY_PREFIX) + 43
    assert "support key 'alice'" in created.stderr and key not in created.stderr

    taken = _keys_cli(database_url, "create", "--role", "admin", "--name", "alice")
    assert taken.returncode == 1
    assert taken.stderr.strip() == "orderclock: a key named 'alice' already exists"
    assert taken.stdout == ""
    bad_role = _keys_cli(database_url, "create", "--role", "boss", "--name", "bob")
    assert bad_role.returncode == 2
    bad_tenant = _keys_cli(
        database_url, "create", "--role", "service", "--name", "bob", "--tenant", "a b"
    )
    assert bad_tenant.returncode == 1
    assert "invalid tenant 'a b'" in bad_tenant.stderr
    tenant = _keys_cli(
        database_url, "create", "--role", "service", "--name", "carol", "--tenant", "acme"
    )
    assert tenant.returncode == 0, tenant.stderr
    assert "service key 'carol' of tenant 'acme'" in tenant.stderr

    listed = _keys_cli(database_url, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["NAME", "ROLE", "TENANT", "CREATED", "REVOKED"]
    alice = next(line for line in lines if line.startswith("alice"))
    assert alice.split()[1:3] == ["support", "-"] and alice.rstrip().endswith("-")
    carol = next(line for line in lines if line.startswith("carol"))
    assert carol.split()[1:3] == ["service", "acme"]
    assert key not in listed.stdout and hash_key(key) not in listed.stdout
    assert lines[-1] == "2 keys"

    engine = make_engine(database_url)
    try:
        with Session(engine) as session:
            row = lookup(session, key)
            assert row is not None and row.key_hash == hash_key(key) and row.role == "support"
        uncached = settings.model_copy(update={"api_key_cache_seconds": 0})
        async with api_client(uncached, time_env.client, engine, api_key=key) as api:
            assert (await api.get("/orders")).status_code == 200

            revoked = _keys_cli(database_url, "revoke", "--name", "alice")
            assert revoked.returncode == 0, revoked.stderr
            assert revoked.stdout.strip() == "revoked key 'alice'"

            refused = await api.get("/orders")
            assert refused.status_code == 401
            assert refused.json() == {
                "code": "unauthenticated",
                "detail": "the API key is unknown or has been revoked",
            }
    finally:
        engine.dispose()

    again = _keys_cli(database_url, "revoke", "--name", "alice")
    assert again.returncode == 1
    assert again.stderr.strip() == "orderclock: key 'alice' is already revoked"
    missing = _keys_cli(database_url, "revoke", "--name", "nobody")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "orderclock: no key named 'nobody'"

    listed = _keys_cli(database_url, "list")
    alice = next(line for line in listed.stdout.splitlines() if line.startswith("alice"))
    assert alice.rstrip().endswith("UTC") and alice.count("UTC") == 2
