"""A backend service using the client generated from orderclock's ``/openapi.json``.

One order of every flow from creation to its end, then a 409, a 404 and a 422, with the
client ``openapi-python-client`` generates as the package ``orderclock_client``. It is
what tests/api/test_generated_client.py type-checks (``mypy --strict``) and runs::

    python client_script.py <base url> <admin key>

It prints each order's id and final status, one per line, then ``done``.
"""

from __future__ import annotations

import sys
import uuid
from datetime import UTC, datetime, timedelta

from orderclock_client import AuthenticatedClient
from orderclock_client.api.orders import act_on_order, create_order, get_order, list_orders
from orderclock_client.models import (
    AccountOrderPlacePayload,
    AccountOrderRequest,
    ActionBody,
    Appointment,
    ChargeBoxInstallationFulfilPayload,
    ChargeBoxInstallationRequest,
    Currency,
    Dealer,
    DealerCardPayment,
    DealerOrderAcceptPayload,
    DealerOrderCapturePaymentPayload,
    DealerOrderConfirmPayload,
    DealerOrderMarkShippedPayload,
    DealerOrderRequest,
    ErrorBody,
    ErrorCode,
    FlowName,
    InstallationCardPayment,
    LineItem,
    OrderDetail,
    OrderItem,
    OrderStatus,
    OrderView,
    Party,
    PartyActor,
    PartyActorRole,
    PrepaidServiceCancelPayload,
    PrepaidServiceConfirmPayload,
    PrepaidServicePayPayload,
    PrepaidServiceRequest,
    ShopItem,
    ShopOrderCancelPayload,
    ShopOrderPayPayload,
    ShopOrderRequest,
    SupportActor,
)
from orderclock_client.types import Response

CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
PROVIDER = Party(id="pro-1", name="Piet Provider", email="piet@example.com")
SUPPORT = SupportActor(role="support", id="agent-1")

# The action payloads: one class per (flow, action), named after both.
Payload = (
    PrepaidServiceConfirmPayload
    | PrepaidServicePayPayload
    | PrepaidServiceCancelPayload
    | AccountOrderPlacePayload
    | ChargeBoxInstallationFulfilPayload
    | ShopOrderPayPayload
    | ShopOrderCancelPayload
    | DealerOrderAcceptPayload
    | DealerOrderConfirmPayload
    | DealerOrderCapturePaymentPayload
    | DealerOrderMarkShippedPayload
)


def customer(party_id: str) -> PartyActor:
    return PartyActor(role=PartyActorRole.CUSTOMER, id=party_id)


def provider(party_id: str) -> PartyActor:
    return PartyActor(role=PartyActorRole.PROVIDER, id=party_id)


def view(answer: OrderView | ErrorBody | None) -> OrderView:
    """The order, or the error's code and message as the failure."""
    assert isinstance(answer, OrderView), answer
    return answer


def error(answer: Response[OrderView | ErrorBody] | Response[OrderDetail | ErrorBody]) -> ErrorBody:
    assert isinstance(answer.parsed, ErrorBody), (answer.status_code, answer.content)
    return answer.parsed


def act(
    client: AuthenticatedClient,
    order: OrderView,
    action: str,
    actor: PartyActor | SupportActor,
    payload: Payload,
) -> OrderView:
    body = ActionBody(actor=actor, payload=payload)
    return view(act_on_order.sync(order.order_id, action, client=client, body=body))


def new_id(flow: FlowName) -> str:
    return f"gen-{flow.value}-{uuid.uuid4().hex[:8]}"


def prepaid(client: AuthenticatedClient) -> OrderView:
    """Confirmed, paid, then cancelled by the customer (refunded)."""
    request = PrepaidServiceRequest(
        order_id=new_id(FlowName.PREPAID_SERVICE),
        flow="prepaid_service",
        customer=CUSTOMER,
        provider=PROVIDER,
        items=[LineItem(name="Massage", quantity=1, unit_amount=8500)],
        currency=Currency.EUR,
        appointment=Appointment(
            start=datetime.now(UTC) + timedelta(days=3), time_zone="Europe/Berlin"
        ),
    )
    order = view(create_order.sync(client=client, body=request))
    assert order.status == OrderStatus.CONFIRMATION
    order = act(client, order, "confirm", provider(PROVIDER.id), PrepaidServiceConfirmPayload())
    pay = PrepaidServicePayPayload(payment_method="pm_card_visa")
    order = act(client, order, "pay", customer(CUSTOMER.id), pay)
    assert order.amount_paid == 8500, order.amount_paid
    cancel = PrepaidServiceCancelPayload(reason="changed plans")
    return act(client, order, "cancel", customer(CUSTOMER.id), cancel)


