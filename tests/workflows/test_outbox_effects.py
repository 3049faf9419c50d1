"""The effects outbox: a transition's emails and read-model write in one activity.

An order cancelled by its deadline used to make four activities after the timer (record,
two emails, record the emails); now one ``apply_effects``. An SMTP or database outage
still never delays the deadline: what the one try leaves goes on through ``send_email``
(the rest of the bounded budget) and ``record_order`` (until the database is back).
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.email import SMTP_UNAVAILABLE
from activities.records import ORDER_DATABASE_ERROR
from flows.prepaid_service.policy import PrepaidPolicy
from models.activities import (
    RECORD_ORDER,
    SEND_EMAIL,
    RecordOrderInput,
    SendEmailInput,
    SendEmailResult,
)
from models.orders import NotificationStatus, OrderView
from models.policy import ActivityPolicy
from tests.support.fakes import FakeActivities
from tests.support.harness import flow_worker
from tests.support.prepaid_service import PrepaidHarness

WINDOW = timedelta(minutes=5)
POLICY = PrepaidPolicy(confirm_window=WINDOW, same_day_confirm_window=WINDOW)
# A timer fires in the workflow task after it; the retries of mail or writes take minutes.
ON_TIME = timedelta(seconds=1)


def activities_after_the_timer(history: History) -> list[str]:
    """The activity types scheduled after the (first) deadline's timer fired."""
    fired = next(
        i for i, e in enumerate(history.events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
    )
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events[fired:]
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


def local_activities_after_the_timer(history: History) -> int:
    """How many local activities ran after the (first) deadline's timer fired."""
    fired = next(
        i for i, e in enumerate(history.events) if e.event_type == EventType.EVENT_TYPE_TIMER_FIRED
    )
    return sum(
        1
        for e in history.events[fired:]
        if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and e.marker_recorded_event_attributes.marker_name == "core_local_activity"
    )


async def created_and_recorded(harness: PrepaidHarness) -> WorkflowHandle[Any, OrderView]:
    order = await harness.start(policy=POLICY)
    for _ in range(200):
        recorded = harness.fakes.views.get(order.id.removeprefix("order-"))
        if recorded is not None and len(recorded.notifications) == 2:
            return order
        await harness.env.sleep(timedelta(seconds=1))
    raise AssertionError("the created emails were not recorded")


async def test_a_deadline_cancels_with_one_activity_for_its_mail_and_record(
    harness: PrepaidHarness,
) -> None:
    order = await created_and_recorded(harness)
    view = await harness.view(order)
    await harness.sleep(WINDOW + timedelta(minutes=1))
    final = await order.result()
    assert final.status == "cancelled"
    # Before: record_order, send_email twice, record_order again; then one apply_effects
    # activity; now, the order being over, apply_effects as a local activity in the task
    # that cancelled it (patch final-effects-local): no activity task at all.
    history = await order.fetch_history()
    assert activities_after_the_timer(history) == []
    assert local_activities_after_the_timer(history) == 1
    cancelled = [n for n in final.notifications if n.event == "cancelled"]
    assert [(n.recipient_role, n.status) for n in cancelled] == [
        ("customer", NotificationStatus.sent),
        ("provider", NotificationStatus.sent),
    ]
    # The read model has the cancellation and its mail's outcomes from that one write.
    assert harness.fakes.views[view.order_id] == final
    # Each email keeps the key the workflow made, sent once.
    keys = [e.idempotency_key for e in harness.fakes.emails_for(view.order_id, "cancelled")]
    assert keys == [n.idempotency_key for n in cancelled]


class _SmtpDown(FakeActivities):
    """The SMTP server is unreachable: every send fails for now (retryable)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: Counter[str] = Counter()

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, input: SendEmailInput) -> SendEmailResult:
        self.attempts[input.idempotency_key] += 1
        raise ApplicationError("SMTP server 127.0.0.1:1 unavailable", type=SMTP_UNAVAILABLE)


async def test_smtp_down_delays_no_deadline_and_mail_keeps_its_budget(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = _SmtpDown()
    async with flow_worker(own_time_env, task_queue, fakes.all()):
        harness = PrepaidHarness(own_time_env, task_queue, fakes)
        order = await harness.start(policy=POLICY)
        due = (await harness.view(order)).next_deadline
        assert due is not None
        await harness.sleep(WINDOW + timedelta(minutes=1))
        final = await order.result()
    [fired] = final.deadlines_fired
    # On time (the mail's retries take minutes of the workflow's clock).
    assert timedelta(0) <= fired.fired_at - due.due_at < ON_TIME
    assert (final.status, final.history[-1].at) == ("cancelled", fired.fired_at)
    assert [(n.event, n.status) for n in final.notifications] == [
        ("created", NotificationStatus.failed),
        ("created", NotificationStatus.failed),
        ("cancelled", NotificationStatus.failed),
        ("cancelled", NotificationStatus.failed),
    ]
    assert all("unavailable" in (n.detail or "") for n in final.notifications)
    # One try in apply_effects, the rest of the budget in send_email: 6 in all.
    budget = ActivityPolicy().email_max_attempts
    assert set(fakes.attempts.values()) == {budget}
    assert len(fakes.attempts) == 4
    # The order closed only once the failures were recorded, so support can resend them.
    assert fakes.views[final.order_id] == final


class _DatabaseDown(FakeActivities):
    """The order database refuses writes while ``down``."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False
        self.refused = 0

    @activity.defn(name=RECORD_ORDER)
    async def record_order(self, input: RecordOrderInput) -> None:
        if self.down:
            self.refused += 1
            raise ApplicationError("order database: connection refused", type=ORDER_DATABASE_ERROR)
        await super().record_order(input)


async def test_database_down_delays_no_deadline_nor_mail_and_the_record_catches_up(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = _DatabaseDown()
    async with flow_worker(own_time_env, task_queue, fakes.all()):
        harness = PrepaidHarness(own_time_env, task_queue, fakes)
        order = await created_and_recorded(harness)
        due = (await harness.view(order)).next_deadline
        assert due is not None
        fakes.down = True
        await harness.sleep(WINDOW + timedelta(minutes=2))
        view = await harness.view(order)
        # Cancelled on time, its mail sent once and known to the workflow, while the
        # database is still down; the order stays open until its record is in.
        [fired] = view.deadlines_fired
        assert timedelta(0) <= fired.fired_at - due.due_at < ON_TIME
        assert (view.status, view.history[-1].at) == ("cancelled", fired.fired_at)
        assert [n.status for n in view.notifications if n.event == "cancelled"] == [
            NotificationStatus.sent,
            NotificationStatus.sent,
        ]
        assert len(fakes.emails_for(view.order_id, "cancelled")) == 2
        assert fakes.refused >= 2
        assert fakes.views[view.order_id].status == "confirmation"
        events = (await order.fetch_history()).events
        assert events[-1].event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED

        fakes.down = False
        final = await order.result()
    assert fakes.views[final.order_id] == final
    assert len(fakes.emails_for(final.order_id, "cancelled")) == 2
    history = await order.fetch_history()
    # The finished order's local effects could not write: record_order took over.
    after = activities_after_the_timer(history)
    assert local_activities_after_the_timer(history) == 1
    assert after and set(after) == {RECORD_ORDER}
