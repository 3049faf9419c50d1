"""apply_effects: each email tried once, the view written with the settled ones' records."""

from __future__ import annotations

from datetime import UTC, datetime

from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.effects import EffectsActivities, activity_name, with_effects
from activities.email import EMAIL_TEMPLATE_ERROR, SMTP_UNAVAILABLE
from activities.records import ORDER_DATABASE_ERROR
from models.activities import (
    APPLY_EFFECTS,
    EffectsInput,
    RecordOrderInput,
    SendEmailInput,
    SendEmailResult,
)
from models.orders import NotificationStatus, OrderView
from tests.db.factories import make_view
from tests.support.fakes import FakeActivities

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def view() -> OrderView:
    return make_view("o-1", version=2)


def email(role: str, address: str) -> SendEmailInput:
    return SendEmailInput(
        idempotency_key=f"o-1:email-cancelled-{role}:2",
        order_id="o-1",
        flow="prepaid_service",
        event="cancelled",
        recipient_role=role,
        to_address=address,
        to_name=role,
    )


class Outcomes:
    """A sender whose answer depends on the address; a writer that may be down."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.written: list[OrderView] = []
        self.database_down = False

    async def send(self, input: SendEmailInput) -> SendEmailResult:
        self.sent.append(input.idempotency_key)
        if input.to_address.startswith("down"):
            raise ApplicationError("SMTP server unavailable", type=SMTP_UNAVAILABLE)
        if input.to_address.startswith("broken"):
            raise ApplicationError(
                "template needs 'x'", type=EMAIL_TEMPLATE_ERROR, non_retryable=True
            )
        return SendEmailResult(status=NotificationStatus.sent, detail="accepted")

    async def record(self, input: RecordOrderInput) -> None:
        if self.database_down:
            raise ApplicationError("order database: refused", type=ORDER_DATABASE_ERROR)
        self.written.append(input.view)


async def test_settled_emails_are_written_with_the_view_and_the_rest_handed_back() -> None:
    outcomes = Outcomes()
    effects = EffectsActivities(outcomes.send, outcomes.record)
    emails = [email("customer", "c@x.test"), email("provider", "down@x.test")]
    emails.append(email("support", "broken@x.test"))
    result = await ActivityEnvironment().run(
        effects.apply_effects, EffectsInput(view=view(), emails=emails)
    )
    assert result.recorded and result.record_error is None
    assert [(n.idempotency_key, n.status) for n in result.notifications] == [
        (emails[0].idempotency_key, NotificationStatus.sent),
        (emails[2].idempotency_key, NotificationStatus.failed),
    ]
    assert result.notifications[1].detail == "EmailTemplateError: template needs 'x'"
    assert result.unsettled == {
        emails[1].idempotency_key: "SmtpUnavailable: SMTP server unavailable"
    }
    # One try each, one write holding the settled emails' records.
    assert outcomes.sent == [e.idempotency_key for e in emails]
    [written] = outcomes.written
    assert written.notifications == result.notifications
    assert written.version == 2


async def test_a_database_outage_is_an_answer_not_a_retry_that_would_mail_again() -> None:
    outcomes = Outcomes()
    outcomes.database_down = True
    effects = EffectsActivities(outcomes.send, outcomes.record)
    result = await ActivityEnvironment().run(
        effects.apply_effects, EffectsInput(view=view(), emails=[email("customer", "c@x.test")])
    )
    assert not result.recorded
    assert result.record_error == "OrderDatabaseError: order database: refused"
    assert [n.status for n in result.notifications] == [NotificationStatus.sent]


def test_with_effects_is_built_from_the_registered_sender_and_writer() -> None:
    fakes = FakeActivities()
    activities = with_effects(fakes.all())
    assert [activity_name(fn) for fn in activities].count(APPLY_EFFECTS) == 1
    # Once there, or without a writer, nothing is added.
    assert with_effects(activities) == activities
    without_writer = [fn for fn in fakes.all() if fn != fakes.record_order]
    assert APPLY_EFFECTS not in [activity_name(fn) for fn in with_effects(without_writer)]
