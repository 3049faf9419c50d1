"""Account order (seed 004_033fcf52ce38027c.txt): billing orders on customer accounts.

The handlers of the flow declared in ``flows/account_order/declaration.py``;
the choices made where its seed is silent: ``flows/account_order/README.md``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.account_order.models import (
        AccountDetails,
        AccountLine,
        AccountOrderRequest,
        AccountSnapshot,
        EditOrderPayload,
        NotePayload,
        ReasonPayload,
        Receipt,
        ReceiptPayload,
        completion_gaps,
        price_items,
        receipt_text,
        request_problems,
    )
    from flows.account_order.policy import AccountPolicy
    from flows.spec import span
    from models.common import SYSTEM, Actor, LineItem, Party, Role
    from models.money import format_amount
    from models.orders import OrderView, StartOrderInput
    from workflows.base import Deadline, OrderWorkflow, on_action, on_expiry, refusal

C = Role.customer


@workflow.defn(name="account_order")
class AccountOrderWorkflow(OrderWorkflow[AccountOrderRequest, AccountPolicy], flow="account_order"):
    """An order on a customer account: draft, place, approve, complete, receipts."""

    @workflow.init
    def __init__(self, input: StartOrderInput) -> None:
        # State is set here, not in run(): an Update can arrive with the first task.
        super().__init__(input)
        request = self.req
        # Started without a pinned account (not through the API): run() fails the order.
        self._account = input.account or AccountSnapshot(
            id=request.account_id,
            name=request.account_id,
            email="unknown@example.com",
            created_at=self._created_at,
        )
        self._order_date: date = request.order_date or self._created_at.date()
        self._draft_since: datetime = self._created_at
        self._entered_at: datetime = self._created_at
        self._placed_at: datetime | None = None
        self._approved_at: datetime | None = None
        self._completed_at: datetime | None = None
        self._receipt: Receipt | None = None
        self._flagged = False
        self._emailed = 0
        self._reprints = 0
        self.created()

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order from draft to completed (plus the receipt window) or cancelled."""
        if input.account is None:
            raise ApplicationError(
                "an account_order needs its account pinned at start (POST /orders does it)",
                type="MissingAccount",
                non_retryable=True,
            )
        return await self.run_order()

    # ----- order data -----------------------------------------------------------------

    def _priced(self) -> list[AccountLine]:
        return price_items(self.req.items, self.req.currency, self._policy)[0]

    @property
    def total(self) -> int:
        return sum(line.amount for line in self._priced())

    def _gaps(self) -> list[str]:
        problems = request_problems(
            self.req.model_copy(update={"order_date": self._order_date}),
            self._account,
            self._policy,
            workflow.now().date(),
        )
        return problems + completion_gaps(self._priced(), self.req.payment_method)

    def _customer(self) -> list[tuple[str, str, str]]:
        return [(C.value, str(self._account.email), self._account.name)]

    def _context(self, **extra: str) -> dict[str, str]:
        context = {
            "order_id": self.order_id(),
            "account_name": self._account.name,
            "account_id": self._account.id,
            "status": self.status,
            "stage": self.spec.state(self.status).label,
            "amount_total": format_amount(self.total, self.req.currency),
            "order_date": self._order_date.isoformat(),
            "payment_method": self.req.payment_method or "",
            # Every template key is always present: a template may use any of them.
            "reason": "",
            "receipt_text": receipt_text(self._receipt) if self._receipt else "",
        }
        context.update(extra)
        return context

    def _notify_customer(self, event: str, receipt: Receipt | None = None, **extra: str) -> None:
        before = len(self._emails)
        self.notify(event, self._customer(), self._context(**extra))
        if receipt is not None:
            # The email activity attaches the receipt (HTML and PDF) to these emails.
            for n in range(before, len(self._emails)):
                self._emails[n] = self._emails[n].model_copy(update={"receipt": receipt})

    # ----- rules ----------------------------------------------------------------------

    @refusal("edit")
    def _edit_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if not isinstance(payload, EditOrderPayload):
            return None
        problems = request_problems(
            self._edited(payload), self._account, self._policy, workflow.now().date()
        )
        return "; ".join(problems) if problems else None

    @refusal("place")
    def _place_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return self._gaps_refusal("placed")

    @refusal("complete")
    def _complete_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return self._gaps_refusal("completed")

    def _gaps_refusal(self, done: str) -> str | None:
        gaps = self._gaps()
        return f"the order cannot be {done} yet: " + "; ".join(gaps) if gaps else None

    def _edited(self, payload: EditOrderPayload) -> AccountOrderRequest:
        changes = payload.model_dump(exclude_none=True, exclude={"items"})
        if payload.items is not None:
            changes["items"] = payload.items
        changes.setdefault("order_date", self._order_date)
        return self.req.model_copy(update=changes)

    # ----- actions --------------------------------------------------------------------

    @on_action("edit")
    def _edit(self, actor: Actor, payload: EditOrderPayload) -> None:
        edited = self._edited(payload)
        self._order_date = edited.order_date or self._order_date
        self._input = self._input.model_copy(update={"request": edited})
        self._draft_since = workflow.now()
        fields = [name for name, value in payload if value is not None]
        self.transition("draft", "edit", actor, "changed " + ", ".join(fields))

    @on_action("place")
    def _place(self, actor: Actor, payload: NotePayload) -> None:
        note = payload.note
        self._placed_at = workflow.now()
        if self._policy.approval_required:
            self._enter("in_progress", "place", actor, note)
            self._notify_customer("placed")
        else:
            self._complete(actor, note or "placed; no approval required", action="place")

    @on_action("cancel")
    def _cancel_draft(self, actor: Actor, payload: ReasonPayload) -> None:
        self._cancel(actor, payload.reason)

    @on_action("approve")
    def _approve(self, actor: Actor, payload: NotePayload) -> None:
        self._approved_at = workflow.now()
        self._enter("approved", "approve", actor, payload.note)
        self._notify_customer("approved")

    @on_action("return_to_draft")
    def _return_to_draft(self, actor: Actor, payload: ReasonPayload) -> None:
        self._placed_at = self._approved_at = None
        self._draft_since = workflow.now()
        self._enter("draft", "return_to_draft", actor, payload.reason)
        self._notify_customer("returned_to_draft", reason=payload.reason)

    @on_action("complete")
    def _complete_approved(self, actor: Actor, payload: NotePayload) -> None:
        self._complete(actor, payload.note)

    @on_action("send_email_receipt")
    def _send_email_receipt(self, actor: Actor, payload: ReceiptPayload) -> None:
        self._emailed += 1
        reason = f"receipt emailed to {self._account.email}"
        self.transition("completed", "send_email_receipt", actor, reason)
        self._notify_customer("receipt", self._receipt)

    @on_action("reprint_receipt")
    def _reprint_receipt(self, actor: Actor, payload: ReceiptPayload) -> None:
        self._reprints += 1
        self.transition("completed", "reprint_receipt", actor, f"receipt copy {self._reprints + 1}")

    def _enter(self, status: str, action: str, actor: Actor, reason: str | None) -> None:
        """Move to ``status``, restarting its waiting time and clearing an old flag."""
        self._entered_at = workflow.now()
        if self._flagged:
            self._flagged = False
            self.attention(None)
        self.transition(status, action, actor, reason)

    def _complete(self, actor: Actor, note: str | None, action: str = "complete") -> None:
        now = workflow.now()
        self._completed_at = now
        self._receipt = Receipt(
            order_id=self.order_id(),
            account=self._account,
            order_date=self._order_date,
            completed_at=now,
            currency=self.req.currency,
            lines=self._priced(),
            amount_total=self.total,
            payment_method=self.req.payment_method or "",
            notes=self.req.notes,
        )
        self._enter("completed", action, actor, note)
        self._notify_customer("completed", self._receipt)

    def _cancel(self, actor: Actor, reason: str) -> None:
        self.transition("cancelled", "cancel", actor, reason)
        self._notify_customer("cancelled", reason=reason)
        self.finish()

    # ----- deadlines ------------------------------------------------------------------

    def deadlines(self) -> list[Deadline]:
        p, status = self._policy, self.status
        if status == "draft":
            return [self.due("draft_expiry", self._draft_since + p.draft_expiry)]
        if status in ("in_progress", "approved") and not self._flagged:
            name = "approval" if status == "in_progress" else "completion"
            return [self.due(name, self._entered_at + p.attention_after)]
        if status == "completed" and self._completed_at is not None:
            return [self.due("receipt_window", self._completed_at + p.receipt_window)]
        return []

    @on_expiry("draft_expiry")
    async def _draft_expired(self) -> None:
        days = span(self._policy.draft_expiry)
        self._cancel(SYSTEM, f"draft abandoned: not placed within {days}")

    @on_expiry("approval", "completion")
    async def _waited_too_long(self) -> None:
        waiting = "approval" if self.status == "in_progress" else "completion"
        self._flagged = True
        self.attention(f"waiting for {waiting} for {span(self._policy.attention_after)}")

    @on_expiry("receipt_window")
    async def _receipt_window_over(self) -> None:
        self.finish()

    # ----- view -----------------------------------------------------------------------

    def build_view(self, base: dict[str, Any]) -> OrderView:
        lines = self._priced()
        account = self._account
        return OrderView(
            **base,
            customer=Party(id=account.id, name=account.name, email=account.email),
            items=[
                LineItem(
                    name=f"{line.product_name} ({line.option_name})",
                    quantity=line.quantity,
                    unit_amount=line.unit_amount,
                )
                for line in lines
            ],
            currency=self.req.currency,
            amount_total=sum(line.amount for line in lines),
            account=AccountDetails(
                account=account,
                order_date=self._order_date,
                payment_method=self.req.payment_method,
                notes=self.req.notes,
                lines=lines,
                blocking=self._gaps() if self.status in ("draft", "approved") else [],
                approval_required=self._policy.approval_required,
                placed_at=self._placed_at,
                approved_at=self._approved_at,
                completed_at=self._completed_at,
                receipt=self._receipt,
                receipts_emailed=self._emailed,
                receipt_reprints=self._reprints,
            ),
            request_fingerprint=self._input.request_fingerprint,
        )
