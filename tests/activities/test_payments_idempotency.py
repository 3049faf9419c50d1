"""A retried payment never charges twice: the retry sends the first attempt's key.

The proxy in front of localstripe forwards the first ``POST /v1/payment_intents`` (so the
charge is made) and then closes the connection instead of answering, which is what a
timeout or a dropped connection looks like to the client. The repeat reaches the server,
which answers it with the first answer under the same key, as Stripe does
(``devstack/localstripe_server.py``).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from collections.abc import AsyncIterator
    from urllib.parse import parse_qs

    import pytest
    import stripe
    from temporalio.api.enums.v1 import EventType
    from temporalio.exceptions import ApplicationError
    from temporalio.testing import WorkflowEnvironment
    from temporalio.worker import Worker

    from activities.payments import (
        DEFAULT_MAX_NETWORK_RETRIES,
        STRIPE_CONNECTION_ERROR,
        STRIPE_IDEMPOTENCY_ERROR,
        PaymentActivities,
    )
    from models.activities import CHARGE_PAYMENT, ChargeInput, ChargeResult
    from models.orders import PaymentOutcome
    from tests.activities.test_payments_scenarios import (
        authorise_input,
        cancel_input,
        capture_input,
        refund_input,
    )
    from tests.fixtures.stripe import (
        LocalStripe,
        RecordingHTTPClient,
        StripeProxy,
        drop_first,
        intents_for_order,
        run_activity,
    )
    from workflows.sandbox import workflow_runner


@workflow.defn(name="charge_once_test")
class ChargeOnceWorkflow:
    """Charge through the activity by name, with Temporal's retries, as an order would."""

    @workflow.run
    async def run(self, input: ChargeInput) -> ChargeResult:
        """One charge; a network error is retried under the same input (and key)."""
        result: ChargeResult = await workflow.execute_activity(
            CHARGE_PAYMENT,
            input,
            result_type=ChargeResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                backoff_coefficient=1.0,
                maximum_attempts=3,
            ),
        )
        return result


@pytest.fixture
async def lossy_proxy(localstripe: LocalStripe) -> AsyncIterator[StripeProxy]:
    """Loses the answer to the first PaymentIntent creation, after localstripe made it."""
    proxy = StripeProxy(localstripe.base_url, drop=drop_first("POST", "/v1/payment_intents"))
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.close()


def through(proxy: StripeProxy, localstripe: LocalStripe) -> stripe.StripeClient:
    return stripe.StripeClient(
        localstripe.api_key,
        base_addresses={"api": proxy.base_url},
        http_client=stripe.HTTPXClient(),
    )


def charge_input(order_id: str) -> ChargeInput:
    return ChargeInput(
        idempotency_key=f"{order_id}:charge:1",
        order_id=order_id,
        amount=12_000,
        currency="EUR",
        payment_method="pm_card_visa",
    )


def assert_one_charge_sent_twice(proxy: StripeProxy, order_id: str) -> None:
    """Two requests, one key, one body: the first executed and lost, the second replayed by
    the server."""
    first, second = proxy.requests
    assert (first.method, first.path) == (second.method, second.path)
    assert (first.method, first.path) == ("POST", "/v1/payment_intents")
    assert first.idempotency_key == second.idempotency_key == f"{order_id}:charge:1"
    assert first.body == second.body
    assert (first.forwarded, first.dropped, first.replayed) == (True, True, False)
    assert (second.forwarded, second.dropped, second.replayed) == (True, False, True)


