"""Every account order action in every state for every role: allowed, or refused before history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from flows.account_order.declaration import account_order_spec
from flows.account_order.models import AccountSnapshot, OrderItem
from models import errors
from models.common import Role
from tests.support.account_order import APPROVAL, AccountHarness, C, Handle, P, S
from tests.support.harness import Rejected
from tests.support.samples import ACCOUNT

UNCONFIGURED = [OrderItem(product="broadband", option="monthly")]


async def draft(h: AccountHarness) -> Handle:
    return await h.start()


async def draft_incomplete(h: AccountHarness) -> Handle:
    return await h.start(items=UNCONFIGURED, payment_method=None)


async def in_progress(h: AccountHarness) -> Handle:
    order = await h.start(APPROVAL)
    await h.act(order, "place", C)
    return order


async def approved(h: AccountHarness) -> Handle:
    order = await in_progress(h)
    await h.act(order, "approve", S)
    return order


async def completed(h: AccountHarness) -> Handle:
    order = await h.start()
    await h.act(order, "place", S)
    return order


RECEIPT_ACTIONS = {"send_email_receipt", "reprint_receipt"}
STATES: dict[str, tuple[Callable[[AccountHarness], Awaitable[Handle]], dict[Role, set[str]]]] = {
    "draft": (draft, {C: {"edit", "place", "cancel"}, S: {"edit", "place", "cancel"}}),
    "draft/incomplete": (draft_incomplete, {C: {"edit", "cancel"}, S: {"edit", "cancel"}}),
    "in_progress": (in_progress, {C: set(), S: {"approve", "return_to_draft"}}),
    "approved": (approved, {C: set(), S: {"return_to_draft", "complete"}}),
    "completed": (
        completed,
        {
            C: {"send_email_receipt", "reprint_receipt"},
            S: {"send_email_receipt", "reprint_receipt"},
        },
    ),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_actions_by_state_and_role(account: AccountHarness, state: str) -> None:
    build, expected = STATES[state]
    order = await build(account)
    before = await account.view(order)
    assert {role: set(actions) for role, actions in before.allowed_actions.items()} == expected

    for role in (C, S):
        for action in account_order_spec().flow_actions():
            if action in expected[role]:
                continue
            with pytest.raises(Rejected) as rejected:
                await account.act(order, action, role)
            assert rejected.value.kind == errors.NOT_ALLOWED, (action, role)
            assert rejected.value.message
        # The flow has no provider: anyone acting as one is another party.
        with pytest.raises(Rejected) as rejected:
            await account.act(order, "edit", P)
        assert rejected.value.kind == errors.NOT_THIS_PARTY
    after = await account.view(order)
    assert after.version == before.version, "a refused action changed the order"
    assert after.history == before.history

    for role, actions in expected.items():
        for action in sorted(actions):
            fresh = await build(account)
            view = await account.act(fresh, action, role)
            assert view.history[-1].action == action
            assert view.history[-1].actor.role == role


async def test_another_accounts_customer_gets_403(account: AccountHarness) -> None:
    order = await account.start()
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "place", C, actor_id="acc-other")
    assert rejected.value.kind == errors.NOT_THIS_PARTY
    assert rejected.value.message == "customer acc-other is not this order's customer"


async def test_placing_names_every_gap(account: AccountHarness) -> None:
    items = [*UNCONFIGURED, OrderItem(product="setup", option="one_time")]
    order = await account.start(items=items, payment_method=None)
    view = await account.view(order)
    assert view.account is not None
    gaps = [
        "no payment method",
        "item 1 (Broadband internet) lacks required configuration installation_address",
        "item 2 (Setup service) lacks required configuration visit_date",
    ]
    assert view.account.blocking == gaps
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "place", S)
    assert rejected.value.message == "the order cannot be placed yet: " + "; ".join(gaps)
    # Filled in, it goes through.
    filled = [
        {
            "product": "broadband",
            "option": "monthly",
            "configuration": {"installation_address": "1 Main St"},
        },
        {"product": "setup", "option": "one_time", "configuration": {"visit_date": "2027-01-04"}},
    ]
    await account.act(order, "edit", C, {"items": filled, "payment_method": "card"})
    view = await account.act(order, "place", C)
    assert view.status == "completed"
    assert view.amount_total == 2999 + 4900


async def test_no_items_blocks_placing(account: AccountHarness) -> None:
    order = await account.start(items=[])
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "place", C)
    assert rejected.value.message == "the order cannot be placed yet: the order has no items"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            {"items": [{"product": "tv", "option": "monthly"}]},
            "item 1: unknown product 'tv' (products: broadband, router, setup)",
        ),
        (
            {"items": [{"product": "router", "option": "rent"}]},
            "item 1: Wi-Fi router has no pricing option 'rent' (options: purchase)",
        ),
        (
            {"items": [{"product": "router", "option": "purchase", "configuration": {"x": "1"}}]},
            "item 1: Wi-Fi router has no configuration field x (fields: none)",
        ),
        (
            {"items": [{"product": "router", "option": "purchase", "unit_amount": 1}]},
            "item 1: the price of Wi-Fi router (Purchase) is fixed",
        ),
        ({"payment_method": "bitcoin"}, "unknown payment method 'bitcoin'"),
    ],
)
async def test_invalid_edit_is_refused_and_changes_nothing(
    account: AccountHarness, payload: dict[str, Any], message: str
) -> None:
    order = await account.start()
    before = await account.view(order)
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "edit", S, payload)
    assert rejected.value.kind == errors.NOT_ALLOWED
    assert message in rejected.value.message
    assert (await account.view(order)).version == before.version


async def test_adjustable_price_and_edit_replaces_items(account: AccountHarness) -> None:
    order = await account.start()
    view = await account.act(
        order,
        "edit",
        S,
        {
            "items": [
                {
                    "product": "setup",
                    "option": "one_time",
                    "unit_amount": 2500,
                    "quantity": 2,
                    "configuration": {"visit_date": "2027-01-04"},
                }
            ],
            "notes": "discounted visit",
        },
    )
    assert view.account is not None
    assert [(line.product, line.unit_amount, line.amount) for line in view.account.lines] == [
        ("setup", 2500, 5000)
    ]
    assert view.account.notes == "discounted visit"
    assert view.history[-1].reason == "changed items, notes"


async def test_order_date_backdated_to_the_accounts_creation_at_most(
    account: AccountHarness,
) -> None:
    now = await account.now()
    opened = AccountSnapshot(
        id=ACCOUNT.id, name=ACCOUNT.name, email=ACCOUNT.email, created_at=now - timedelta(days=10)
    )
    order = await account.start(account=opened)
    view = await account.view(order)
    assert view.account is not None and view.account.order_date == now.date()
    earliest = opened.created_at.date()
    view = await account.act(order, "edit", S, {"order_date": earliest.isoformat()})
    assert view.account is not None and view.account.order_date == earliest
    too_early = earliest - timedelta(days=1)
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "edit", S, {"order_date": too_early.isoformat()})
    assert rejected.value.message.startswith(
        f"the order date {too_early} is before the account's creation date {earliest}"
    )
    tomorrow = now.date() + timedelta(days=1)
    with pytest.raises(Rejected) as rejected:
        await account.act(order, "edit", C, {"order_date": tomorrow.isoformat()})
    assert "is in the future" in rejected.value.message


@pytest.mark.parametrize(
    ("action", "payload", "part"),
    [
        ("edit", {}, "an edit changes at least one of"),
        ("cancel", {}, "reason"),
        ("cancel", {"reason": "  "}, "reason"),
        ("edit", {"order_date": "yesterday"}, "order_date"),
        (
            "edit",
            {"items": [{"product": "router", "option": "purchase", "quantity": 0}]},
            "quantity",
        ),
        ("place", {"unexpected": 1}, "unexpected"),
    ],
)
async def test_malformed_payload_is_invalid(
    account: AccountHarness, action: str, payload: dict[str, Any], part: str
) -> None:
    order = await account.start()
    with pytest.raises(Rejected) as rejected:
        await account.act(order, action, S, payload)
    assert rejected.value.kind == errors.INVALID_PAYLOAD
    assert part in rejected.value.message


async def test_cancelled_draft_is_read_only(account: AccountHarness) -> None:
    order = await account.start()
    view = await account.act(order, "cancel", C, {"reason": "not needed"})
    assert view.status == "cancelled"
    final = await order.result()
    assert final.allowed_actions == {}
    assert final.closed_at is not None
    with pytest.raises(Exception):  # noqa: B017 - the workflow has ended: no update reaches it
        await account.act(order, "edit", S, {"notes": "too late"})
    mail = await account.mail(final.order_id, "cancelled")
    assert mail[0].context["reason"] == "not needed"
