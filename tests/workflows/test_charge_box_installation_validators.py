"""Every action of the installation flow by state and role: allowed, or refused before history."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from flows.charge_box_installation.declaration import charge_box_installation_spec
from models import errors
from models.common import Role
from models.orders import NotificationStatus, PaymentOutcome
from tests.support.charge_box_installation import (
    C,
    Handle,
    InstallationHarness,
    P,
    S,
)
from tests.support.fakes import DECLINE, NEEDS_3DS
from tests.support.harness import Rejected

D = timedelta(days=1)
# The flow's own actions, as declared (the engine's resend_email is tested elsewhere).
ACTIONS = charge_box_installation_spec().flow_actions()


async def payloads(h: InstallationHarness) -> dict[str, dict[str, Any]]:
    """A valid payload per action (the schedule three days ahead of the server's now)."""
    return {
        "fulfil": {"note": "installed and activated"},
        "schedule": {"at": (await h.in_(3 * D)).isoformat()},
        "unschedule": {"reason": "installer ill"},
        "resend_order_confirmation": {},
        "initiate_installation": {},
        "update_payment_method": {"payment_method": "pm_card_mastercard"},
        "cancel": {"reason": "the customer changed their mind"},
    }


async def pending(h: InstallationHarness) -> Handle:
    return await h.start()


async def pending_invoice(h: InstallationHarness) -> Handle:
    return await h.start(card=None)


async def scheduled(h: InstallationHarness) -> Handle:
    order = await h.start()
    await h.schedule(order, await h.in_(2 * D))
    return order


ALL_SUPPORT = {
    "fulfil",
    "schedule",
    "resend_order_confirmation",
    "initiate_installation",
    "cancel",
}
STATES: dict[
    str, tuple[Callable[[InstallationHarness], Awaitable[Handle]], dict[Role, set[str]]]
] = {
    "pending": (pending, {C: {"schedule", "update_payment_method"}, P: set(), S: ALL_SUPPORT}),
    "pending/invoice": (pending_invoice, {C: {"schedule"}, P: set(), S: ALL_SUPPORT}),
    "scheduled": (
        scheduled,
        {
            C: {"schedule", "unschedule", "update_payment_method"},
            P: set(),
            S: ALL_SUPPORT | {"unschedule"},
        },
    ),
}


@pytest.mark.parametrize("state", list(STATES))
async def test_actions_by_state_and_role(installation: InstallationHarness, state: str) -> None:
    build, expected = STATES[state]
    order = await build(installation)
    before = await installation.view(order)
    assert {role: set(actions) for role, actions in before.allowed_actions.items()} == expected
    valid = await payloads(installation)
    assert set(valid) == set(ACTIONS)

    for role in (C, P, S):
        for action in ACTIONS:
            if action in expected[role]:
                continue
            with pytest.raises(Rejected) as rejected:
                await installation.act(order, action, role, valid[action])
            assert rejected.value.kind == errors.NOT_ALLOWED, (action, role)
            assert rejected.value.message, (action, role)
    after = await installation.view(order)
    assert after.version == before.version, "a rejected action changed the order"
    assert after.history == before.history

    # Every allowed action really goes through (each on an order of its own).
    for role, actions in expected.items():
        for action in sorted(actions):
            fresh = await build(installation)
            view = await installation.act(fresh, action, role, valid[action])
            assert view.history[-1].action == action, (action, role)
            assert view.history[-1].actor.role == role


async def test_a_role_is_refused_with_the_reason(installation: InstallationHarness) -> None:
    order = await installation.start()
    with pytest.raises(Rejected) as rejected:
        await installation.act(order, "fulfil", C)
    assert rejected.value.message == "customer may not fulfil an order in pending"
    with pytest.raises(Rejected) as rejected:
        await installation.act(
            order, "schedule", P, {"at": (await installation.in_(D)).isoformat()}
        )
    assert rejected.value.message == "provider may not schedule an order in pending"
    with pytest.raises(Rejected) as rejected:
        await installation.act(order, "unschedule", S)
    assert rejected.value.message == "support may not unschedule an order in pending"


async def test_another_orders_party_is_403(installation: InstallationHarness) -> None:
    order = await installation.start()
    for role, action in ((C, "schedule"), (P, "fulfil")):
        with pytest.raises(Rejected) as rejected:
            payload = (
                {"at": (await installation.in_(D)).isoformat()} if action == "schedule" else {}
            )
            await installation.act(order, action, role, payload, actor_id="someone-else")
        assert rejected.value.kind == errors.NOT_THIS_PARTY
        assert rejected.value.message == f"{role} someone-else is not this order's {role}"


MALFORMED: list[tuple[str, Role, dict[str, Any], str]] = [
    ("schedule", S, {}, "at"),
    ("schedule", S, {"at": "2030-01-01T10:00:00"}, "timezone"),
    ("schedule", C, {"at": "next tuesday"}, "at"),
    ("update_payment_method", C, {"payment_method": "4242424242424242"}, "payment_method"),
    ("cancel", S, {}, "reason"),
    ("cancel", S, {"reason": "  "}, "reason"),
    ("fulfil", S, {"charge": 0}, "charge"),
    ("resend_order_confirmation", S, {"to": "x@example.com"}, "to"),
]


async def test_malformed_payloads_are_invalid(installation: InstallationHarness) -> None:
    order = await installation.start()
    for action, role, payload, message_part in MALFORMED:
        with pytest.raises(Rejected) as rejected:
            await installation.act(order, action, role, payload)
        assert rejected.value.kind == errors.INVALID_PAYLOAD, (action, payload)
        assert message_part in rejected.value.message, (action, payload)
    assert (await installation.view(order)).version == 1


async def test_a_time_in_the_past_or_the_same_time_is_refused(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    before = await installation.view(order)
    past = await installation.in_(-timedelta(minutes=5))
    with pytest.raises(Rejected) as rejected:
        await installation.schedule(order, past)
    assert rejected.value.kind == errors.NOT_ALLOWED
    assert rejected.value.message.startswith("the fulfilment time ")
    assert "Europe/Copenhagen is in the past (it is " in rejected.value.message
    assert rejected.value.message.endswith("); choose a later time")
    assert (await installation.view(order)).version == before.version

    at = await installation.in_(D)
    await installation.schedule(order, at)
    with pytest.raises(Rejected) as rejected:
        await installation.schedule(order, at, role=C)
    assert rejected.value.message.startswith("the fulfilment is already scheduled for ")


async def test_decline_when_support_fulfils_now_keeps_the_order_where_it_was(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=DECLINE)
    at = await installation.in_(2 * D)
    await installation.schedule(order, at)
    with pytest.raises(Rejected) as rejected:
        await installation.act(order, "fulfil", S)
    assert rejected.value.kind == errors.PAYMENT_DECLINED
    assert rejected.value.message == "payment declined: Your card was declined."
    view = await installation.view(order)
    assert view.status == "scheduled"
    assert view.next_deadline is not None and view.next_deadline.due_at == at
    assert view.needs_attention
    assert view.last_payment_error == "Your card was declined."
    assert [p.outcome for p in view.payments] == [PaymentOutcome.declined]
    assert await installation.mail(view.order_id, "payment_failed")


async def test_provider_outage_when_support_fulfils_now_is_unavailable(
    installation: InstallationHarness,
) -> None:
    order = await installation.start()
    installation.fakes.provider_down = True
    with pytest.raises(Rejected) as rejected:
        await installation.act(order, "fulfil", S)
    assert rejected.value.kind == errors.PAYMENT_UNAVAILABLE
    view = await installation.view(order)
    assert view.status == "pending"
    assert view.needs_attention
    installation.fakes.provider_down = False
    view = await installation.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    # The retry repeated the first attempt's key: one charge whatever happened before.
    assert {c.idempotency_key for c in installation.fakes.charge_attempts} == {
        f"{view.order_id}:charge:1"
    }


async def test_invoice_orders_take_no_card(installation: InstallationHarness) -> None:
    order = await installation.start(card=None)
    with pytest.raises(Rejected) as rejected:
        await installation.act(
            order, "update_payment_method", C, {"payment_method": "pm_card_visa"}
        )
    assert (
        rejected.value.message == "this order is paid by invoice (reference PO-4711), not by card"
    )
    view = await installation.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    assert installation.fakes.charge_attempts == []


async def test_order_of_nothing_is_fulfilled_without_a_payment(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(amount=0)
    view = await installation.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    assert view.payments == []
    # Both emails: the outbox sends them together, the partner's may come first.
    mails = await installation.mails(view.order_id, "fulfilled", 2)
    [mail] = [m for m in mails if m.recipient_role == "customer"]
    assert mail.context["charged"] == "nothing to pay"


async def test_waiting_authentication_is_voided_by_a_new_card_or_a_cancellation(
    installation: InstallationHarness,
) -> None:
    order = await installation.start(card=NEEDS_3DS)
    with pytest.raises(Rejected) as rejected:
        await installation.act(order, "fulfil", S)
    assert rejected.value.kind == errors.PAYMENT_DECLINED
    assert "needs the customer's authentication" in rejected.value.message
    view = await installation.view(order)
    assert view.installation is not None and view.installation.awaiting_authentication
    view = await installation.act(
        order, "update_payment_method", C, {"payment_method": "pm_card_visa"}
    )
    [void] = installation.fakes.releases
    assert void.payment_intent_id == "pi_1"
    assert view.installation is not None and not view.installation.awaiting_authentication
    view = await installation.act(order, "fulfil", S)
    assert view.status == "fulfilled"
    assert [c.idempotency_key.rsplit(":", 1)[1] for c in installation.fakes.charges] == ["1", "2"]

    other = await installation.start(card=NEEDS_3DS)
    with pytest.raises(Rejected):
        await installation.act(other, "fulfil", S)
    view = await installation.act(other, "cancel", S, {"reason": "changed their mind"})
    assert view.status == "cancelled"
    assert not view.needs_attention
    assert [r.payment_intent_id for r in installation.fakes.releases] == ["pi_1", "pi_3"]


async def test_cancel_tells_both_and_ends_the_order(installation: InstallationHarness) -> None:
    order = await installation.start()
    await installation.schedule(order, await installation.in_(D))
    view = await installation.act(order, "cancel", S, {"reason": "cold feet"})
    assert view.status == "cancelled"
    assert view.closed_at is not None
    final = await order.result()
    assert final.status == "cancelled"
    mails = await installation.mail(final.order_id, "cancelled")
    assert {m.recipient_role for m in mails} == {"customer", "installation_partner"}
    assert all(m.context["reason"] == "cold feet" for m in mails)
    assert installation.fakes.charge_attempts == []


async def test_manual_resends_send_again_and_say_so(installation: InstallationHarness) -> None:
    order = await installation.start()
    [confirmation] = await installation.mail(
        (await installation.view(order)).order_id, "order_confirmation"
    )
    assert confirmation.context["trigger"] == "automatic"
    view = await installation.act(order, "resend_order_confirmation", S)
    view = await installation.act(order, "initiate_installation", S)
    assert [t.action for t in view.history][-2:] == [
        "resend_order_confirmation",
        "initiate_installation",
    ]
    assert view.status == "pending"

    first, again = await installation.mails(view.order_id, "order_confirmation", 2)
    assert again.context["trigger"] == "manual"
    assert again.idempotency_key != first.idempotency_key
    assert again.recipient_role == "customer"
    _, request = await installation.mails(view.order_id, "installation_request", 2)
    assert (request.recipient_role, request.to_address) == (
        "installation_partner",
        "ivo@installer.example",
    )
    assert request.context["trigger"] == "manual"
    view = await installation.view(order)
    assert {n.status for n in view.notifications} == {NotificationStatus.sent}
