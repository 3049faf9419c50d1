"""Every deadline and timer of the account order flow, and its receipts (time-skipping server)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from flows.account_order.policy import AccountPolicy
from models.common import Role
from tests.support.account_order import APPROVAL, AccountHarness, C, S

DAY = timedelta(days=1)
MIN = timedelta(minutes=1)


async def test_abandoned_draft_is_cancelled_and_an_edit_restarts_the_expiry(
    account: AccountHarness,
) -> None:
    order = await account.start()
    view = await account.view(order)
    assert view.next_deadline is not None
    assert view.next_deadline.name == "draft_expiry"
    assert view.next_deadline.due_at == view.created_at + 30 * DAY
    await account.sleep(29 * DAY)
    view = await account.act(order, "edit", C, {"notes": "still deciding"})
    assert view.next_deadline is not None
    assert view.next_deadline.due_at == view.history[-1].at + 30 * DAY
    await account.sleep(2 * DAY)  # past the first expiry: the old timer never fires
    assert (await account.view(order)).status == "draft"
    await account.sleep(28 * DAY - MIN)
    assert (await account.view(order)).status == "draft"
    await account.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "cancelled"
    assert final.history[-1].actor.role == Role.system
    assert final.history[-1].reason == "draft abandoned: not placed within 30 days"
    mail = await account.mail(final.order_id, "cancelled")
    assert mail[0].to_address == "ada@example.com"


async def test_waiting_for_approval_then_completion_is_flagged(account: AccountHarness) -> None:
    order = await account.start(APPROVAL)
    view = await account.act(order, "place", C)
    assert view.status == "in_progress"
    assert view.next_deadline is not None and view.next_deadline.name == "approval"
    assert view.next_deadline.due_at == view.history[-1].at + 3 * DAY
    await account.mail(view.order_id, "placed")
    await account.sleep(3 * DAY - MIN)
    assert not (await account.view(order)).needs_attention
    await account.sleep(2 * MIN)
    view = await account.view(order)
    assert view.needs_attention
    assert view.attention_reason == "waiting for approval for 3 days"
    assert view.status == "in_progress" and view.next_deadline is None
    # Approval clears the flag and starts the completion wait.
    view = await account.act(order, "approve", S)
    assert not view.needs_attention
    assert view.next_deadline is not None and view.next_deadline.name == "completion"
    await account.sleep(3 * DAY + MIN)
    view = await account.view(order)
    assert view.attention_reason == "waiting for completion for 3 days"
    view = await account.act(order, "complete", S)
    assert view.status == "completed" and not view.needs_attention


async def test_return_to_draft_restarts_the_draft_expiry(account: AccountHarness) -> None:
    policy = AccountPolicy(approval_required=True, draft_expiry=timedelta(days=2))
    order = await account.start(policy)
    await account.act(order, "place", S)
    await account.sleep(5 * DAY)  # flagged meanwhile; no draft expiry outside Draft
    view = await account.act(order, "return_to_draft", S, {"reason": "wrong address"})
    assert view.status == "draft" and not view.needs_attention
    assert view.next_deadline is not None
    assert view.next_deadline.due_at == view.history[-1].at + 2 * DAY
    mail = await account.mail(view.order_id, "returned_to_draft")
    assert mail[0].context["reason"] == "wrong address"
    await account.sleep(2 * DAY + MIN)
    assert (await order.result()).status == "cancelled"


async def test_receipts_during_the_window_then_the_workflow_ends(account: AccountHarness) -> None:
    order = await account.start()
    view = await account.act(order, "place", C)
    assert view.status == "completed"
    assert view.account is not None and view.account.receipt is not None
    receipt = view.account.receipt
    assert receipt.amount_total == 2999 + 2 * 8900 == view.amount_total
    assert view.closed_at == receipt.completed_at
    assert view.next_deadline is not None and view.next_deadline.name == "receipt_window"
    assert view.next_deadline.due_at == receipt.completed_at + 90 * DAY

    completed = await account.mail(view.order_id, "completed")
    assert completed[0].receipt == receipt
    assert "Total: 207.99 EUR" in completed[0].context["receipt_text"]

    await account.act(order, "send_email_receipt", S)
    await account.sleep(10 * DAY)
    view = await account.act(order, "send_email_receipt", C)
    view = await account.act(order, "reprint_receipt", C)
    assert view.account is not None
    assert (view.account.receipts_emailed, view.account.receipt_reprints) == (2, 1)
    assert view.account.receipt == receipt  # every copy is the original
    assert view.history[-1].reason == "receipt copy 2"
    await account.mail(view.order_id, "receipt")
    for _ in range(200):  # the outbox sends one email at a time
        sent = account.fakes.emails_for(view.order_id, "receipt")
        if len(sent) == 2:
            break
        await asyncio.sleep(0.05)
    assert len(sent) == 2
    keys = {mail.idempotency_key for mail in sent} | {completed[0].idempotency_key}
    assert len(keys) == 3, "each receipt email has its own idempotency key"
    assert all(mail.receipt == receipt for mail in sent)

    await account.sleep(80 * DAY - MIN)
    assert (await account.view(order)).status == "completed"
    await account.sleep(2 * MIN)
    final = await order.result()
    assert final.status == "completed"
    assert final.history[-1].action == "reprint_receipt"  # the window's end is no transition
    # Closed: no deadline left, no action offered, and the order database holds that view
    # (it kept the one from before, offering the receipt actions, until the final record).
    assert final.next_deadline is None and final.allowed_actions == {}
    assert account.fakes.views[final.order_id] == final
