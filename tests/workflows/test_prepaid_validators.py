"""Every action in every state for every role: allowed, or rejected before history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from models import errors
from models.common import Role
from models.orders import OrderView
from tests.support.harness import Rejected, assert_actions_by_role
from tests.support.prepaid_service import PAYLOADS, PrepaidHarness

C, P, S = Role.customer, Role.provider, Role.support
H = timedelta(hours=1)
Handle = WorkflowHandle[Any, OrderView]


async def confirmation_provider_turn(h: PrepaidHarness) -> Handle:
    return await h.start(starts_in=timedelta(days=3))


async def confirmation_customer_turn(h: PrepaidHarness) -> Handle:
    order = await h.start(starts_in=timedelta(days=3))
    await h.act(order, "edit", P, {"duration_minutes": 45})
    return order


async def payment(h: PrepaidHarness) -> Handle:
    order = await h.start(starts_in=timedelta(days=3))
    await h.to_payment(order)
    return order


async def execution_before_start(h: PrepaidHarness) -> Handle:
    order = await h.start(starts_in=timedelta(days=3))
    await h.to_execution(order)
    return order


async def execution_with_pending_edit(h: PrepaidHarness) -> Handle:
    order = await execution_before_start(h)
    await h.act(order, "edit", P, {"duration_minutes": 45})
    return order


async def execution_after_start(h: PrepaidHarness) -> Handle:
    order = await h.start(starts_in=2 * H)
    await h.to_execution(order)
    await h.sleep(3 * H)
    return order


async def execution_confirmation(h: PrepaidHarness) -> Handle:
    order = await execution_after_start(h)
    await h.act(order, "mark_done", P)
    return order


async def claim_open(h: PrepaidHarness) -> Handle:
    order = await execution_confirmation(h)
    await h.act(order, "open_claim", C)
    return order


async def closed(h: PrepaidHarness) -> Handle:
    order = await execution_confirmation(h)
    await h.act(order, "confirm_execution", C)
    return order


STATES: dict[str, tuple[Callable[[PrepaidHarness], Awaitable[Handle]], dict[Role, set[str]]]] = {
    "confirmation/provider's turn": (
        confirmation_provider_turn,
        {C: {"edit", "cancel"}, P: {"confirm", "edit", "cancel"}, S: {"cancel"}},
    ),
    "confirmation/customer's turn": (
        confirmation_customer_turn,
        {C: {"confirm", "edit", "cancel"}, P: {"edit", "cancel"}, S: {"cancel"}},
    ),
    "payment": (payment, {C: {"pay", "cancel"}, P: {"cancel"}, S: {"cancel"}}),
    "execution/before start": (
        execution_before_start,
        {C: {"cancel"}, P: {"edit", "cancel"}, S: {"cancel"}},
    ),
    "execution/edit pending": (
        execution_with_pending_edit,
        {C: {"confirm", "cancel"}, P: {"edit", "cancel"}, S: {"cancel"}},
    ),
    "execution/after start": (
        execution_after_start,
        {C: set(), P: {"mark_done"}, S: {"cancel"}},
    ),
    "execution_confirmation": (
        execution_confirmation,
        {C: {"confirm_execution", "open_claim"}, P: set(), S: set()},
    ),
    "claim_open": (claim_open, {C: set(), P: set(), S: {"resolve_claim"}}),
    "closed": (closed, {C: {"review"}, P: set(), S: set()}),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_actions_by_state_and_role(harness: PrepaidHarness, state: str) -> None:
    build, expected = STATES[state]
    await assert_actions_by_role(harness, lambda: build(harness), expected, PAYLOADS, harness.act)


async def test_another_partys_id_is_rejected(harness: PrepaidHarness) -> None:
    order = await harness.start()
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "confirm", P, actor_id="pro-someone-else")
    assert rejected.value.kind == errors.NOT_THIS_PARTY
    assert rejected.value.message == "provider pro-someone-else is not this order's provider"
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "cancel", C, actor_id="cus-other")
    assert rejected.value.message == "customer cus-other is not this order's customer"


async def test_waiting_party_is_named(harness: PrepaidHarness) -> None:
    order = await harness.start()
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "confirm", C)
    assert rejected.value.message == "waiting for the provider to confirm or edit"


@pytest.mark.parametrize(
    ("action", "payload", "message_part"),
    [
        ("cancel", {}, "reason"),
        ("cancel", {"reason": "   "}, "reason"),
        ("edit", {}, "an edit changes at least one of"),
        ("edit", {"start": "2030-01-01T10:00:00"}, "timezone"),
        ("edit", {"duration_minutes": 0}, "duration_minutes"),
        ("confirm", {"unexpected": 1}, "unexpected"),
        ("resolve_claim", {"outcome": "partial_refund"}, "needs an amount"),
        ("review", {"rating": 6}, "rating"),
    ],
)
async def test_malformed_payload_is_invalid(
    harness: PrepaidHarness, action: str, payload: dict[str, Any], message_part: str
) -> None:
    order = await harness.start()
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, action, S if action == "resolve_claim" else P, payload)
    assert rejected.value.kind == errors.INVALID_PAYLOAD
    assert message_part in rejected.value.message


async def test_unknown_action_and_system_role(harness: PrepaidHarness) -> None:
    order = await harness.start()
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "teleport", P, {})
    assert rejected.value.kind == errors.UNKNOWN_ACTION
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "confirm", Role.system, actor_id="x")
    assert rejected.value.kind == errors.NOT_ALLOWED


async def test_edit_start_must_be_in_the_future(harness: PrepaidHarness) -> None:
    order = await harness.start()
    past = (await harness.now()) - H
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "edit", P, {"start": past.isoformat()})
    assert rejected.value.message == "the new start must be in the future"


async def test_partial_refund_is_bounded_by_what_was_paid(harness: PrepaidHarness) -> None:
    order = await claim_open(harness)
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "resolve_claim", S, {"outcome": "partial_refund", "amount": 12001})
    assert rejected.value.message == "at most 120.00 EUR can be refunded"


async def test_review_only_once(harness: PrepaidHarness) -> None:
    order = await closed(harness)
    view = await harness.act(order, "review", C, {"rating": 4})
    assert view.review is not None and view.review.rating == 4
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, "review", C, {"rating": 5})
    assert rejected.value.message == "the order has been reviewed already"
