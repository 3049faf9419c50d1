"""The mail outbox: an event's emails go out together, each recorded with its outcome."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from models.activities import APPLY_EFFECTS, SEND_EMAIL, SendEmailInput, SendEmailResult
from models.common import Role
from models.orders import NotificationStatus, OrderView
from tests.fixtures.temporal import running_worker
from tests.support.fakes import FakeActivities
from tests.support.prepaid_service import CUSTOMER, PROVIDER, PrepaidHarness
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.sandbox import workflow_runner


async def _notified(
    harness: PrepaidHarness, order: WorkflowHandle[Any, OrderView], count: int
) -> Any:
    for _ in range(200):
        view = await harness.view(order)
        if len(view.notifications) >= count:
            return view
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} notifications recorded")


async def test_an_events_emails_go_out_in_one_activity_with_its_record(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start()
    view = await _notified(harness, order, 2)
    assert [(n.event, n.recipient_role, n.status) for n in view.notifications] == [
        ("created", Role.customer, NotificationStatus.sent),
        ("created", Role.provider, NotificationStatus.sent),
    ]
    history = await order.fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    # Both emails and the creation's record in one effects activity (before the
    # effects-together patch: both emails from one workflow task, then a record each).
    assert scheduled == [APPLY_EFFECTS]
    assert len(harness.fakes.emails_for(view.order_id, "created")) == 2


class _OneAddressFails(FakeActivities):
    """Mail to the provider fails for good (a template error is not retried)."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: defaultdict[str, int] = defaultdict(int)

    @activity.defn(name=SEND_EMAIL)
    async def send_email(self, input: SendEmailInput) -> SendEmailResult:
        self.attempts[input.to_address] += 1
        if input.to_address == str(PROVIDER.email):
            raise ApplicationError("no template", type="TemplateError", non_retryable=True)
        return await super().send_email(input)


async def test_a_failed_email_is_recorded_beside_the_sent_one(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> None:
    fakes = _OneAddressFails()
    async with running_worker(
        own_time_env.client,
        task_queue=task_queue,
        workflows=[PrepaidServiceWorkflow],
        activities=fakes.all(),
        workflow_runner=workflow_runner(),
    ):
        harness = PrepaidHarness(own_time_env, task_queue, fakes)
        order = await harness.start()
        view = await _notified(harness, order, 2)
    sent, failed = view.notifications
    assert (sent.to, sent.status) == (str(CUSTOMER.email), NotificationStatus.sent)
    assert (failed.to, failed.status) == (str(PROVIDER.email), NotificationStatus.failed)
    assert failed.detail is not None and failed.detail.endswith("no template")
    assert fakes.attempts == {str(CUSTOMER.email): 1, str(PROVIDER.email): 1}