async def test_temporal_retry_sends_the_same_key_and_charges_once(
    time_env: WorkflowEnvironment,
    task_queue: str,
    localstripe: LocalStripe,
    lossy_proxy: StripeProxy,
    order_id: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    payments = PaymentActivities(through(lossy_proxy, localstripe))
    async with Worker(
        time_env.client,
        task_queue=task_queue,
        workflows=[ChargeOnceWorkflow],
        activities=[payments.charge_payment],
        workflow_runner=workflow_runner(),
    ):
        handle = await time_env.client.start_workflow(
            ChargeOnceWorkflow.run,
            charge_input(order_id),
            id=f"charge-once-{order_id}",
            task_queue=task_queue,
        )
        result = await handle.result()

    assert result.outcome is PaymentOutcome.succeeded
    assert_one_charge_sent_twice(lossy_proxy, order_id)
    # One PaymentIntent on the server, and it is the one the workflow was told about.
    assert await intents_for_order(localstripe.stripe_client(), order_id) == [
        result.payment_intent_id
    ]
    # Temporal made the retry: the activity completed once, on attempt 2, after attempt 1
    # failed with a retryable connection error (the time-skipping server keeps no
    # last_failure in history, so the worker's log of attempt 1 shows it).
    history = await handle.fetch_history()
    started = [
        e.activity_task_started_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    completed = [
        e for e in history.events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    assert len(completed) == 1
    assert [s.attempt for s in started] == [2]
    failures = [
        (r.getMessage(), r.exc_info[1])
        for r in caplog.records
        if r.name == "temporalio.activity" and r.exc_info is not None
    ]
    [(message, error)] = failures
    assert "'attempt': 1" in message
    assert isinstance(error, ApplicationError)
    assert error.type == STRIPE_CONNECTION_ERROR
    assert not error.non_retryable


async def test_the_activity_makes_one_request_per_attempt(
    localstripe: LocalStripe, lossy_proxy: StripeProxy, order_id: str
) -> None:
    """The default (no SDK retries): a lost answer fails the attempt, retryably, at once."""
    assert DEFAULT_MAX_NETWORK_RETRIES == 0
    # The injected client asks for SDK retries; the activity's own setting wins.
    client = stripe.StripeClient(
        localstripe.api_key,
        base_addresses={"api": lossy_proxy.base_url},
        http_client=stripe.HTTPXClient(),
        max_network_retries=3,
    )

    with pytest.raises(ApplicationError) as caught:
        await run_activity(PaymentActivities(client).charge_payment, charge_input(order_id))

    assert caught.value.type == STRIPE_CONNECTION_ERROR
    assert not caught.value.non_retryable
    assert len(lossy_proxy.requests) == 1


async def test_sdk_retries_also_send_the_same_key(
    localstripe: LocalStripe, lossy_proxy: StripeProxy, order_id: str
) -> None:
    """With the SDK's own retries on, the SDK repeats the request under the same key."""
    payments = PaymentActivities(through(lossy_proxy, localstripe), max_network_retries=1)

    result = await run_activity(payments.charge_payment, charge_input(order_id))

    assert result.outcome is PaymentOutcome.succeeded
    assert_one_charge_sent_twice(lossy_proxy, order_id)
    assert await intents_for_order(localstripe.stripe_client(), order_id) == [
        result.payment_intent_id
    ]


async def test_a_key_reused_for_another_request_is_not_retried(
    localstripe: LocalStripe, lossy_proxy: StripeProxy, order_id: str
) -> None:
    """A workflow bug (one key, two different charges) stops instead of charging."""
    payments = PaymentActivities(through(lossy_proxy, localstripe))
    with pytest.raises(ApplicationError):
        await run_activity(payments.charge_payment, charge_input(order_id))
    other = charge_input(order_id).model_copy(update={"amount": 1_000})

    with pytest.raises(ApplicationError) as caught:
        await run_activity(payments.charge_payment, other)

    assert caught.value.type == STRIPE_IDEMPOTENCY_ERROR
    assert caught.value.non_retryable


async def test_every_request_carries_its_input_key(localstripe: LocalStripe, order_id: str) -> None:
    recorder = RecordingHTTPClient()
    payments = PaymentActivities(localstripe.stripe_client(http_client=recorder))

    held = await run_activity(
        payments.authorise_payment, authorise_input(order_id, "pm_card_visa", 5_000)
    )
    assert held.payment_intent_id is not None
    await run_activity(payments.capture_payment, capture_input(order_id, held.payment_intent_id))
    await run_activity(
        payments.refund_payment, refund_input(order_id, held.payment_intent_id, 1_000, 1)
    )
    released = await run_activity(
        payments.authorise_payment, authorise_input(order_id, "pm_card_visa", seq=2)
    )
    assert released.payment_intent_id is not None
    await run_activity(
        payments.cancel_authorisation, cancel_input(order_id, released.payment_intent_id)
    )

    sent = [
        (r.url.removeprefix(localstripe.base_url), r.headers.get("Idempotency-Key"))
        for r in recorder.requests
    ]
    assert sent == [
        ("/v1/payment_intents", f"{order_id}:authorise:1"),
        (f"/v1/payment_intents/{held.payment_intent_id}/capture", f"{order_id}:capture:1"),
        ("/v1/refunds", f"{order_id}:refund:1"),
        ("/v1/payment_intents", f"{order_id}:authorise:2"),
        (f"/v1/payment_intents/{released.payment_intent_id}/cancel", f"{order_id}:cancel:1"),
    ]
    assert all(r.status == 200 for r in recorder.requests)
    # A full capture sends no amount_to_capture at all.
    assert parse_qs(recorder.requests[1].body) == {}
