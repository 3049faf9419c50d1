"""One sample of every flow: the one sample request of each flow the tests start orders with.

Generic tests (the role matrix, the stateful random tests, replay recording, the API's
schema tests) iterate :data:`FLOW_SAMPLES`: a flow adds its entry here, with a request
that starts an order, a valid payload for each action, and the ids its parties act with.
The per-flow helpers (tests/support/<flow>.py) and the API and fault tests' bodies build
their requests on the sample with :func:`sample_request` (the sample, fields replaced)
rather than writing a request of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Engine

from db.accounts import create_account, get_account
from db.engine import session_scope
from flows.account_order.models import AccountOrderRequest, AccountSnapshot, OrderItem
from flows.charge_box_installation.models import (
    ChargeBoxInstallationRequest,
    InstallationCardPayment,
)
from flows.dealer_order.models import DealerOrderRequest
from flows.prepaid_service.models import Appointment, PrepaidServiceRequest
from flows.shop_order.models import ShopItem, ShopOrderRequest
from models.common import LineItem, OrderRequest, Party, Role
from tests.support.fakes import DECLINE, NEEDS_3DS, FakeActivities, FakeSalesforce

# The engine's actions on a sample order (whose emails the fakes always send: refused).
ENGINE_ACTION_SAMPLES: dict[str, dict[str, Any]] = {
    "resend_email": {"notification": "sample:email-created-customer:1"},
}
CUSTOMER = Party(id="cus-1", name="Cleo Customer", email="cleo@example.com")
PROVIDER = Party(id="pro-1", name="Piet Provider", email="piet@example.com")


@dataclass(frozen=True)
class FlowSample:
    """How to start an order of a flow and take each of its actions in tests."""

    flow: str
    # A request starting an order at ``now`` (order_id left None: the caller sets one).
    make_request: Callable[[datetime], OrderRequest]
    # One valid payload per action of the flow.
    payloads: dict[str, dict[str, Any]]
    # The id each acting party role uses on this flow's sample order.
    party_ids: dict[Role, str]
    # Extra ``StartOrderInput`` fields the API adds for this flow (e.g. a resolved account).
    start_fields: Callable[[datetime], dict[str, Any]] = field(default=lambda now: {})
    # Fakes of the flow's own activities (beyond tests.support.fakes.FakeActivities).
    extra_activities: Callable[[FakeActivities], list[Any]] = field(default=lambda fakes: [])
    # What the order database must hold before the API accepts the sample (an account).
    prepare_database: Callable[[Engine], None] = field(default=lambda engine: None)
    # More payloads per action for the random tests (declines, refunds, other choices).
    variants: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # Payloads that name a time, made for the clock's ``now`` (a fixed time is in the past
    # once a shared time-skipping server has moved on).
    timed: dict[str, Callable[[datetime], dict[str, Any]]] = field(default_factory=dict)

    def payload_at(self, action: str, now: datetime) -> dict[str, Any]:
        """The sample payload of ``action`` for a clock at ``now``."""
        timed = self.timed.get(action)
        return timed(now) if timed is not None else self.payloads[action]

    def __post_init__(self) -> None:
        # The engine's own actions are every flow's: no sample lists them itself.
        for action, payload in ENGINE_ACTION_SAMPLES.items():
            self.payloads.setdefault(action, payload)


def _prepaid_request(now: datetime) -> OrderRequest:
    return PrepaidServiceRequest(
        flow="prepaid_service",
        customer=CUSTOMER,
        provider=PROVIDER,
        items=[LineItem(name="Massage", quantity=1, unit_amount=12000)],
        currency="EUR",
        appointment=Appointment(
            start=now + timedelta(days=3), duration_minutes=60, time_zone="Europe/Berlin"
        ),
    )


ACCOUNT = AccountSnapshot(
    id="acc-1",
    name="Ada Account",
    email="ada@example.com",
    created_at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC),
)


def _store_account(engine: Engine) -> None:
    """The sample account in the API's database (once: a second call finds it there)."""
    with session_scope(engine) as session:
        if get_account(session, ACCOUNT.id) is None:
            create_account(
                session,
                name=ACCOUNT.name,
                email=str(ACCOUNT.email),
                created_at=ACCOUNT.created_at,
                account_id=ACCOUNT.id,
            )


def _account_request(now: datetime) -> OrderRequest:
    return AccountOrderRequest(
        flow="account_order",
        account_id=ACCOUNT.id,
        currency="EUR",
        items=[
            OrderItem(
                product="broadband",
                option="monthly",
                quantity=1,
                configuration={"installation_address": "1 Main St"},
            ),
            OrderItem(product="router", option="purchase", quantity=2),
        ],
        payment_method="invoice",
    )


def _installation_request(now: datetime) -> OrderRequest:
    return ChargeBoxInstallationRequest(
        flow="charge_box_installation",
        customer=CUSTOMER,
        installation_partner=PROVIDER,
        items=[LineItem(name="Charge box", quantity=1, unit_amount=89900)],
        currency="EUR",
        time_zone="Europe/Copenhagen",
        payment=InstallationCardPayment(method="card", payment_method="pm_card_visa"),
    )


def _shop_request(now: datetime) -> OrderRequest:
    return ShopOrderRequest(
        flow="shop_order",
        customer=CUSTOMER,
        items=[ShopItem(sku="WID-1", name="Widget", quantity=2, unit_amount=2450)],
        currency="EUR",
        payment=None,
    )


def _shop_activities(fakes: FakeActivities) -> list[Any]:
    return [FakeSalesforce().sync_order]


