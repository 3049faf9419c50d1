"""Scenarios of the charge box installation flow whose histories are recorded for replay."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from tests.histories.scenarios import Handle, Scenarios
from tests.support.charge_box_installation import C, InstallationHarness, S
from tests.support.fakes import BROKEN, DECLINE, NEEDS_3DS
from tests.support.harness import FlowHarness, Rejected

H = timedelta(hours=1)
D = timedelta(days=1)


def _installation(h: FlowHarness) -> InstallationHarness:
    return InstallationHarness(h.env, h.task_queue, h.fakes)


async def scheduled_moved_then_fulfilled(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start()
    await h.schedule(order, await h.in_(2 * D), role=C, note="partner on site")
    await h.schedule(order, await h.in_(5 * D))
    await h.schedule(order, await h.in_(3 * D), role=C)
    await h.sleep(3 * D + H)
    await order.result()
    return order


async def declined_at_schedule_then_new_card(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start(card=DECLINE)
    await h.schedule(order, await h.in_(D))
    await h.sleep(D + H)
    await h.act(order, "update_payment_method", C, {"payment_method": "pm_card_visa"})
    await h.act(order, "fulfil", S, {"note": "activated"})
    await order.result()
    return order


async def unscheduled_resent_cancelled(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start()
    await h.schedule(order, await h.in_(D))
    await h.act(order, "unschedule", C, {"reason": "installer ill"})
    await h.sleep(2 * D)
    await h.act(order, "resend_order_confirmation", S)
    await h.act(order, "initiate_installation", S)
    await h.act(order, "cancel", S, {"reason": "changed their mind"})
    await order.result()
    return order


async def invoice_fulfilled_now(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start(card=None)
    await h.act(order, "fulfil", S)
    await order.result()
    return order


async def provider_outage_retried_then_cancelled(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start(card=BROKEN)
    await h.schedule(order, await h.in_(D))
    await h.sleep(D + 2 * H + H / 2)  # the scheduled attempt and two retries
    await h.act(order, "cancel", S, {"reason": "payment provider account suspended"})
    await order.result()
    return order


async def three_d_secure_confirmed_by_webhook(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start(card=NEEDS_3DS)
    with contextlib.suppress(Rejected):
        await h.act(order, "fulfil", S)
    intent = (await h.view(order)).payments[-1].provider_id
    assert intent is not None
    await h.webhook(order, "payment_intent.succeeded", intent)
    await order.result()
    return order


async def three_d_secure_voided_by_cancel(fh: FlowHarness) -> Handle:
    h = _installation(fh)
    order = await h.start(card=NEEDS_3DS)
    await h.schedule(order, await h.in_(D))
    await h.sleep(D + H)
    await h.act(order, "cancel", S, {"reason": "no authentication"})
    await order.result()
    return order


SCENARIOS: Scenarios = {
    "scheduled_moved_then_fulfilled": scheduled_moved_then_fulfilled,
    "declined_at_schedule_then_new_card": declined_at_schedule_then_new_card,
    "unscheduled_resent_cancelled": unscheduled_resent_cancelled,
    "invoice_fulfilled_now": invoice_fulfilled_now,
    "provider_outage_retried_then_cancelled": provider_outage_retried_then_cancelled,
    "three_d_secure_confirmed_by_webhook": three_d_secure_confirmed_by_webhook,
    "three_d_secure_voided_by_cancel": three_d_secure_voided_by_cancel,
}
