"""The payment ledger every flow uses: keys, bounds, holds and their renewal."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from temporalio import activity, workflow
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from tests.fixtures.temporal import running_worker
from tests.support.fakes import DECLINE, ONCE, FakeActivities
from workflows.sandbox import workflow_runner

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from models.activities import (
        CAPTURE_PAYMENT,
        REFUND_PAYMENT,
        CaptureInput,
        CaptureResult,
        RefundInput,
        RefundResult,
    )
    from models.orders import PaymentKind, PaymentOutcome
    from models.policy import ActivityPolicy
    from workflows.payments import PaymentError, PaymentLedger

# Written out, not imported from workflows.payments: Stripe keeps an uncaptured card hold
# for 7 days, and the README's deadline tables renew it after 6.5 days.
STRIPE_HOLD = timedelta(days=7)
RENEWED_AFTER = timedelta(days=6, hours=12)


class Op(BaseModel):
    """One ledger operation for the probe workflow."""

    name: str
    amount: int | None = None
    payment_method: str = "pm_card_visa"


class LedgerState(BaseModel):
    """What the probe reports."""

    held: int
    captured: int
    refunded: int
    keys: list[str]
    kinds: list[str]
    outcomes: list[str]
    intent: str | None
    renewals: int
    renewal_failed: bool


@workflow.defn(sandboxed=True)
class LedgerProbe:
    """Holds money like a dealer order does, and renews the hold before it expires."""

    @workflow.init
    def __init__(self, order_id: str, policy: ActivityPolicy | None = None) -> None:
        self.ledger = PaymentLedger(order_id, "EUR", lambda: None, policy=policy)
        self.done = False
        self.renewals = 0
        self.renewal_failed = False
        self.version = 0

    @workflow.run
    async def run(self, order_id: str, policy: ActivityPolicy | None = None) -> LedgerState:
        while not self.done:
            expires = self.ledger.hold_expires_at()
            version = self.version
            try:
                await workflow.wait_condition(
                    lambda version=version: self.done or self.version != version,
                    timeout=(expires - workflow.now()) if expires else None,
                )
            except TimeoutError:
                if await self.ledger.renew_hold():
                    self.renewals += 1
                else:
                    self.renewal_failed = True
                    self.done = True
        return self.state()

    @workflow.update
    async def op(self, op: Op) -> LedgerState:
        try:
            if op.name == "authorise":
                await self.ledger.authorise(op.amount or 0, op.payment_method)
            elif op.name == "capture":
                await self.ledger.capture(op.amount)
            elif op.name == "release":
                await self.ledger.release_hold()
            elif op.name == "refund":
                await self.ledger.refund(op.amount or 0, "test")
            elif op.name == "charge":
                await self.ledger.charge(op.amount or 0, op.payment_method)
            elif op.name == "invoice":
                self.ledger.invoice_due(op.amount or 0, "purchase order")
            elif op.name == "finish":
                self.done = True
        except PaymentError as exc:
            raise ApplicationError(str(exc), type="PaymentError") from None
        self.version += 1
        return self.state()

    @workflow.query
    def state(self) -> LedgerState:
        records = self.ledger.records
        return LedgerState(
            held=self.ledger.held,
            captured=self.ledger.captured,
            refunded=self.ledger.refunded,
            keys=[r.idempotency_key for r in records],
            kinds=[r.kind for r in records],
            outcomes=[r.outcome for r in records],
            intent=self.ledger.payment_intent,
            renewals=self.renewals,
            renewal_failed=self.renewal_failed,
        )


async def run_probe(
    env: WorkflowEnvironment, queue: str, policy: ActivityPolicy | None = None
) -> Any:
    return await env.client.start_workflow(
        LedgerProbe.run, args=["A-1", policy], id=f"probe-{queue}", task_queue=queue
    )


@pytest.fixture
async def probe(own_time_env: WorkflowEnvironment, task_queue: str) -> Any:
    fakes = FakeActivities()
    async with running_worker(
        own_time_env.client,
        task_queue=task_queue,
        workflows=[LedgerProbe],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        handle = await own_time_env.client.start_workflow(
            LedgerProbe.run, "A-1", id=f"probe-{task_queue}", task_queue=task_queue
        )
        yield own_time_env, handle, fakes


# One ledger operation answers within its payment timeout (seconds here); this bound only
# turns a hang into a failure that names the operation, before the test's 300 s timeout.
OP_SECONDS = 60.0


async def op(handle: Any, name: str, amount: int | None = None, **kw: Any) -> LedgerState:
    update = handle.execute_update(
        LedgerProbe.op, Op(name=name, amount=amount, **kw), result_type=LedgerState
    )
    try:
        state: LedgerState = await asyncio.wait_for(update, timeout=OP_SECONDS)
    except TimeoutError:
        raise AssertionError(
            f"the ledger's {name} did not answer within {OP_SECONDS:.0f} s: its activity "
            "went on retrying past its schedule-to-close bound"
        ) from None
    return state


async def rejected(handle: Any, name: str, amount: int | None = None) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as err:
        await op(handle, name, amount)
    assert isinstance(err.value.cause, ApplicationError)
    return err.value.cause.message


async def test_authorise_capture_part_and_refund_within_bounds(probe: Any) -> None:
    _env, handle, fakes = probe
    state = await op(handle, "authorise", 10000)
    assert state.held == 10000 and state.captured == 0
    assert (
        await rejected(handle, "capture", 10001)
        == "cannot capture more than the 100.00 EUR authorised"
    )
    state = await op(handle, "capture", 7000)
    assert (state.held, state.captured) == (0, 7000)
    state = await op(handle, "refund", 3000)
    state = await op(handle, "refund", 4000)
    assert state.refunded == 7000
    assert await rejected(handle, "refund", 1) == "cannot refund more than the 0.00 EUR captured"
    assert state.keys == [
        "A-1:authorise:1",
        "A-1:capture:2",
        "A-1:refund-test:3",
        "A-1:refund-test:4",
    ]
    assert [r.amount for r in fakes.refunds] == [3000, 4000]


async def test_release_hold_and_declined_authorisation(probe: Any) -> None:
    _env, handle, fakes = probe
    state = await op(handle, "authorise", 5000, payment_method=DECLINE)
    assert state.held == 0 and state.outcomes == [PaymentOutcome.declined]
    state = await op(handle, "authorise", 5000)
    # A decline is final for its key: the next attempt is a new PaymentIntent.
    assert state.keys == ["A-1:authorise:1", "A-1:authorise:2"]
    state = await op(handle, "release")
    assert state.held == 0 and state.kinds[-1] == PaymentKind.release
    assert [r.payment_intent_id for r in fakes.releases] == ["pi_auth_2"]
    assert await rejected(handle, "capture") == "nothing is authorised to capture"


async def test_hold_is_renewed_before_it_expires(probe: Any) -> None:
    env, handle, fakes = probe
    await op(handle, "authorise", 9000)
    await env.sleep(RENEWED_AFTER - timedelta(minutes=5))
    assert (await handle.query(LedgerProbe.state)).renewals == 0
    await env.sleep(timedelta(minutes=10))
    state = await handle.query(LedgerProbe.state)
    assert state.renewals == 1
    assert state.held == 9000
    assert state.intent == "pi_auth_2"
    # The new hold came first, then the old one was released.
    assert [a.amount for a in fakes.authorisations] == [9000, 9000]
    assert [r.payment_intent_id for r in fakes.releases] == ["pi_auth_1"]
    # And it is renewed again a week later, on the new hold.
    await env.sleep(STRIPE_HOLD)
    state = await handle.query(LedgerProbe.state)
    assert state.renewals == 2
    await op(handle, "capture")
    assert fakes.captures[-1].payment_intent_id == "pi_auth_3"


async def test_hold_that_cannot_be_renewed_lapses(probe: Any) -> None:
    env, handle, fakes = probe
    await op(handle, "authorise", 9000, payment_method=ONCE)
    await env.sleep(STRIPE_HOLD)
    state = await handle.query(LedgerProbe.state)
    assert state.renewal_failed
    assert state.held == 0
    assert state.kinds[-1] == PaymentKind.release
    assert state.outcomes[-1] == PaymentOutcome.failed
    assert state.keys[-1] == "A-1:hold-lapsed:3"
    assert fakes.releases == []  # nothing to release: the hold lapses at Stripe


async def test_invoice_due_for_purchase_orders(probe: Any) -> None:
    _env, handle, fakes = probe
    state = await op(handle, "invoice", 25000)
    assert state.kinds == [PaymentKind.invoice]
    assert state.captured == 0
    assert fakes.charges == [] and fakes.authorisations == []
    await op(handle, "finish")
    await asyncio.wait_for(handle.result(), 10)


class ProviderDown(FakeActivities):
    """Captures and refunds that fail as a provider outage does: retryable, for ever."""

    @activity.defn(name=CAPTURE_PAYMENT)
    async def capture_payment(self, input: CaptureInput) -> CaptureResult:
        self.captures.append(input)
        raise ApplicationError("connection refused", type="StripeConnectionError")

    @activity.defn(name=REFUND_PAYMENT)
    async def refund_payment(self, input: RefundInput) -> RefundResult:
        self.refunds.append(input)
        raise ApplicationError("connection refused", type="StripeConnectionError")


async def test_a_capture_or_refund_the_provider_never_answers_gives_up_in_bounds(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    # An Update waits on these (and holds the order's lock): unbounded retries would hang
    # the action and every deadline behind it.
    fakes = ProviderDown()
    async with running_worker(
        own_time_env.client,
        task_queue=task_queue,
        workflows=[LedgerProbe],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        # A short bound (the deployment's ActivityPolicy.payment_timeout): the test server
        # does not skip the time between activity retries.
        timeout = timedelta(seconds=4)
        policy = ActivityPolicy(payment_timeout=timeout)
        handle = await run_probe(own_time_env, task_queue, policy)
        # What one action with one activity costs on this machine right now: the margin.
        began = time.monotonic()
        await op(handle, "authorise", 5000)
        one_action = timedelta(seconds=time.monotonic() - began)
        started = await own_time_env.get_current_time()
        message = await rejected(handle, "capture")
        assert "connection refused" in message
        elapsed = await own_time_env.get_current_time() - started
        # Given up at the timeout (the server's clock, which does not skip here), not after
        # more retries: the margin is what a couple of actions take on this machine.
        assert (
            timeout - timedelta(seconds=1)
            < elapsed
            <= timeout + 2 * one_action + timedelta(seconds=1)
        ), (elapsed, one_action)
        assert len(fakes.captures) > 1  # retried, then given up
        state = await op(handle, "charge", 3000)
        # The failed refund is recorded as failed, not as money returned.
        state = await op(handle, "refund", 3000)
        assert state.refunded == 0 and state.outcomes[-1] == PaymentOutcome.failed
        # Nothing was captured; the hold is still the order's to release.
        assert state.held == 5000