def account(client: AuthenticatedClient) -> OrderView:
    """Placed by the account's customer: completed (no approval by default)."""
    request = AccountOrderRequest(
        order_id=new_id(FlowName.ACCOUNT_ORDER),
        flow="account_order",
        account_id="acc-1",
        currency=Currency.EUR,
        items=[OrderItem(product="router", option="purchase", quantity=2)],
        payment_method="invoice",
    )
    order = view(create_order.sync(client=client, body=request))
    return act(client, order, "place", customer("acc-1"), AccountOrderPlacePayload())


def installation(client: AuthenticatedClient) -> OrderView:
    """Fulfilled by support."""
    request = ChargeBoxInstallationRequest(
        order_id=new_id(FlowName.CHARGE_BOX_INSTALLATION),
        flow="charge_box_installation",
        customer=CUSTOMER,
        installation_partner=PROVIDER,
        items=[LineItem(name="Charge box", quantity=1, unit_amount=89900)],
        currency=Currency.EUR,
        time_zone="Europe/Copenhagen",
        payment=InstallationCardPayment(method="card", payment_method="pm_card_visa"),
    )
    order = view(create_order.sync(client=client, body=request))
    fulfil = ChargeBoxInstallationFulfilPayload(note="installed and activated")
    return act(client, order, "fulfil", SUPPORT, fulfil)


def shop(client: AuthenticatedClient) -> OrderView:
    """Paid by card, then cancelled by support."""
    request = ShopOrderRequest(
        order_id=new_id(FlowName.SHOP_ORDER),
        flow="shop_order",
        customer=CUSTOMER,
        items=[ShopItem(sku="WID-1", name="Widget", quantity=2, unit_amount=2450)],
        currency=Currency.EUR,
    )
    order = view(create_order.sync(client=client, body=request))
    pay = ShopOrderPayPayload(payment_method="pm_card_visa")
    order = act(client, order, "pay", customer(CUSTOMER.id), pay)
    return act(client, order, "cancel", SUPPORT, ShopOrderCancelPayload(reason="customer called"))


def dealer(client: AuthenticatedClient) -> OrderView:
    """Accepted, confirmed, paid and shipped by the dealer."""
    request = DealerOrderRequest(
        order_id=new_id(FlowName.DEALER_ORDER),
        flow="dealer_order",
        manufacturer=Party(id="oem-1", name="Otto OEM", email="oem@example.com"),
        dealer=Dealer(
            id="dealer-1",
            name="Dora Dealer",
            email="dora@example.com",
            country="DE",
            time_zone="Europe/Berlin",
        ),
        customer=CUSTOMER,
        items=[LineItem(name="Wallbox", quantity=1, unit_amount=12000)],
        currency=Currency.EUR,
        payment=DealerCardPayment(method="card", payment_method="pm_card_visa"),
    )
    order = view(create_order.sync(client=client, body=request))
    by_dealer = provider("dealer-1")
    order = act(client, order, "accept", by_dealer, DealerOrderAcceptPayload())
    confirm = DealerOrderConfirmPayload(note="stock checked")
    order = act(client, order, "confirm", by_dealer, confirm)
    order = act(client, order, "capture_payment", by_dealer, DealerOrderCapturePaymentPayload())
    shipped = DealerOrderMarkShippedPayload(tracking_numbers=["1Z999AA10123456784"], carrier="UPS")
    return act(client, order, "mark_shipped", by_dealer, shipped)


ENDS = {
    prepaid: OrderStatus.CANCELLED,
    account: OrderStatus.COMPLETED,
    installation: OrderStatus.FULFILLED,
    shop: OrderStatus.CANCELLED,
    dealer: OrderStatus.SHIPPED,
}


def refusals(client: AuthenticatedClient, closed: OrderView) -> None:
    """A 409 (the action is not allowed now), a 404 (no such order), a 422 (no such limit)."""
    again = ActionBody(actor=provider(PROVIDER.id), payload=PrepaidServiceConfirmPayload())
    conflict = act_on_order.sync_detailed(closed.order_id, "confirm", client=client, body=again)
    assert conflict.status_code == 409
    assert error(conflict).code == ErrorCode.NOT_ALLOWED

    missing = get_order.sync_detailed("no-such-order", client=client)
    assert missing.status_code == 404
    assert error(missing).code == ErrorCode.NOT_FOUND

    invalid = list_orders.sync_detailed(client=client, flow=FlowName.DEALER_ORDER, limit=0)
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, ErrorBody) and invalid.parsed.code == ErrorCode.INVALID
    assert not isinstance(invalid.parsed.detail, str)
    assert [problem.loc for problem in invalid.parsed.detail] == [["query", "limit"]]


def main(base_url: str, key: str) -> None:
    with AuthenticatedClient(
        base_url=base_url, token=key, raise_on_unexpected_status=True
    ) as client:
        ended: list[OrderView] = []
        for drive, end in ENDS.items():
            order = drive(client)
            assert order.status == end, (order.flow, order.status, end)
            detail = get_order.sync(order.order_id, client=client)
            assert isinstance(detail, OrderDetail) and detail.status == end
            print(order.order_id, order.status.value)
            ended.append(order)
        refusals(client, ended[0])
    print("done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
