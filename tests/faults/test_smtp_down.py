"""The SMTP server is down: emails are retried, recorded ``failed`` past their budget, and
support resends them once the server is back (``resend_email``, every flow's action).

The deployment's email budget (``ORDERCLOCK_ACTIVITIES__EMAIL_MAX_ATTEMPTS`` and
``__EMAIL_RETRY_INTERVAL``) is 3 attempts from 0.5 s here, so "past the budget" comes in
seconds instead of the default's minute and a half.
"""

from __future__ import annotations

import asyncio
import mailbox
import signal
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType

from models.actions import RESEND_EMAIL
from models.ids import order_workflow_id
from models.policy import ActivityPolicy
from tests.faults.prepaid import CUSTOMER, SUPPORT, actor_json, order_id, prepaid_body
from tests.fixtures.stack import FaultStack, until

ATTEMPTS = 3


async def test_smtp_down_emails_fail_after_retries_and_resend_works(
    fault_stack: FaultStack,
) -> None:
    stack = fault_stack
    stack.activities = ActivityPolicy(
        email_max_attempts=ATTEMPTS, email_retry_interval=timedelta(milliseconds=500)
    )
    _, smtp = await asyncio.gather(stack.start_temporal(), stack.start_smtp())
    await asyncio.gather(stack.start_worker(), stack.start_api())
    smtp.kill(signal.SIGTERM)
    oid = order_id("smtp-down")

    async with stack.api() as http:

        async def order() -> dict[str, Any]:
            view: dict[str, Any] = (await http.get(f"/orders/{oid}")).json()
            return view

        async def resend(key: str, who: Any = SUPPORT) -> Any:
            body = {"actor": actor_json(who), "payload": {"notification": key}}
            return await http.post(f"/orders/{oid}/actions/{RESEND_EMAIL}", json=body)

        assert (await http.post("/orders", json=prepaid_body(oid))).status_code == 201

        async def both_failed() -> dict[str, Any] | None:
            view = await order()
            return view if len(view["notifications"]) == 2 else None

        view = await until(both_failed, "both created emails to be given up", within=60)
        failed = {n["recipient_role"]: n for n in view["notifications"]}
        assert {n["status"] for n in failed.values()} == {"failed"}
        assert all("Connection refused" in n["detail"] for n in failed.values()), failed
        assert RESEND_EMAIL in view["allowed_actions"]["support"]

        # Each email was tried as often as the budget allows: once with the creation's
        # record in apply_effects, then by send_email, whose last attempt's number the
        # history keeps on its ActivityTaskStarted event.
        client = await stack.client()
        history = await client.get_workflow_handle(order_workflow_id(oid)).fetch_history()
        kinds = {
            e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        }
        started = [
            (
                kinds[e.activity_task_started_event_attributes.scheduled_event_id],
                e.activity_task_started_event_attributes.attempt,
            )
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        ]
        assert started.count(("send_email", ATTEMPTS - 1)) >= 2, started
        assert ("apply_effects", 1) in started, started

        await stack.start_smtp()  # same port, same Maildir
        customer_key = failed["customer"]["idempotency_key"]
        resent = await resend(customer_key)
        assert resent.status_code == 200, resent.text
        assert resent.json()["history"][-1]["action"] == RESEND_EMAIL

        async def delivered() -> dict[str, Any] | None:
            found = [n for n in (await order())["notifications"] if n["status"] == "sent"]
            return found[0] if found else None

        sent = await until(delivered, "the resent email to be sent")
        assert sent["idempotency_key"] == f"{customer_key}:resend-1"
        assert (sent["event"], sent["recipient_role"]) == ("created", "customer")
        mail = [m for m in mailbox.Maildir(stack.maildir, create=False) if m["X-Orderclock-Order"]]
        assert [m["X-Orderclock-Key"] for m in mail] == [f"{customer_key}:resend-1"]
        assert "cleo@example.com" in str(mail[0]["To"])

        # Refused with a reason: again, a sent email, an unknown key, not as support.
        for key, who, reason in [
            (customer_key, SUPPORT, "was resent already"),
            (sent["idempotency_key"], SUPPORT, "was sent"),
            (f"{oid}:nope:1", SUPPORT, "has no email"),
            (failed["provider"]["idempotency_key"], CUSTOMER, "customer may not resend_email"),
        ]:
            refused = await resend(key, who)
            assert refused.status_code == 409, (key, refused.text)
            assert reason in refused.json()["detail"]

        # The provider's email is still failed, so support may still resend.
        assert RESEND_EMAIL in (await order())["allowed_actions"]["support"]
        assert (await resend(failed["provider"]["idempotency_key"])).status_code == 200
        after = await until(
            lambda: _all_sent_once_resent(order), "the provider's resent email to be sent"
        )
        assert RESEND_EMAIL not in after["allowed_actions"]["support"]


async def _all_sent_once_resent(order: Any) -> dict[str, Any] | None:
    view: dict[str, Any] = await order()
    sent = [n for n in view["notifications"] if n["status"] == "sent"]
    return view if len(sent) == 2 else None
