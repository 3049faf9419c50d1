"""Dealer orders over HTTP: create, refuse bad input, act, and list them by tab.

The API tests' worker has no card activities, so these orders are paid on account; card
payments are covered on the time-skipping harness and end to end on the dev stack.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.support.api import eventually
from tests.support.dealer_order import ON_ACCOUNT
from tests.support.dealer_order import dealer_body as workflow_body

pytestmark = pytest.mark.usefixtures("worker")


def dealer_body(dealer_id: str) -> dict[str, Any]:
    body = workflow_body(
        f"api-dealer-{uuid.uuid4().hex[:10]}",
        payment=ON_ACCOUNT,
        subdivision="BY",
        dealer_id=dealer_id,
        amount=45000,
    )
    # Codes are matched whatever their case.
    body["dealer"].update(country="de", subdivision="by")
    return body


async def act(
    api: httpx.AsyncClient, order_id: str, action: str, dealer_id: str, **payload: Any
) -> dict[str, Any]:
    response = await api.post(
        f"/orders/{order_id}/actions/{action}",
        json={"actor": {"role": "provider", "id": dealer_id}, "payload": payload},
    )
    assert response.status_code == 200, (action, response.text)
    view: dict[str, Any] = response.json()
    return view


async def test_a_dealer_order_is_created_with_its_deadline(api: httpx.AsyncClient) -> None:
    dealer_id = f"dealer-{uuid.uuid4().hex[:8]}"
    response = await api.post("/orders", json=dealer_body(dealer_id))
    assert response.status_code == 201, response.text
    view = response.json()
    assert view["status"] == "new"
    assert view["provider"]["id"] == dealer_id
    assert view["amount_total"] == 45000
    details = view["dealer"]
    assert (details["dealer"]["country"], details["dealer"]["subdivision"]) == ("DE", "BY")
    assert details["review_step"] == "awaiting_acceptance"
    assert details["payment_method"] == "on_account"
    assert view["next_deadline"]["name"] == "confirmation"
    assert view["next_deadline"]["due_at"] == details["confirmation_due_at"]
    assert view["allowed_actions"]["provider"] == ["accept", "cancel"]
    assert view["allowed_actions"]["customer"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"dealer": {"country": "ZZ"}}, "no holiday calendar for country 'ZZ'"),
        ({"dealer": {"subdivision": "XX"}}, "DE has no subdivision 'XX'"),
        ({"dealer": {"time_zone": "Mars/Olympus"}}, "unknown IANA time zone 'Mars/Olympus'"),
        ({"payment": {"method": "card", "payment_method": "visa"}}, "String should match"),
        ({"payment": {"method": "cash"}}, "does not match any of the expected tags"),
        (
            {
                "payment": {"method": "card", "payment_method": "pm_card_visa"},
                "items": [{"name": "Free sample", "unit_amount": 0}],
            },
            "a card payment needs an amount above zero",
        ),
    ],
)
async def test_bad_dealer_orders_are_422_with_the_reason(
    api: httpx.AsyncClient, change: dict[str, Any], message: str
) -> None:
    body = dealer_body("dealer-x")
    for key, value in change.items():
        body[key] = {**body[key], **value} if key == "dealer" else value
    response = await api.post("/orders", json=body)
    assert response.status_code == 422, response.text
    assert message in str(response.json()["detail"])
    assert (await api.get(f"/orders/{body['order_id']}")).status_code == 404


async def test_orders_are_listed_by_tab(api: httpx.AsyncClient) -> None:
    dealer_id = f"dealer-{uuid.uuid4().hex[:8]}"
    shipped_id, new_id = "", ""
    for _ in range(2):
        response = await api.post("/orders", json=dealer_body(dealer_id))
        assert response.status_code == 201, response.text
        shipped_id, new_id = new_id, response.json()["order_id"]
    await act(api, shipped_id, "accept", dealer_id)
    await act(api, shipped_id, "confirm", dealer_id, note="in stock")
    view = await act(api, shipped_id, "mark_shipped", dealer_id, tracking_numbers=["1Z1", "1Z2"])
    assert view["status"] == "shipped"
    assert view["dealer"]["collection"] == "external_system"

    async def tab(**params: Any) -> list[str]:
        query = {"flow": "dealer_order", "provider_id": dealer_id, **params}
        page = (await api.get("/orders", params=query)).json()
        return sorted(row["order_id"] for row in page["items"])

    assert await eventually(lambda: tab(status="shipped"), lambda ids: ids == [shipped_id]) == [
        shipped_id
    ]
    assert await tab(status="new") == [new_id]

    # Archive hides it from its tab and the default list; the Archived tab shows it.
    view = await act(api, shipped_id, "archive", dealer_id)
    assert view["archived"] is True
    assert await eventually(lambda: tab(), lambda ids: ids == [new_id]) == [new_id]
    assert await tab(status="shipped") == []
    assert await tab(archived="true") == [shipped_id]

    refused = await api.post(
        f"/orders/{shipped_id}/actions/refund",
        json={"actor": {"role": "provider", "id": dealer_id}, "payload": {"reason": "returned"}},
    )
    assert refused.status_code == 409
    assert refused.json()["detail"] == "the order is archived; support can unarchive it"
    partial = await api.post(
        f"/orders/{new_id}/actions/refund",
        json={
            "actor": {"role": "provider", "id": dealer_id},
            "payload": {"reason": "returned", "amount": 100},
        },
    )
    assert partial.status_code == 422
