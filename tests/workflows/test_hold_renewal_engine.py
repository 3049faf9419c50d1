"""The engine renews any flow's card hold before Stripe's 7-day limit, or flags the order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment

from tests.fixtures.temporal import running_worker
from tests.support.fakes import ONCE, FakeActivities
from workflows.sandbox import workflow_runner

with workflow.unsafe.imports_passed_through():
    from flows.dealer_order.policy import DealerPolicy
    from flows.prepaid_service.models import Appointment
    from flows.spec import FlowEntry, FlowSpec, StateSpec, action
    from models.actions import NoPayload
    from models.common import SYSTEM, Actor, LineItem, Party, Role
    from models.orders import OrderView, StartOrderInput
    from tests.support.dealer_order import card, dealer_request
    from workflows.base import Deadline, OrderWorkflow, on_action
    from workflows.payments import PaymentLedger

# Written out, not imported from workflows.payments: Stripe keeps an uncaptured card hold
# for 7 days, and the README's deadline tables renew it after 6.5 days.
STRIPE_HOLD = timedelta(days=7)
RENEWED_AFTER = timedelta(days=6, hours=12)

SPEC = FlowSpec(
    name="held_test",
    title="A flow that holds a card until support captures it",
    source="tests",
    description="Holds money like a dealer order awaiting shipment.",
    initial="held",
    states=[
        StateSpec(name="held", label="Held", description="Money held."),
        StateSpec(name="captured", label="Captured", terminal=True, description="Taken."),
    ],
    actions=[action("capture", NoPayload, "Take it.", {Role.support: ["held"]})],
    deadlines=[],
    transitions=[],
)
# A flow of the test's own (not in the catalog), started with a dealer order's input.
ENTRY = FlowEntry(
    name="held_test",
    request=type(dealer_request()),
    policy=DealerPolicy,
    spec=lambda policy: SPEC,
    settings_field="dealer",
    context_keys=frozenset(),
)
PARTY = Party(id="c-1", name="Cleo", email="cleo@example.com")


@workflow.defn(name="held_test")
class HeldOrder(OrderWorkflow[Any, DealerPolicy], flow=ENTRY):
    """Authorises at start; support captures whenever the goods ship."""

    @workflow.init
    def __init__(self, input: StartOrderInput) -> None:
        super().__init__(input)
        self.ledger = PaymentLedger("H-1", "EUR", self.changed)
        self.created()

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Hold 90.00 EUR, then wait."""
        await self.ledger.authorise(9000, input.request.payment.payment_method)
        return await self.run_order()

    def order_id(self) -> str:
        return "H-1"

    def customer_id(self) -> str:
        return PARTY.id

    @on_action("capture")
    async def _capture(self, actor: Actor, payload: NoPayload) -> None:
        assert self.ledger is not None
        await self.ledger.capture()
        self.transition("captured", "capture", actor)
        self.finish()

    def deadlines(self) -> list[Deadline]:
        return []

    def build_view(self, base: dict[str, Any]) -> OrderView:
        assert self.ledger is not None
        return OrderView(
            **base,
            customer=PARTY,
            provider=PARTY,
            items=[LineItem(name="Charge box", unit_amount=9000)],
            currency="EUR",
            amount_total=9000,
            appointment=Appointment(start=self._created_at, time_zone="UTC"),
            amount_held=self.ledger.held,
            amount_paid=self.ledger.captured,
            request_fingerprint="test",
        )


@pytest.fixture
async def held(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[WorkflowEnvironment, FakeActivities, str]]:
    fakes = FakeActivities()
    async with running_worker(
        own_time_env.client,
        task_queue=task_queue,
        workflows=[HeldOrder],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        yield own_time_env, fakes, task_queue


async def start(env: WorkflowEnvironment, queue: str, method: str) -> Any:
    request = dealer_request(payment=card(method)).model_copy(update={"order_id": "H-1"})
    start = StartOrderInput(
        order_id="H-1",
        request=request,
        request_fingerprint="test",
        policy=DealerPolicy().model_dump(mode="json"),
        created_by=SYSTEM,
    )
    return await env.client.start_workflow(
        HeldOrder.run, start, id=f"held-{queue}", task_queue=queue
    )


async def test_hold_is_renewed_and_shown_as_the_next_deadline(held: Any) -> None:
    env, fakes, queue = held
    order = await start(env, queue, "pm_card_visa")
    await env.sleep(timedelta(minutes=1))
    view = await order.query(HeldOrder.view)
    assert view.amount_held == 9000
    assert view.next_deadline is not None
    assert view.next_deadline.name == "payment_hold_renewal"
    assert view.next_deadline.due_at - view.payments[0].at == RENEWED_AFTER
    await env.sleep(STRIPE_HOLD)
    view = await order.query(HeldOrder.view)
    assert [a.amount for a in fakes.authorisations] == [9000, 9000]
    assert [r.payment_intent_id for r in fakes.releases] == ["pi_auth_1"]
    assert view.amount_held == 9000
    assert not view.needs_attention


async def test_hold_that_cannot_be_renewed_flags_the_order(held: Any) -> None:
    env, _fakes, queue = held
    order = await start(env, queue, ONCE)
    await env.sleep(STRIPE_HOLD)
    view = await order.query(HeldOrder.view)
    assert view.needs_attention
    assert view.attention_reason is not None
    assert view.attention_reason.startswith("payment hold lapsed: Your card was declined.")
    assert view.amount_held == 0
    assert view.next_deadline is None