def _dealer_request(now: datetime) -> OrderRequest:
    return DealerOrderRequest.model_validate(
        {
            "flow": "dealer_order",
            "manufacturer": {"id": "oem-1", "name": "Otto OEM", "email": "oem@example.com"},
            "dealer": {
                "id": "dealer-1",
                "name": "Dora Dealer",
                "email": "dora@example.com",
                "country": "DE",
                "time_zone": "Europe/Berlin",
            },
            "customer": CUSTOMER.model_dump(),
            "items": [{"name": "Wallbox", "quantity": 1, "unit_amount": 12000}],
            "currency": "EUR",
            "payment": {"method": "card", "payment_method": "pm_card_visa"},
        }
    )


FLOW_SAMPLES: dict[str, FlowSample] = {
    sample.flow: sample
    for sample in (
        FlowSample(
            flow="prepaid_service",
            make_request=_prepaid_request,
            payloads={
                "confirm": {},
                "edit": {"duration_minutes": 90, "comment": "longer session"},
                "cancel": {"reason": "changed plans"},
                "pay": {"payment_method": "pm_card_visa"},
                "mark_done": {},
                "confirm_execution": {},
                "open_claim": {"reason": "did not show up"},
                "resolve_claim": {"outcome": "no_refund"},
                "review": {"rating": 5, "text": "great"},
            },
            party_ids={Role.customer: CUSTOMER.id, Role.provider: PROVIDER.id},
            variants={
                "pay": [{"payment_method": DECLINE}],
                "edit": [{"items": [{"name": "Massage", "quantity": 2, "unit_amount": 9000}]}],
                "cancel": [{"reason": "provider ill"}],
                "resolve_claim": [
                    {"outcome": "full_refund"},
                    {"outcome": "partial_refund", "amount": 3000},
                ],
            },
        ),
        FlowSample(
            flow="account_order",
            make_request=_account_request,
            payloads={
                "edit": {"notes": "call before delivery"},
                "place": {},
                "cancel": {"reason": "ordered by mistake"},
                "approve": {"note": "credit checked"},
                "return_to_draft": {"reason": "wrong address"},
                "complete": {},
                "send_email_receipt": {},
                "reprint_receipt": {},
            },
            party_ids={Role.customer: ACCOUNT.id},
            start_fields=lambda now: {"account": ACCOUNT.model_dump(mode="json")},
            prepare_database=_store_account,
        ),
        FlowSample(
            flow="charge_box_installation",
            make_request=_installation_request,
            payloads={
                "fulfil": {"note": "installed and activated"},
                # Within the time-skipping server's limit of 10 years on a workflow's life
                # (random programs move its clock to this time; later, it is in the past).
                "schedule": {"at": "2030-01-01T10:00:00+01:00"},
                "unschedule": {"reason": "installer ill"},
                "resend_order_confirmation": {},
                "initiate_installation": {},
                "update_payment_method": {"payment_method": "pm_card_mastercard"},
                "cancel": {"reason": "changed their mind"},
            },
            party_ids={Role.customer: CUSTOMER.id, Role.provider: PROVIDER.id},
            timed={"schedule": lambda now: {"at": (now + timedelta(days=30)).isoformat()}},
            variants={
                # Hours after the tests start (the server's clock starts at the wall clock's
                # now), so a random program's waits can reach it; and one in the past.
                "schedule": [
                    {"at": (datetime.now(UTC) + timedelta(hours=6)).isoformat()},
                    {"at": "2020-01-01T10:00:00+00:00"},
                ],
                "update_payment_method": [
                    {"payment_method": DECLINE},
                    {"payment_method": NEEDS_3DS},
                ],
                "fulfil": [{}],
                "unschedule": [{}],
            },
        ),
        FlowSample(
            flow="shop_order",
            make_request=_shop_request,
            payloads={
                "pay": {"payment_method": "pm_card_visa"},
                "cancel": {"reason": "customer called"},
                "mark_entered": {"reference": "OPP-1"},
            },
            party_ids={Role.customer: CUSTOMER.id},
            extra_activities=_shop_activities,
            variants={
                "pay": [{"payment_method": DECLINE}, {"po_number": "PO-7"}],
                "cancel": [{"reason": "out of stock"}],
            },
        ),
        FlowSample(
            flow="dealer_order",
            make_request=_dealer_request,
            payloads={
                "accept": {},
                "confirm": {"note": "stock checked"},
                "capture_payment": {},
                "mark_shipped": {"tracking_numbers": ["1Z999AA10123456784"], "carrier": "UPS"},
                "refund": {"reason": "returned"},
                "cancel": {"reason": "out of stock"},
                "archive": {},
                "unarchive": {},
            },
            party_ids={Role.customer: CUSTOMER.id, Role.provider: "dealer-1"},
            variants={
                "mark_shipped": [{"tracking_numbers": ["JD01", "JD02", "JD03"]}],
                "refund": [{"reason": "damaged in transit"}],
            },
        ),
    )
}


R = TypeVar("R", bound=BaseModel)


def sample_request(flow: str, model: type[R], now: datetime | None = None, **fields: Any) -> R:
    """``flow``'s sample request (made at ``now``, the wall clock's by default) with ``fields``
    replaced, validated as ``model`` (the flow's request model) takes them."""
    request = FLOW_SAMPLES[flow].make_request(now or datetime.now(UTC))
    assert isinstance(request, model), (flow, type(request))
    return model.model_validate({**request.model_dump(), **fields})


def sample_body(flow: str, now: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """``flow``'s sample as a ``POST /orders`` body (JSON, no nulls), ``fields`` replaced."""
    request = FLOW_SAMPLES[flow].make_request(now or datetime.now(UTC))
    return {**request.model_dump(mode="json", exclude_none=True), **fields}
