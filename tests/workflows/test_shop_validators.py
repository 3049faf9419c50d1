"""Every shop action and Salesforce callback in every open state: allowed, or refused first."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flows.shop_order.declaration import shop_order_spec
from flows.shop_order.models import CALLBACK_STATES
from models import errors
from models.common import Role
from tests.support.harness import Rejected
from tests.support.shop_order import PO, Handle, ShopHarness

C, P, S = Role.customer, Role.provider, Role.support
PAYLOADS: dict[str, dict[str, Any]] = {
    "pay": {"payment_method": "pm_card_visa"},
    "cancel": {"reason": "customer called"},
    "mark_entered": {"reference": "OPP-1"},
}
CALLBACK_FIELDS: dict[str, dict[str, Any]] = {
    "evaluation_complete": {"repair_price": 9900},
    "quote_approved": {},
    "quote_declined": {},
    "shipped": {"tracking_number": "T-1"},
}


async def incomplete(h: ShopHarness) -> Handle:
    return await h.start(payment=None)


async def order_placed(h: ShopHarness) -> Handle:
    h.sf.down = True
    order = await h.start()
    await h.failed_attempt(order, 1)
    return order


async def awaiting_evaluation(h: ShopHarness) -> Handle:
    h.sf.down = False
    order = await h.start(kind="repair_eval")
    await h.settled(order, "awaiting_evaluation")
    return order


async def awaiting_customer_approval(h: ShopHarness) -> Handle:
    h.sf.down = False
    order = await h.start(kind="repair")
    await h.settled(order, "awaiting_customer_approval")
    return order


async def awaiting_payment(h: ShopHarness) -> Handle:
    h.sf.down = False
    order = await h.start(payment=PO)
    await h.settled(order, "awaiting_payment")
    return order


async def in_process(h: ShopHarness) -> Handle:
    h.sf.down = False
    order = await h.start()
    await h.settled(order, "in_process")
    return order


Build = Callable[[ShopHarness], Awaitable[Handle]]
STATES: dict[str, tuple[Build, dict[Role, set[str]]]] = {
    "incomplete": (incomplete, {C: {"pay"}, S: {"cancel"}}),
    "order_placed": (order_placed, {C: set(), S: {"cancel", "mark_entered"}}),
    "awaiting_evaluation": (awaiting_evaluation, {C: set(), S: {"cancel"}}),
    "awaiting_customer_approval": (awaiting_customer_approval, {C: set(), S: {"cancel"}}),
    "awaiting_payment": (awaiting_payment, {C: set(), S: {"cancel"}}),
    "in_process": (in_process, {C: set(), S: {"cancel"}}),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_actions_and_callbacks_by_state_and_role(shop: ShopHarness, state: str) -> None:
    build, expected = STATES[state]
    order = await build(shop)
    before = await shop.view(order)
    assert before.status == state
    assert {role: set(actions) for role, actions in before.allowed_actions.items()} == expected

    for role in (C, S):
        for action in shop_order_spec().flow_actions():
            if action in expected[role]:
                continue
            with pytest.raises(Rejected) as refused:
                await shop.act(order, action, role, PAYLOADS[action])
            assert refused.value.kind == errors.NOT_ALLOWED, (action, role)
            assert refused.value.message == f"{role} may not {action} an order in {state}"
    # The store has no provider: a provider of any id is not this order's.
    with pytest.raises(Rejected) as refused:
        await shop.act(order, "cancel", P, PAYLOADS["cancel"], actor_id="pro-1")
    assert refused.value.kind == errors.NOT_THIS_PARTY

    for event, states in CALLBACK_STATES.items():
        if state in states:
            continue
        with pytest.raises(Rejected) as refused:
            await shop.callback(order, event, **CALLBACK_FIELDS[event])
        assert refused.value.kind == errors.NOT_ALLOWED
        assert refused.value.message.startswith(f"{event} does not apply to an order in {state}")
    after = await shop.view(order)
    assert after.version == before.version, "a refused action or callback changed the order"
    assert after.history == before.history

    # Every allowed action and callback goes through (each on an order of its own).
    for role, actions in expected.items():
        for action in sorted(actions):
            fresh = await build(shop)
            view = await shop.act(fresh, action, role, PAYLOADS[action])
            assert view.history[-1].action == action
            assert view.history[-1].actor.role == role
    for event, states in CALLBACK_STATES.items():
        if state in states:
            fresh = await build(shop)
            result = await shop.callback(fresh, event, **CALLBACK_FIELDS[event])
            assert result.outcome == "applied"
            history = (
                await fresh.result()
                if result.status in ("completed", "cancelled")
                else await shop.view(fresh)
            ).history
            assert history[-1].actor.id == "salesforce"


async def test_another_customer_is_refused(shop: ShopHarness) -> None:
    order = await shop.start(payment=None)
    with pytest.raises(Rejected) as refused:
        await shop.act(order, "pay", C, PAYLOADS["pay"], actor_id="cus-other")
    assert refused.value.kind == errors.NOT_THIS_PARTY
    assert refused.value.message == "customer cus-other is not this order's customer"


@pytest.mark.parametrize(
    ("action", "payload", "message_part"),
    [
        ("pay", {}, "exactly one of payment_method and po_number"),
        ("pay", {"payment_method": "pm_x", "po_number": "PO-1"}, "exactly one of"),
        ("cancel", {}, "reason"),
        ("cancel", {"reason": "  "}, "reason"),
        ("mark_entered", {"reference": "x" * 201}, "reference"),
    ],
)
async def test_malformed_payload_is_invalid(
    shop: ShopHarness, action: str, payload: dict[str, Any], message_part: str
) -> None:
    order = await shop.start(payment=None)
    role = C if action == "pay" else S
    with pytest.raises(Rejected) as refused:
        await shop.act(order, action, role, payload)
    assert refused.value.kind == errors.INVALID_PAYLOAD
    assert message_part in refused.value.message


async def test_callback_in_another_currency_is_refused(shop: ShopHarness) -> None:
    order = await awaiting_evaluation(shop)
    with pytest.raises(Rejected) as refused:
        await shop.callback(order, "evaluation_complete", repair_price=100, currency="USD")
    assert refused.value.message == "the repair price is in USD, the order in EUR"
    assert (await shop.view(order)).status == "awaiting_evaluation"
