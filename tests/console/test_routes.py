"""Every console route with every kind of caller, over HTTP against the real stack."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from api.app import connect_temporal, create_app
from api.console.session import COOKIE, CSRF_FIELD, csrf_token, decode
from flows.catalog import FLOW_NAMES
from models.common import Role
from tests.fixtures.devstack import free_ports
from tests.support.api import make_settings
from tests.support.console import REFUSED_EMAIL, SECRET, ConsoleStack

ROLES = ("none", "service", "support", "admin")


def _reason(response: httpx.Response) -> str:
    location = response.headers["location"]
    assert urlsplit(location).path == "/console/login", location
    return parse_qs(urlsplit(location).query).get("reason", [""])[0]


def _csrf(client: httpx.AsyncClient) -> str:
    session = decode(client.cookies[COOKIE], SECRET.encode())
    assert session is not None
    return csrf_token(session, SECRET.encode())


@pytest.fixture(scope="module")
async def dealer_order(console_stack: ConsoleStack) -> str:
    view = await console_stack.start("dealer_order")
    await console_stack.recorded(view.order_id, lambda v: True, "the new order")
    return view.order_id


def _pages(order_id: str) -> list[str]:
    return [
        "/console",
        *(f"/console/flows/{flow}" for flow in FLOW_NAMES),
        f"/console/orders/{order_id}",
        "/console/customers/cus-1",
        f"/console/search?q={order_id}",
    ]


@pytest.mark.parametrize("role", ROLES)
async def test_every_page_with_every_role(
    console_stack: ConsoleStack, dealer_order: str, role: str
) -> None:
    key = console_stack.keys.get(role)
    async with console_stack.http(key) as client:
        for path in _pages(dealer_order):
            response = await client.get(path)
            if role == "none":
                assert response.status_code == 303, (path, response.text)
                assert _reason(response) == ""
            elif role == "service":
                assert response.status_code == 303, (path, response.text)
                assert "service key" in _reason(response)
            elif path.startswith("/console/search"):
                assert response.status_code == 303
                assert response.headers["location"] == f"/console/orders/{dealer_order}"
            else:
                assert response.status_code == 200, (path, response.text)
                assert "Sign out" in response.text
                if path.startswith("/console/orders/"):
                    # The Temporal Web UI is for admins (operators).
                    linked = "Open in the Temporal Web UI" in response.text
                    assert linked == (role == "admin")
                assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("role", ROLES)
async def test_posts_with_every_role(
    console_stack: ConsoleStack, dealer_order: str, role: str
) -> None:
    key = console_stack.keys.get(role)
    async with console_stack.http(key) as client:
        token = _csrf(client) if key else "x"
        action = f"/console/orders/{dealer_order}/actions/resend_email--support"
        response = await client.post(action, data={CSRF_FIELD: token, "notification": "nope"})
        if role in ("none", "service"):
            assert response.status_code == 303
            continue_ = False
        else:
            # The workflow refuses an unknown notification: its reason, as a page.
            assert response.status_code in (404, 409, 422), response.text
            assert "nope" in response.text
            continue_ = True
        response = await client.post("/console/logout", data={CSRF_FIELD: token})
        assert response.status_code == 303
        if continue_:
            assert _reason(response) == "you have signed out"
            assert "Max-Age=0" in response.headers["set-cookie"]


async def test_sign_in_page_and_keys(console_stack: ConsoleStack) -> None:
    async with console_stack.http() as client:
        assert (await client.get("/console/login")).status_code == 200
        refused = await client.post("/console/login", data={"key": console_stack.keys["service"]})
        assert refused.status_code == 403
        assert "service key belongs to a backend" in refused.text
        unknown = await client.post("/console/login", data={"key": "ock_nothing"})
        assert unknown.status_code == 401
        signed = await client.post(
            "/console/login", data={"key": console_stack.keys["support"], "next": "/console"}
        )
        assert signed.status_code == 303
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
        assert (await client.get("/console")).status_code == 200


async def test_secure_cookie_outside_dev(console_stack: ConsoleStack) -> None:
    settings = console_stack.settings.model_copy(update={"console_cookie_secure": True})
    app = create_app(settings, temporal_client=console_stack.client, engine=console_stack.engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orderclock.test"
    ) as client:
        signed = await client.post(
            "/console/login",
            data={"key": console_stack.keys["admin"]},
            headers={"Origin": "http://orderclock.test"},
        )
        assert signed.status_code == 303
        assert "Secure" in signed.headers["set-cookie"]


async def test_console_without_a_secret_says_so(console_stack: ConsoleStack) -> None:
    settings = make_settings("unused")
    assert settings.console_secret is None
    app = create_app(settings, temporal_client=console_stack.client, engine=console_stack.engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://orderclock.test"
    ) as client:
        response = await client.get("/console")
        assert response.status_code == 503
        assert "ORDERCLOCK_CONSOLE_SECRET" in response.text


async def test_the_json_api_never_takes_the_cookie(console_stack: ConsoleStack) -> None:
    async with console_stack.http(console_stack.keys["admin"]) as client:
        assert (await client.get("/console")).status_code == 200
        response = await client.get("/orders")
        assert response.status_code == 401
        assert "missing API key" in response.json()["detail"]


async def test_csrf_and_origin(console_stack: ConsoleStack, dealer_order: str) -> None:
    action = f"/console/orders/{dealer_order}/actions/accept--support"
    async with console_stack.http(console_stack.keys["support"]) as client:
        token = _csrf(client)
        missing = await client.post(action, data={})
        assert missing.status_code == 403
        assert "security token" in missing.text
        wrong = await client.post(
            action, data={CSRF_FIELD: token}, headers={"Origin": "http://evil.test"}
        )
        assert wrong.status_code == 403
        assert "evil.test" in wrong.text
        login = await client.post(
            "/console/login",
            data={"key": console_stack.keys["support"]},
            headers={"Origin": "http://evil.test"},
        )
        assert login.status_code == 403


async def test_expired_and_forged_sessions(console_stack: ConsoleStack) -> None:
    async with console_stack.http() as client:
        client.cookies.set(COOKIE, "garbage.value", domain="127.0.0.1")
        response = await client.get("/console")
        assert "could not be read" in _reason(response)
    settings = console_stack.settings.model_copy(
        update={"console_idle_timeout": timedelta(microseconds=1)}
    )
    app = create_app(settings, temporal_client=console_stack.client, engine=console_stack.engine)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://orderclock.test",
        cookies=console_stack.cookie_for(console_stack.keys["support"]),
    ) as client:
        await asyncio.sleep(0.01)
        assert "without activity" in _reason(await client.get("/console"))


async def test_revoked_key_signed_out(console_stack: ConsoleStack) -> None:
    name, key = console_stack.new_key("support")
    async with console_stack.http(key) as client:
        assert (await client.get("/console")).status_code == 200
        console_stack.revoke(name)
        # Within the key cache's time (1 s in these tests).
        await asyncio.sleep(console_stack.settings.api_key_cache_seconds + 0.1)
        response = await client.get("/console")
        assert "revoked" in _reason(response)


async def test_search_by_email_and_unknown(console_stack: ConsoleStack, dealer_order: str) -> None:
    async with console_stack.http(console_stack.keys["support"]) as client:
        found = await client.get("/console/search", params={"q": "CLEO@example.com"})
        assert found.headers["location"] == "/console/customers/cus-1"
        missing = await client.get("/console/search", params={"q": "no-such-order"})
        assert missing.status_code == 404
        assert "no order with the id" in missing.text


async def test_list_queries_in_the_api(console_stack: ConsoleStack) -> None:
    refused = await console_stack.start(
        "prepaid_service",
        customer=_bounce_customer(),
    )
    view = await console_stack.recorded(
        refused.order_id,
        lambda v: any(n.status == "failed" for n in v.notifications),
        "a failed email",
    )
    headers = {"Authorization": f"Bearer {console_stack.keys['support']}"}
    async with httpx.AsyncClient(
        base_url=console_stack.base_url, headers=headers, trust_env=False
    ) as api:
        soon = datetime.now(UTC) + timedelta(days=2)
        page = (
            await api.get(
                "/orders", params={"sort": "next_deadline", "due_before": soon.isoformat()}
            )
        ).json()
        deadlines = [o["next_deadline_at"] for o in page["items"]]
        assert deadlines == sorted(deadlines) and refused.order_id in {
            o["order_id"] for o in page["items"]
        }
        past = (await api.get("/orders", params={"due_before": "2000-01-01T00:00:00Z"})).json()
        assert past["total"] == 0
        by_email = (
            await api.get("/orders", params={"customer_email": REFUSED_EMAIL.upper()})
        ).json()
        assert refused.order_id in {o["order_id"] for o in by_email["items"]}
        issues = (
            await api.get("/notifications/issues", params={"order_id": refused.order_id})
        ).json()
        failed = [n for n in view.notifications if n.status == "failed"]
        assert {i["idempotency_key"] for i in issues["items"]} == {
            n.idempotency_key for n in failed
        }
        assert (await api.get("/notifications/issues", params={"bogus": "1"})).status_code == 422
    # Resent after the address is fixed: the issue is settled.
    console_stack.fakes.refused_addresses.discard(REFUSED_EMAIL)
    try:
        await console_stack.act(
            refused.order_id,
            "resend_email",
            Role.support,
            None,
            notification=failed[0].idempotency_key,
        )
        await console_stack.recorded(
            refused.order_id,
            lambda v: any(
                n.status == "sent" and n.recipient_role == failed[0].recipient_role
                for n in v.notifications
            ),
            "the resent email",
        )
    finally:
        console_stack.fakes.refused_addresses.add(REFUSED_EMAIL)
    async with httpx.AsyncClient(
        base_url=console_stack.base_url, headers=headers, trust_env=False
    ) as api:
        issues = (
            await api.get("/notifications/issues", params={"order_id": refused.order_id})
        ).json()
        assert failed[0].idempotency_key not in {i["idempotency_key"] for i in issues["items"]}


def _bounce_customer() -> object:
    from models.common import Party

    return Party(id="cus-bounce", name="Bo Bounce", email=REFUSED_EMAIL)


async def test_account_order_receipt_and_no_js_dialog(console_stack: ConsoleStack) -> None:
    view = await console_stack.start("account_order")
    order_id = view.order_id
    async with console_stack.http(console_stack.keys["support"]) as client:
        token = _csrf(client)
        # Without JavaScript, ?action= opens the action's dialog on the page.
        page = await client.get(f"/console/orders/{order_id}", params={"action": "place--support"})
        assert (
            '<dialog id="dlg-place--support" aria-labelledby="dlg-place--support-title" open>'
            in (page.text)
        )
        for action in ("place", "approve", "complete"):
            # The account policy may approve or complete an order by itself.
            current = await client.get(f"/console/orders/{order_id}")
            if f'id="dlg-{action}--support"' not in current.text:
                continue
            done = await client.post(
                f"/console/orders/{order_id}/actions/{action}--support",
                data={CSRF_FIELD: token},
            )
            assert done.status_code == 303, done.text
            assert done.headers["location"] == f"/console/orders/{order_id}?done={action}"
        page = await client.get(f"/console/orders/{order_id}")
        assert "Completed" in page.text
        assert f"key {console_stack_key_name(page.text)}" in page.text
        receipt = await client.get(f"/console/orders/{order_id}/receipt")
        assert receipt.status_code == 200 and receipt.headers["content-type"].startswith(
            "text/html"
        )
        pdf = await client.get(f"/console/orders/{order_id}/receipt", params={"format": "pdf"})
        assert pdf.content.startswith(b"%PDF")
        dealer = await console_stack.start("dealer_order")
        missing = await client.get(f"/console/orders/{dealer.order_id}/receipt")
        assert missing.status_code == 404 and "has no receipt" in missing.text
    async with console_stack.http() as client:
        assert (await client.get(f"/console/orders/{order_id}/receipt")).status_code == 303


def console_stack_key_name(text: str) -> str:
    """The name of the support key a page says is signed in."""
    import re

    found = re.search(r"<small>(support-[0-9a-f]+) · support</small>", text)
    assert found, "no signed-in key name on the page"
    return found.group(1)


async def test_temporal_down_is_explained_in_place(
    console_stack: ConsoleStack, dealer_order: str
) -> None:
    (dead,) = free_ports(1)
    settings = console_stack.settings.model_copy(update={"temporal_address": f"127.0.0.1:{dead}"})
    client = await connect_temporal(settings)
    app = create_app(settings, temporal_client=client, engine=console_stack.engine)
    key = console_stack.keys["support"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://orderclock.test",
        cookies=console_stack.cookie_for(key),
        headers={"Origin": "http://orderclock.test"},
    ) as http:
        token = _csrf(http)
        # The page still reads the order database's copy, and says what it could not ask.
        page = await http.get(f"/console/orders/{dealer_order}")
        assert page.status_code == 200
        assert "Temporal could not be asked" in page.text
        answer = await http.post(
            f"/console/orders/{dealer_order}/actions/accept--support",
            data={CSRF_FIELD: token},
            headers={"HX-Request": "true"},
        )
        assert answer.status_code == 503
        assert "Temporal is unavailable" in answer.text
        assert "<html" not in answer.text  # a fragment for the dialog, not a page


async def test_hand_edited_list_urls(console_stack: ConsoleStack) -> None:
    async with console_stack.http(console_stack.keys["support"]) as client:
        for page in ("abc", "-3", "0", "9" * 30):
            listed = await client.get("/console/flows/dealer_order", params={"page": page})
            assert listed.status_code == 200, (page, listed.text)
        unknown = await client.get("/console/flows/dealer_order", params={"status": "lost"})
        assert unknown.status_code == 404 and "has no status &#39;lost&#39;" in unknown.text
        assert (await client.get("/console/flows/nope")).status_code == 404


async def test_a_tenant_key_sees_only_its_tenants_orders(console_stack: ConsoleStack) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    ours = await console_stack.start("dealer_order", tenant=tenant)
    theirs = await console_stack.start("dealer_order", tenant=f"globex-{uuid.uuid4().hex[:6]}")
    for view in (ours, theirs):
        await console_stack.recorded(view.order_id, lambda v: True, "the new order")
    _, key = console_stack.new_key("support", tenant)
    async with console_stack.http(key) as client:
        # Taken before any page re-issues the session cookie (as test_csrf_and_origin does).
        token = _csrf(client)
        page = await client.get(f"/console/orders/{ours.order_id}")
        assert page.status_code == 200, page.text
        # Another tenant's order is, to this key, an order that does not exist.
        hidden = await client.get(f"/console/orders/{theirs.order_id}")
        assert hidden.status_code == 404
        assert f"order {theirs.order_id} not found" in hidden.text
        receipt = await client.get(f"/console/orders/{theirs.order_id}/receipt")
        assert receipt.status_code == 404
        acted = await client.post(
            f"/console/orders/{theirs.order_id}/actions/resend_email--support",
            data={CSRF_FIELD: token, "notification": "nope"},
        )
        assert acted.status_code == 404
        assert f"order {theirs.order_id} not found" in acted.text
        found = await client.get("/console/search", params={"q": ours.order_id})
        assert found.headers["location"] == f"/console/orders/{ours.order_id}"
        assert (await client.get("/console/search", params={"q": theirs.order_id})).status_code == (
            404
        )
        listed = [
            (await client.get(path)).text
            for path in (
                "/console",
                "/console/flows/dealer_order",
                f"/console/customers/{ours.customer.id}",
            )
        ]
        assert ours.order_id in listed[1] and ours.order_id in listed[2]
        assert all(theirs.order_id not in text for text in listed)
        # The tab counts are the tenant's: its one order in the flow's first status.
        current = re.search(r'aria-current="page"[^>]*>[^<]*<span class="count">(\d+)<', listed[1])
        assert current is not None and current.group(1) == "1", listed[1]


async def test_wrong_sign_in_keys_count_against_the_api_guard(console_stack: ConsoleStack) -> None:
    settings = console_stack.settings.model_copy(
        update={"api_wrong_keys_per_minute": 3, "api_key_cache_seconds": 0}
    )
    app = create_app(settings, temporal_client=console_stack.client, engine=console_stack.engine)
    origin = {"Origin": "http://orderclock.test"}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=("10.9.8.7", 40000)),
        base_url="http://orderclock.test",
    ) as client:
        wrong = [
            (
                await client.post("/console/login", data={"key": f"ock_wrong{n}"}, headers=origin)
            ).status_code
            for n in range(3)
        ]
        assert wrong == [401] * 3
        blocked = await client.post("/console/login", data={"key": "ock_wrong4"}, headers=origin)
        assert blocked.status_code == 429
        assert "too many requests with a wrong API key" in blocked.text
        assert blocked.headers["Retry-After"] == "20"
        # The same address's bearer keys are held up as well: one guard for both.
        api = await client.get("/flows", headers={"Authorization": "Bearer ock_wrong5"})
        assert api.status_code == 429


async def test_email_issues_of_one_tenant(console_stack: ConsoleStack) -> None:
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    order = await console_stack.start("prepaid_service", tenant=tenant, customer=_bounce_customer())
    await console_stack.recorded(
        order.order_id,
        lambda v: any(n.status == "failed" for n in v.notifications),
        "a failed email",
    )
    ours = console_stack.new_key("support", tenant)[1]
    other = console_stack.new_key("support", f"globex-{uuid.uuid4().hex[:6]}")[1]
    for key, sees in ((ours, True), (other, False)):
        async with httpx.AsyncClient(
            base_url=console_stack.base_url,
            headers={"Authorization": f"Bearer {key}"},
            trust_env=False,
        ) as api:
            issues = await api.get("/notifications/issues", params={"order_id": order.order_id})
        assert issues.status_code == 200, issues.text
        assert (issues.json()["total"] > 0) == sees, issues.text
        async with console_stack.http(key) as client:
            queue = await client.get("/console")
        assert queue.status_code == 200
        assert (order.order_id in queue.text) == sees
