"""An account order over HTTP on the real local stack, then its bill cycle by hand.

Account, draft, a refused placement naming the missing configuration, the fix, placement
(completion: the stack's policy needs no approval), the receipt mail with its PDF in the
Maildir, a second receipt by ``send_email_receipt``, the receipt documents, and the
bill-cycle schedule ``orderclock dev`` made plus ``orderclock bill-cycle run`` invoicing
the order once (a rerun adds nothing).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import uuid
from datetime import datetime
from typing import Any

import httpx
from pypdf import PdfReader
from temporalio.client import Client, ScheduleActionStartWorkflow

from codec import data_converter_for
from models.billing import cycle_of
from tests.e2e.test_prepaid_end_to_end import mails_for, wait_for
from tests.fixtures.devstack import DevStack, clean_environment, orderclock_command

RECEIPT_EVENTS = ("account_order/completed", "account_order/receipt")


async def bill_cycle_run(devstack: DevStack, cycle: str) -> str:
    env = clean_environment() | {
        "ORDERCLOCK_TEMPORAL_ADDRESS": devstack.temporal_address,
        "ORDERCLOCK_PAYLOAD_KEYS": devstack.payload_keys,
        "ORDERCLOCK_DATABASE_URL": devstack.database_url,
    }
    process = await asyncio.create_subprocess_exec(
        *orderclock_command(),
        "bill-cycle",
        "run",
        "--cycle",
        cycle,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=os.getcwd(),
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    return out.decode().strip()


async def test_account_order_from_draft_to_invoice(devstack: DevStack) -> None:
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    order_id = f"e2e-acct-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(
        base_url=devstack.api_base_url, timeout=30, headers=devstack.auth_headers
    ) as api:
        created = await api.post("/accounts", json={"name": "Ada Account", "email": email})
        assert created.status_code == 201, created.text
        account = created.json()
        assert (await api.get("/accounts", params={"email": email.upper()})).json() == [account]

        body: dict[str, Any] = {
            "order_id": order_id,
            "flow": "account_order",
            "account_id": account["id"],
            "currency": "EUR",
            "items": [{"product": "broadband", "option": "annual"}],
            "payment_method": "direct_debit",
        }
        draft = await api.post("/orders", json=body)
        assert draft.status_code == 201, draft.text
        assert draft.json()["status"] == "draft"
        customer = {"role": "customer", "id": account["id"]}

        async def act(action: str, **payload: Any) -> httpx.Response:
            return await api.post(
                f"/orders/{order_id}/actions/{action}",
                json={"actor": customer, "payload": payload},
            )

        refused = await act("place")
        assert refused.status_code == 409
        assert refused.json()["detail"] == (
            "the order cannot be placed yet: item 1 (Broadband internet) lacks required "
            "configuration installation_address"
        )
        item = {**body["items"][0], "configuration": {"installation_address": "1 Main St"}}
        assert (await act("edit", items=[item])).status_code == 200
        placed = await act("place")
        assert placed.status_code == 200, placed.text
        view = placed.json()
        assert view["status"] == "completed"
        assert view["amount_total"] == 29900
        again = await act("send_email_receipt")
        assert again.status_code == 200

        def receipt_mails() -> list[Any]:
            return [
                m
                for m in mails_for(str(devstack.maildir), order_id)
                if str(m["X-Orderclock-Event"])
                in ("account_order/completed", "account_order/receipt")
            ]

        async def both_mails() -> list[Any] | None:
            found = receipt_mails()
            return found if len(found) == 2 else None

        mails = await wait_for(both_mails, "the receipt emails in the Maildir")
        assert len({m["Message-ID"] for m in mails}) == 2
        for mail in mails:
            assert mail["To"] == f"Ada Account <{email}>"
            [pdf] = [p for p in mail.walk() if p.get_content_type() == "application/pdf"]
            text = PdfReader(io.BytesIO(pdf.get_payload(decode=True))).pages[0].extract_text()
            assert "Total: 299.00 EUR" in text

        html = await api.get(f"/orders/{order_id}/receipt")
        assert html.status_code == 200 and "299.00 EUR" in html.text
        pdf = await api.get(f"/orders/{order_id}/receipt", params={"format": "pdf"})
        assert pdf.content.startswith(b"%PDF-")

        # The bill cycle reads the read model: wait until it holds the completed order.
        async def recorded() -> bool:
            page = (await api.get("/orders", params={"customer_id": account["id"]})).json()
            return any(
                r["order_id"] == order_id and r["status"] == "completed" for r in page["items"]
            )

        await wait_for(recorded, "the completed order in the read model")

        # ``orderclock dev`` created the monthly schedule that starts the bill cycle.
        client = await Client.connect(
            devstack.temporal_address,
            namespace=devstack.temporal_namespace,
            data_converter=data_converter_for(devstack.payload_keys),
        )
        schedule = await client.get_schedule_handle("orderclock-bill-cycle").describe()
        action = schedule.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert (action.workflow, action.task_queue) == ("bill_cycle", devstack.task_queue)

        cycle = cycle_of(datetime.fromisoformat(view["closed_at"]))
        first = await bill_cycle_run(devstack, cycle)
        # The stack is shared: other tests' account orders may close in the same cycle.
        newly = re.search(r"(\d+) newly invoiced", first)
        assert first.startswith(f"cycle {cycle}: ") and newly and int(newly[1]) >= 1, first
        invoices = (await api.get(f"/orders/{order_id}/invoices")).json()
        assert [(i["number"], i["amount"]) for i in invoices] == [
            (f"INV-{cycle}-{order_id}", 29900)
        ]
        rerun = await bill_cycle_run(devstack, cycle)
        assert "0 newly invoiced" in rerun, rerun
        assert len((await api.get(f"/orders/{order_id}/invoices")).json()) == 1
