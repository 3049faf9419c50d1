"""What each money-moving action says it moves, declared with the action in its flow.

The console asks to confirm these sentences before it sends the action (its dialogs and
the form post's ``confirm first`` refusal); here the declarations are read directly, for
the orders' money states that change the sentence.
"""

from __future__ import annotations

from typing import Any

import pytest

from flows.catalog import FLOWS, flow_spec
from flows.charge_box_installation.models import InstallationDetails
from models.orders import OrderView


def _view(flow: str, **money: Any) -> OrderView:
    fields: dict[str, Any] = {
        "flow": flow,
        "currency": "EUR",
        "amount_total": 12000,
        "amount_held": 0,
        "amount_paid": 0,
        "amount_refunded": 0,
        "installation": None,
    }
    return OrderView.model_construct(**(fields | money))


def _says(flow: str, action: str, **money: Any) -> str | None:
    spec = flow_spec(flow)
    assert spec is not None
    declared = spec.action(action)
    assert declared is not None, f"{flow} has no action {action}"
    return declared.money_moved(_view(flow, **money))


def _installation(payment_type: str) -> InstallationDetails:
    return InstallationDetails.model_validate(
        {"onboarding_flow": "standard", "time_zone": "Europe/Berlin", "payment_type": payment_type}
    )


CASES: list[tuple[str, str, dict[str, Any], str | None]] = [
    (
        "dealer_order",
        "capture_payment",
        {"amount_held": 12000},
        "Capture 120.00 EUR held on the card",
    ),
    ("dealer_order", "capture_payment", {}, None),
    (
        "dealer_order",
        "mark_shipped",
        {"amount_held": 12000},
        "Shipping captures 120.00 EUR held on the card",
    ),
    ("dealer_order", "mark_shipped", {"amount_paid": 12000}, None),
    (
        "dealer_order",
        "refund",
        {"amount_paid": 12000, "amount_refunded": 2000},
        "Refund 100.00 EUR to the card",
    ),
    ("dealer_order", "refund", {"amount_paid": 12000, "amount_refunded": 12000}, None),
    (
        "dealer_order",
        "cancel",
        {"amount_held": 12000},
        "Cancelling releases the 120.00 EUR held on the card",
    ),
    ("dealer_order", "cancel", {"amount_paid": 12000}, "Cancelling refunds 120.00 EUR"),
    ("dealer_order", "cancel", {}, None),
    (
        "prepaid_service",
        "cancel",
        {"amount_paid": 5000},
        "Cancelling refunds up to 50.00 EUR to the card, as the cancellation policy says",
    ),
    ("prepaid_service", "cancel", {}, None),
    (
        "prepaid_service",
        "resolve_claim",
        {"amount_paid": 5000, "amount_refunded": 1000},
        "A refund goes to the card: up to 40.00 EUR is refundable",
    ),
    ("shop_order", "cancel", {"amount_paid": 899}, "Cancelling refunds 8.99 EUR"),
    ("shop_order", "cancel", {}, None),
    ("prepaid_service", "pay", {"amount_paid": 0}, None),
    (
        "charge_box_installation",
        "fulfil",
        {"installation": _installation("card")},
        "Fulfilling charges 120.00 EUR to the customer's card",
    ),
    (
        "charge_box_installation",
        "fulfil",
        {"installation": _installation("invoice")},
        "Fulfilling invoices 120.00 EUR",
    ),
]


def test_every_money_moving_action_has_a_case() -> None:
    """Each action declared with a sentence is checked below, and no other has one."""
    declared = set()
    for flow in FLOWS:
        spec = flow_spec(flow)
        assert spec is not None
        declared |= {(flow, action.name) for action in spec.actions if action.may_move_money}
    said = {(flow, action) for flow, action, _, sentence in CASES if sentence is not None}
    assert declared == said


@pytest.mark.parametrize(("flow", "action", "money", "sentence"), CASES)
def test_sentences(flow: str, action: str, money: dict[str, Any], sentence: str | None) -> None:
    assert _says(flow, action, **money) == sentence
