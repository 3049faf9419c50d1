"""resend_email: the engine's own support action, on every flow, checked like any action."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.client import WorkflowHandle

from flows.catalog import FLOW_NAMES, flow_spec
from models import errors
from models.actions import RESEND_EMAIL
from models.common import Role
from models.orders import NotificationRecord, NotificationStatus, OrderView
from tests.support.harness import Rejected
from tests.support.prepaid_service import CUSTOMER, PrepaidHarness

C, P, S = Role.customer, Role.provider, Role.support
Handle = WorkflowHandle[Any, OrderView]


async def notifications(
    harness: PrepaidHarness, order: Handle, count: int, seconds: float = 30.0
) -> list[NotificationRecord]:
    """The order's notifications once at least ``count`` are recorded."""
    deadline = asyncio.get_running_loop().time() + seconds
    while len(found := (await harness.view(order)).notifications) < count:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(found)} notifications recorded, waited for {count}")
        await asyncio.sleep(0.1)
    return found


async def created_with_customer_refused(harness: PrepaidHarness) -> tuple[Handle, str]:
    """An order whose ``created`` email to the customer failed; that email's key."""
    harness.fakes.refused_addresses.add(str(CUSTOMER.email))
    order = await harness.start()
    recorded = await notifications(harness, order, 2)
    failed = [n for n in recorded if n.status == NotificationStatus.failed]
    assert [(n.event, n.recipient_role) for n in failed] == [("created", C)]
    return order, failed[0].idempotency_key


def resend(key: str) -> dict[str, str]:
    return {"notification": key}


def test_every_flow_lists_resend_email_for_support_in_every_state() -> None:
    for name in FLOW_NAMES:
        spec = flow_spec(name)
        assert spec is not None
        action = spec.action(RESEND_EMAIL)
        assert action is not None, name
        assert action.states_by_role == {S: [state.name for state in spec.states]}
        assert action.payload_schema["required"] == ["notification"]


async def test_a_failed_email_is_resent_under_a_new_key(harness: PrepaidHarness) -> None:
    order, key = await created_with_customer_refused(harness)
    before = await harness.view(order)
    assert RESEND_EMAIL in before.allowed_actions[S]
    assert RESEND_EMAIL not in before.allowed_actions[C] + before.allowed_actions[P]

    harness.fakes.refused_addresses.clear()  # the mailbox works again
    view = await harness.act(order, RESEND_EMAIL, S, resend(key))
    assert view.status == "confirmation"
    assert view.history[-1].action == RESEND_EMAIL
    assert view.history[-1].actor.role == S
    assert view.history[-1].reason == f"email {key} resent as {key}:resend-1"
    assert RESEND_EMAIL not in view.allowed_actions[S]

    recorded = await notifications(harness, order, 3)
    assert recorded[-1].idempotency_key == f"{key}:resend-1"
    assert (recorded[-1].event, recorded[-1].status) == ("created", NotificationStatus.sent)
    sent = harness.fakes.emails_for(before.order_id, "created")
    assert [e.idempotency_key for e in sent if e.recipient_role == C] == [key, f"{key}:resend-1"]
    # The same email, only the key differs (the event's emails go out together, in any order).
    first = next(e for e in sent if e.idempotency_key == key)
    again = next(e for e in sent if e.idempotency_key == f"{key}:resend-1")
    assert again.model_copy(update={"idempotency_key": key}) == first


async def test_a_resend_that_fails_again_can_be_resent(harness: PrepaidHarness) -> None:
    order, key = await created_with_customer_refused(harness)
    await harness.act(order, RESEND_EMAIL, S, resend(key))
    again = (await notifications(harness, order, 3))[-1]
    assert (again.idempotency_key, again.status) == (f"{key}:resend-1", NotificationStatus.failed)

    harness.fakes.refused_addresses.clear()
    await harness.act(order, RESEND_EMAIL, S, resend(again.idempotency_key))
    last = (await notifications(harness, order, 4))[-1]
    assert (last.idempotency_key, last.status) == (f"{key}:resend-2", NotificationStatus.sent)


@pytest.mark.parametrize(
    ("which", "role", "message"),
    [
        ("unknown", S, "this order has no email 'nope:email-created-customer:1'"),
        ("sent", S, "was sent; only a failed or skipped email can be resent"),
        ("resent", S, "was resent already, as "),
        ("failed", C, "customer may not resend_email an order in confirmation"),
        ("failed", P, "provider may not resend_email an order in confirmation"),
    ],
)
async def test_refused_resends_say_why(
    harness: PrepaidHarness, which: str, role: Role, message: str
) -> None:
    order, failed_key = await created_with_customer_refused(harness)
    sent_key = failed_key.replace("-customer:", "-provider:")
    if which == "resent":
        await harness.act(order, RESEND_EMAIL, S, resend(failed_key))
    key = {"unknown": "nope:email-created-customer:1", "sent": sent_key}.get(which, failed_key)
    before = await harness.view(order)
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, RESEND_EMAIL, role, resend(key))
    assert rejected.value.kind == errors.NOT_ALLOWED
    assert message in rejected.value.message
    # Rejected by the validator: nothing entered the order's history.
    assert (await harness.view(order)).history == before.history


async def test_resend_email_is_not_offered_when_every_email_was_sent(
    harness: PrepaidHarness,
) -> None:
    order = await harness.start()
    await notifications(harness, order, 2)
    view = await harness.view(order)
    assert RESEND_EMAIL not in view.allowed_actions[S]
    with pytest.raises(Rejected) as rejected:
        await harness.act(order, RESEND_EMAIL, S, {"notification": ""})
    assert rejected.value.kind == errors.INVALID_PAYLOAD
