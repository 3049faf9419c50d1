"""Charge box installation orders over HTTP, on the time-skipping server.

Most tests use the suite's worker (fake payments and mail); the email-switch test runs a
worker of its own with the real email activity against a real SMTP server, so a skipped
email is seen where support looks: the order's view and the order database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy import Engine
from temporalio.testing import WorkflowEnvironment

from activities.email import EmailActivities
from flows.charge_box_installation.policy import InstallationEmail, InstallationPolicy
from tests.api.test_orders import act, create
from tests.fixtures.smtp import SmtpSink
from tests.fixtures.temporal import running_worker
from tests.support.api import ApiActivities, api_client, eventually, make_settings
from tests.support.fakes import DECLINE
from workflows.registry import WORKFLOWS
from workflows.sandbox import workflow_runner

FLOW = "charge_box_installation"


def installation_body(**changes: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:10]
    body: dict[str, Any] = {
        "order_id": f"cbi-{suffix}",
        "flow": FLOW,
        "customer": {"id": f"cus-{suffix}", "name": "Cleo Customer", "email": "cleo@example.com"},
        "installation_partner": {
            "id": f"ins-{suffix}",
            "name": "Ivo Installer",
            "email": "ivo@installer.example",
        },
        "items": [
            {"name": "Charge box 11 kW", "quantity": 1, "unit_amount": 89900},
            {"name": "Installation", "quantity": 1, "unit_amount": 40000},
        ],
        "currency": "DKK",
        "time_zone": "Europe/Copenhagen",
        "payment": {"method": "card", "payment_method": "pm_card_visa"},
    }
    body.update(changes)
    return body


def who(body: dict[str, Any], role: str) -> dict[str, Any]:
    if role == "support":
        return {"role": "support", "id": "agent-1"}
    party = body["installation_partner" if role == "provider" else role]
    return {"role": role, "id": party["id"]}


@pytest.mark.usefixtures("worker")
async def test_create_shows_the_order_and_who_may_do_what(api: httpx.AsyncClient) -> None:
    body = installation_body()
    view = await create(api, body)
    assert view["flow"] == FLOW
    assert view["status"] == "pending"
    assert view["amount_total"] == 129900
    assert view["provider"]["id"] == body["installation_partner"]["id"]
    assert view["next_deadline"] is None
    assert view["installation"] == {
        "onboarding_flow": "standard",
        "time_zone": "Europe/Copenhagen",
        "installation_address": None,
        "payment_type": "card",
        "payment_method": "pm_card_visa",
        "scheduled_for": None,
        "scheduled_for_local": None,
        "scheduled_by": None,
        "awaiting_authentication": False,
        "fulfilled_at": None,
        "amount_invoiced": 0,
    }
    assert view["allowed_actions"] == {
        "customer": ["schedule", "update_payment_method"],
        "provider": [],
        "support": [
            "fulfil",
            "schedule",
            "resend_order_confirmation",
            "initiate_installation",
            "cancel",
        ],
    }
    listed = await eventually(
        lambda: api.get("/orders", params={"provider_id": body["installation_partner"]["id"]}),
        lambda r: r.json()["total"] == 1,
    )
    assert listed.json()["items"][0]["flow"] == FLOW


async def test_an_unknown_onboarding_flow_is_422_naming_the_known_ones(
    time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    policy = InstallationPolicy(onboarding_flows={"standard": list(InstallationEmail), "b2b": []})
    settings = make_settings(f"tq-{uuid.uuid4()}", installation=policy)
    async with api_client(settings, time_env.client, api_engine) as api:
        response = await api.post("/orders", json=installation_body(onboarding_flow="b2c"))
    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid",
        "detail": "unknown onboarding flow 'b2c'; known onboarding flows: b2b, standard",
    }


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"payment": {"method": "card", "payment_method": "4242424242424242"}}, "payment_method"),
        ({"payment": {"method": "cash"}}, "payment"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"items": []}, "items"),
        ({"provider": {"id": "x", "name": "x", "email": "x@example.com"}}, "provider"),
    ],
)
async def test_malformed_installation_orders_are_422(
    api: httpx.AsyncClient, change: dict[str, Any], where: str
) -> None:
    response = await api.post("/orders", json=installation_body(**change))
    assert response.status_code == 422, response.text
    assert any(where in ".".join(map(str, e["loc"])) for e in response.json()["detail"])


@pytest.mark.usefixtures("worker")
async def test_refusals_over_http(api: httpx.AsyncClient, time_env: WorkflowEnvironment) -> None:
    body = installation_body(payment={"method": "card", "payment_method": DECLINE})
    order_id = (await create(api, body))["order_id"]
    past = (await time_env.get_current_time()) - timedelta(hours=1)
    response = await act(api, order_id, "schedule", who(body, "customer"), at=past.isoformat())
    assert response.status_code == 409
    assert "is in the past" in response.json()["detail"]

    response = await act(api, order_id, "fulfil", who(body, "provider"))
    assert response.status_code == 409
    assert response.json() == {
        "code": "not_allowed",
        "detail": "provider may not fulfil an order in pending",
    }
    stranger = {"role": "customer", "id": "eve"}
    response = await act(api, order_id, "schedule", stranger, at=past.isoformat())
    assert response.status_code == 403

    response = await act(api, order_id, "fulfil", who(body, "support"))
    assert response.status_code == 409
    assert response.json() == {
        "code": "payment_declined",
        "detail": "payment declined: Your card was declined.",
    }
    view = (await api.get(f"/orders/{order_id}")).json()
    assert view["status"] == "pending"
    assert view["needs_attention"] is True


@pytest.mark.usefixtures("worker")
async def test_a_schedule_at_an_impossible_time_is_422_and_the_order_carries_on(
    api: httpx.AsyncClient,
) -> None:
    # Its deadline arithmetic would overflow and fail the workflow's task on every retry.
    body = installation_body()
    order_id = (await create(api, body))["order_id"]
    for at in ("9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00Z", 1_900_000_000):
        response = await act(api, order_id, "schedule", who(body, "customer"), at=at)
        assert response.status_code == 422, response.text
        assert response.json()["detail"].startswith("invalid schedule request: at")
    view = (await api.get(f"/orders/{order_id}")).json()
    assert (view["status"], [t["action"] for t in view["history"]]) == ("pending", ["create"])


@pytest.fixture
async def switch_api(
    time_env: WorkflowEnvironment,
    task_queue: str,
    api_engine: Engine,
    activities: ApiActivities,
    smtp_sink: SmtpSink,
) -> AsyncIterator[httpx.AsyncClient]:
    """The API and a worker whose email activity is real and knows a partner-led flow."""
    policy = InstallationPolicy(
        onboarding_flows={
            "standard": list(InstallationEmail),
            "partner_led": [InstallationEmail.installation_request],
        }
    )
    emails = EmailActivities(
        smtp_sink.host, smtp_sink.port, "orderclock <o@orderclock.test>", policies={FLOW: policy}
    )
    settings = make_settings(task_queue, installation=policy)
    async with (
        running_worker(
            time_env.client,
            task_queue=task_queue,
            workflows=list(WORKFLOWS.values()),
            activities=[
                *(fn for fn in activities.all() if fn != activities.fakes.send_email),
                emails.send_email,
            ],
            workflow_runner=workflow_runner(),
        ),
        api_client(settings, time_env.client, api_engine) as api,
    ):
        yield api


async def test_a_disabled_email_type_is_skipped_visibly_and_a_resend_sends_it(
    switch_api: httpx.AsyncClient, api_engine: Engine, smtp_sink: SmtpSink
) -> None:
    body = installation_body(onboarding_flow="partner_led")
    order_id = (await create(switch_api, body))["order_id"]

    async def notifications() -> list[dict[str, Any]]:
        view = (await switch_api.get(f"/orders/{order_id}")).json()
        found: list[dict[str, Any]] = view["notifications"]
        return found

    found = await eventually(notifications, lambda n: len(n) == 2)
    by_event = {n["event"]: n for n in found}
    skipped = by_event["order_confirmation"]
    assert (skipped["status"], skipped["recipient_role"]) == ("skipped", "customer")
    assert skipped["detail"] == (
        "email type order_confirmation is not enabled for onboarding flow partner_led"
    )
    assert by_event["installation_request"]["status"] == "sent"
    assert by_event["installation_request"]["recipient_role"] == "installation_partner"

    async def stored() -> list[tuple[str, str, str | None]]:
        with api_engine.connect() as db:
            rows = db.execute(
                sa.text(
                    "select event, status, detail from notifications where order_id = :o "
                    "order by id"
                ),
                {"o": order_id},
            ).all()
        return [(row.event, row.status, row.detail) for row in rows]

    rows = await eventually(stored, lambda r: len(r) == 2)
    assert ("order_confirmation", "skipped", skipped["detail"]) in rows

    # Support resends it: an explicit decision, sent although the type is off.
    response = await act(switch_api, order_id, "resend_order_confirmation", who(body, "support"))
    assert response.status_code == 200, response.text
    found = await eventually(notifications, lambda n: len(n) == 3)
    assert (found[-1]["event"], found[-1]["status"]) == ("order_confirmation", "sent")
    confirmations = [
        m
        for m in smtp_sink.messages
        if m.message["X-Orderclock-Event"] == f"{FLOW}/order_confirmation"
    ]
    assert [m.rcpt_tos for m in confirmations] == [["cleo@example.com"]]


async def test_the_flow_describes_itself_under_the_deployment_policy(
    time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    policy = InstallationPolicy(payment_retry_interval=timedelta(minutes=30))
    settings = make_settings("unused", installation=policy)
    async with api_client(settings, time_env.client, api_engine) as api:
        flow = (await api.get(f"/flows/{FLOW}")).json()
    assert flow["initial"] == "pending"
    assert [s["name"] for s in flow["states"]] == ["pending", "scheduled", "fulfilled", "cancelled"]
    actions = {a["name"]: a["states_by_role"] for a in flow["actions"]}
    assert actions["fulfil"] == {"support": ["pending", "scheduled"]}
    assert actions["schedule"] == {
        "customer": ["pending", "scheduled"],
        "support": ["pending", "scheduled"],
    }
    assert actions["unschedule"] == {"customer": ["scheduled"], "support": ["scheduled"]}
    deadlines = {d["name"]: d["default"] for d in flow["deadlines"]}
    assert deadlines["fulfilment_retry"] == "PT30M"
    assert "    scheduled --> pending: unschedule / declined" in flow["mermaid"].splitlines()
