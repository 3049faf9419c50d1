"""Every dealer order action in every state for every role: allowed, or refused before history."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from temporalio import activity
from temporalio.client import WithStartWorkflowOperation, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from flows.dealer_order.policy import DealerPolicy
from models import errors
from models.activities import AUTHORISE_PAYMENT, AuthoriseInput, AuthoriseResult
from models.common import Actor, Role
from models.ids import order_workflow_id
from models.orders import ActionRequest, OrderView, StartOrderInput
from tests.support.dealer_order import (
    ON_ACCOUNT,
    PAYLOADS,
    DealerHarness,
    Handle,
    card,
    dealer_harness,
    dealer_request,
)
from tests.support.fakes import DECLINE, FakeActivities
from tests.support.harness import Rejected, assert_actions_by_role

C, P, S = Role.customer, Role.provider, Role.support
UNPROCESSED = "accept and confirm the order before processing it"


async def awaiting_acceptance(h: DealerHarness) -> Handle:
    return await h.start()


async def awaiting_confirmation(h: DealerHarness) -> Handle:
    order = await h.start()
    await h.act(order, "accept")
    return order


async def confirmed(h: DealerHarness) -> Handle:
    order = await h.start()
    await h.confirmed(order)
    return order


async def confirmed_on_account(h: DealerHarness) -> Handle:
    order = await h.start(payment=ON_ACCOUNT)
    await h.confirmed(order)
    return order


async def paid(h: DealerHarness) -> Handle:
    order = await confirmed(h)
    await h.act(order, "capture_payment")
    return order


async def shipped(h: DealerHarness) -> Handle:
    order = await confirmed(h)
    await h.act(order, "mark_shipped")
    return order


async def refunded(h: DealerHarness) -> Handle:
    order = await paid(h)
    await h.act(order, "refund")
    return order


async def cancelled(h: DealerHarness) -> Handle:
    order = await h.start()
    await h.act(order, "cancel")
    return order


async def archived(h: DealerHarness) -> Handle:
    order = await shipped(h)
    await h.act(order, "archive")
    return order


def both(*actions: str) -> dict[Role, set[str]]:
    return {C: set(), P: set(actions), S: set(actions)}


STATES: dict[str, tuple[Callable[[DealerHarness], Awaitable[Handle]], dict[Role, set[str]]]] = {
    "new/awaiting acceptance": (awaiting_acceptance, both("accept", "cancel")),
    "new/awaiting confirmation": (awaiting_confirmation, both("confirm", "cancel")),
    "new/confirmed (card)": (confirmed, both("capture_payment", "mark_shipped", "cancel")),
    "new/confirmed (on account)": (confirmed_on_account, both("mark_shipped", "cancel")),
    "paid": (paid, both("mark_shipped", "refund", "cancel")),
    "shipped": (shipped, both("refund", "archive")),
    "refunded": (refunded, both("archive")),
    "cancelled": (cancelled, both("archive")),
    "archived": (archived, {C: set(), P: set(), S: {"unarchive"}}),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_actions_by_state_and_role(dealer: DealerHarness, state: str) -> None:
    build, expected = STATES[state]
    await assert_actions_by_role(dealer, lambda: build(dealer), expected, PAYLOADS, dealer.act)


REFUSALS: list[tuple[Callable[[DealerHarness], Awaitable[Handle]], str, Role, str]] = [
    (awaiting_acceptance, "confirm", P, "accept the order before confirming it"),
    (awaiting_acceptance, "mark_shipped", S, UNPROCESSED),
    (awaiting_confirmation, "accept", P, "the order has been accepted already"),
    (awaiting_confirmation, "capture_payment", P, UNPROCESSED),
    (confirmed, "confirm", P, "the order has been confirmed already"),
    (
        confirmed_on_account,
        "capture_payment",
        P,
        "paid on account: the external business system collects the payment; "
        "mark the order shipped",
    ),
    (refunded, "refund", P, "provider may not refund an order in refunded"),
    (shipped, "cancel", S, "support may not cancel an order in shipped"),
    (awaiting_acceptance, "accept", C, "customer may not accept an order in new"),
    (archived, "refund", P, "the order is archived; support can unarchive it"),
    (archived, "archive", S, "the order is archived already"),
    (archived, "unarchive", P, "provider may not unarchive an order in shipped"),
    (shipped, "unarchive", S, "the order is not archived"),
]


async def test_refusals_name_the_reason(dealer: DealerHarness) -> None:
    for build, action, role, message in REFUSALS:
        order = await build(dealer)
        with pytest.raises(Rejected) as rejected:
            await dealer.act(order, action, role)
        assert (rejected.value.kind, rejected.value.message) == (errors.NOT_ALLOWED, message)


async def test_another_dealer_or_customer_is_refused(dealer: DealerHarness) -> None:
    order = await dealer.start()
    with pytest.raises(Rejected) as rejected:
        await dealer.act(order, "accept", P, actor_id="dealer-other")
    assert rejected.value.kind == errors.NOT_THIS_PARTY
    assert rejected.value.message == "provider dealer-other is not this order's provider"
    with pytest.raises(Rejected) as rejected:
        await dealer.act(order, "cancel", C, actor_id="cus-other")
    assert rejected.value.kind == errors.NOT_THIS_PARTY


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("mark_shipped", {}, "tracking_numbers"),
    ("mark_shipped", {"tracking_numbers": []}, "tracking_numbers"),
    ("mark_shipped", {"tracking_numbers": ["1Z1", "1Z1"]}, "tracking numbers must be distinct"),
    ("mark_shipped", {"tracking_numbers": ["x" * 65]}, "tracking_numbers"),
    ("refund", {"reason": "broken", "amount": 100}, "amount"),
    ("refund", {}, "reason"),
    ("cancel", {"reason": "  "}, "reason"),
    ("accept", {"unexpected": 1}, "unexpected"),
]


async def test_malformed_payload_is_invalid(dealer: DealerHarness) -> None:
    order = await dealer.start()
    before = await dealer.view(order)
    for action, payload, message_part in MALFORMED:
        with pytest.raises(Rejected) as rejected:
            await dealer.act(order, action, P, payload)
        assert rejected.value.kind == errors.INVALID_PAYLOAD, action
        assert message_part in rejected.value.message, (action, rejected.value.message)
    assert (await dealer.view(order)).version == before.version


class SlowCard(FakeActivities):
    """Pre-authorisations wait until the test lets them through."""

    def __init__(self) -> None:
        super().__init__()
        self.go = asyncio.Event()

    @activity.defn(name=AUTHORISE_PAYMENT)
    async def authorise_payment(self, input: AuthoriseInput) -> AuthoriseResult:
        await self.go.wait()
        return await super().authorise_payment(input)


@pytest.mark.parametrize("payment_method", ["pm_card_visa", DECLINE])
async def test_an_action_sent_during_the_pre_authorisation_waits_for_its_outcome(
    own_time_env: WorkflowEnvironment, task_queue: str, payment_method: str
) -> None:
    fakes = SlowCard()
    async with dealer_harness(own_time_env, task_queue, fakes) as dealer:
        order = await dealer.start(settle=False, payment=card(payment_method))
        view = await dealer.view(order)
        assert view.dealer is not None and view.dealer.review_step == "authorising"
        assert view.next_deadline is not None and view.next_deadline.name == "card_authorisation"
        assert view.allowed_actions[P] == ["accept", "cancel"]
        accept = asyncio.create_task(dealer.act(order, "accept"))
        await asyncio.sleep(0.3)
        assert not accept.done(), "the action did not wait for the card's hold"
        fakes.go.set()
        if payment_method == DECLINE:
            with pytest.raises(Rejected) as rejected:
                await accept
            assert rejected.value.message == "provider may not accept an order in cancelled"
            assert (await dealer.view(order)).status == "cancelled"
        else:
            view = await accept
            assert view.amount_held == 12000
            assert view.dealer is not None and view.dealer.review_step == "awaiting_confirmation"
        assert len(fakes.authorisations) == 1


async def test_an_action_sent_with_the_start_of_the_order_waits_for_the_hold(
    dealer: DealerHarness,
) -> None:
    """Update-with-start: the action is in the order's first task, before its run loop."""
    for payment_method in ("pm_card_visa", DECLINE):
        order_id = f"o-{uuid.uuid4().hex[:12]}"
        request = dealer_request(payment=card(payment_method))
        start = WithStartWorkflowOperation(
            "dealer_order",
            StartOrderInput(
                order_id=order_id,
                request=request.model_copy(update={"order_id": order_id}),
                request_fingerprint="fp",
                policy=DealerPolicy().model_dump(mode="json"),
                created_by=Actor(role=Role.system, id="test"),
            ),
            id=order_workflow_id(order_id),
            task_queue=dealer.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            result_type=OrderView,
        )
        accept = dealer.env.client.execute_update_with_start_workflow(
            "accept",
            ActionRequest(actor=Actor(role=P, id="dealer-1")),
            start_workflow_operation=start,
            result_type=OrderView,
        )
        if payment_method == DECLINE:
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await accept
            assert isinstance(failed.value.cause, ApplicationError)
            assert failed.value.cause.message == "provider may not accept an order in cancelled"
        else:
            view = await accept
            assert view.amount_held == 12000
            assert [t.action for t in view.history] == ["create", "accept"]
    assert len(dealer.fakes.authorisations) == 2
