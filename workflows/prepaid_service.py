"""Prepaid service booking (seed 003_08051378bb92aaa0.txt).

The handlers of the flow declared in ``flows/prepaid_service/declaration.py``;
the choices made where its seed is silent: ``flows/prepaid_service/README.md``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.prepaid_service.models import (
        Appointment,
        Claim,
        EditPayload,
        OpenClaimPayload,
        Payout,
        PayPayload,
        PendingEdit,
        PrepaidServiceRequest,
        ResolveClaimPayload,
        Review,
        ReviewPayload,
    )
    from flows.prepaid_service.policy import PrepaidPolicy
    from models import errors
    from models.actions import CancelPayload, NoPayload
    from models.activities import (
        RECORD_PAYOUT,
        RecordPayoutInput,
        RecordPayoutResult,
    )
    from models.clock import local_date, to_zone
    from models.common import SYSTEM, Actor, LineItem, Role, describe_items, order_total
    from models.ids import idempotency_key
    from models.money import format_amount
    from models.orders import OrderView, PaymentOutcome, StartOrderInput, StripeEvent
    from workflows.base import Deadline, OrderWorkflow, on_action, on_expiry, refusal, reject
    from workflows.payments import PaymentError, PaymentLedger


C, P, S = Role.customer, Role.provider, Role.support
PAYMENT_REMINDER_PATCH = "payment-reminder"
# Version 4: the confirmation and payment windows end at the appointment's start at the
# latest (the customer pays before the service is provided); orders from before replay
# with the uncut windows.
WINDOWS_END_AT_START_PATCH = "windows-end-at-start"


@workflow.defn(name="prepaid_service")
class PrepaidServiceWorkflow(
    OrderWorkflow[PrepaidServiceRequest, PrepaidPolicy], flow="prepaid_service"
):
    """A prepaid service booking: confirm, pay, provide, confirm execution, close."""

    ledger: PaymentLedger

    @workflow.init
    def __init__(self, input: StartOrderInput) -> None:
        # State is set here, not in run(): an Update can arrive with the first workflow
        # task, and its validator runs before run() starts.
        super().__init__(input)
        self._window_start: datetime = workflow.now()
        self._windows_end_at_start = workflow.patched(WINDOWS_END_AT_START_PATCH)
        self._awaiting: Role | None = P
        self._pending_edit: PendingEdit | None = None
        self._done_at: datetime | None = None
        self._claim: Claim | None = None
        self._review: Review | None = None
        self._payout: Payout | None = None
        self.ledger = PaymentLedger(
            input.order_id,
            self.req.currency,
            self.changed,
            policy=self.activity_policy,
        )
        self._start_passed = False
        # Set in run(): orders started before the payment reminder existed never get one.
        self._reminders = False
        self._reminded = False
        self.created()
        self.notify("created", self._both(), self._context())

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order from creation to closed or cancelled."""
        # Version 2 added the payment reminder (a timer, so new commands): orders that
        # started on version 1 replay without it. See README "Changing a released flow".
        self._reminders = workflow.patched(PAYMENT_REMINDER_PATCH)
        return await self.run_order()

    # ----- order data -----------------------------------------------------------------

    def zone(self) -> str:
        return str(self.req.appointment.time_zone)

    @property
    def appointment(self) -> Appointment:
        appointment: Appointment = self.req.appointment
        return appointment

    @property
    def total(self) -> int:
        return order_total(self.req.items)

    @property
    def paid(self) -> int:
        return self.ledger.captured

    @property
    def refunded(self) -> int:
        return self.ledger.refunded

    def party_actor(self, role: Role) -> Actor:
        if role == C:
            return Actor(role=C, id=self.req.customer.id)
        if role == P:
            return Actor(role=P, id=self.req.provider.id)
        return Actor(role=role, id="support")

    def _both(self) -> list[tuple[Role, str, str]]:
        return [self._recipient(C), self._recipient(P)]

    def _recipient(self, role: Role) -> tuple[Role, str, str]:
        party = self.req.customer if role == C else self.req.provider
        return (role, str(party.email), str(party.name))

    def _context(self, **extra: str) -> dict[str, str]:
        start = to_zone(self.appointment.start, self.zone())
        deadline = self.next_deadline()
        context = {
            "order_id": self.order_id(),
            "customer_name": self.req.customer.name,
            "provider_name": self.req.provider.name,
            "status": self.status,
            "stage": self.spec.state(self.status).label,
            "amount_total": format_amount(self.total, self.req.currency),
            "items": describe_items(self.req.items, self.req.currency),
            "appointment_local": f"{start:%Y-%m-%d %H:%M} {self.zone()}",
            "deadline_name": deadline.name if deadline else "",
            "deadline_local": (
                f"{to_zone(deadline.due_at, self.zone()):%Y-%m-%d %H:%M} {self.zone()}"
                if deadline
                else ""
            ),
            # Every template key is always present: a template may use any of them.
            "reason": "",
            "refund_amount": "",
            "comment": "",
            "rating": "",
        }
        context.update(extra)
        return context

    # ----- rules ----------------------------------------------------------------------

    def _started(self) -> bool:
        return workflow.now() >= self.appointment.start

    @refusal("confirm")
    def _confirm_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self.status == "confirmation" and self._awaiting != actor.role:
            return f"waiting for the {self._awaiting} to confirm or edit"
        if self.status == "execution" and self._pending_edit is None:
            return "there is no edit to confirm"
        return None

    @refusal("edit")
    def _edit_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        edit = payload if isinstance(payload, EditPayload) else None
        if self.status == "execution":
            if self._started():
                return "the appointment has started; it can no longer be edited"
            if edit is not None and edit.items is not None:
                return "the price cannot change after payment"
        if edit is not None and edit.start and edit.start <= workflow.now():
            return "the new start must be in the future"
        return None

    @refusal("cancel")
    def _cancel_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self.status == "execution" and self._started() and actor.role != S:
            return "the appointment has started; only support can cancel now"
        return None

    @refusal("pay")
    def _pay_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self.ledger.in_flight:
            return "a payment for this order is already in progress"
        if isinstance(payload, PayPayload):
            return self.ledger.method_refusal(payload.payment_method)
        return None

    @refusal("mark_done")
    def _mark_done_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return None if self._started() else "the appointment has not started yet"

    @refusal("resolve_claim")
    def _resolve_claim_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if isinstance(payload, ResolveClaimPayload) and payload.outcome == "partial_refund":
            refundable = self.ledger.refundable
            if payload.amount is not None and payload.amount > refundable:
                return f"at most {format_amount(refundable, self.req.currency)} can be refunded"
        return None

    @refusal("review")
    def _review_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return "the order has been reviewed already" if self._review is not None else None

    def deadlines(self) -> list[Deadline]:
        status, p = self.status, self._policy
        found: list[Deadline] = []
        if status == "confirmation":
            found.append(
                self.due("confirmation", self._cut(self._window_start + self._confirm_window()))
            )
        elif status == "payment":
            due = self._cut(self._window_start + p.payment_window)
            found.append(self.due("payment", due))
            before = p.payment_reminder
            cut_short = self._windows_end_at_start and due - (before or timedelta(0)) <= (
                self._window_start
            )
            if self._reminders and not self._reminded and before is not None and not cut_short:
                found.append(self.due("payment_reminder", due - before))
        elif status == "execution":
            if self._pending_edit is not None:
                lapse = min(
                    self._pending_edit.proposed_at + self._confirm_window(),
                    self.appointment.start,
                )
                found.append(self.due("edit_confirmation", lapse))
            if not self._start_passed:
                found.append(self.due("appointment_start", self.appointment.start))
            end = self.appointment.start + timedelta(minutes=self.appointment.duration_minutes)
            found.append(self.due("mark_done", end + p.done_window))
        elif status == "execution_confirmation":
            done_at = self._done_at or workflow.now()
            found.append(self.due("execution_confirmation", done_at + p.execution_confirm_window))
        elif status == "closed" and self._payout is not None and self._payout.paid_at is None:
            found.append(self.due("payout", self._payout.due_at))
        return found

    def _cut(self, due: datetime) -> datetime:
        """A confirmation or payment window's end: never after the appointment starts."""
        if self._windows_end_at_start:
            return min(due, self.appointment.start)
        return due

    def _cut_at_start(self, window: timedelta) -> bool:
        """True if the running window (from ``_window_start``) ends at the appointment."""
        return self._cut(self._window_start + window) < self._window_start + window

    def _confirm_window(self) -> timedelta:
        """24 h, or 5 h when the window starts on the appointment's calendar day."""
        zone = self.zone()
        start = (
            self._pending_edit.start if self._pending_edit and self._pending_edit.start else None
        )
        appointment_start = start or self.appointment.start
        window_start = self._pending_edit.proposed_at if self._pending_edit else self._window_start
        if local_date(window_start, zone) == local_date(appointment_start, zone):
            return self._policy.same_day_confirm_window
        return self._policy.confirm_window

    # ----- actions --------------------------------------------------------------------

    @on_action("confirm")
    async def _confirm(self, actor: Actor, payload: NoPayload) -> None:
        if self.status == "confirmation":
            self._window_start = workflow.now()
            self._awaiting = None
            self.transition("payment", "confirm", actor)
            self.notify("confirmed", self._both(), self._context())
            return
        edit = self._pending_edit
        assert edit is not None
        changes: dict[str, Any] = {}
        if edit.start is not None:
            changes["start"] = edit.start
        if edit.duration_minutes is not None:
            changes["duration_minutes"] = edit.duration_minutes
        self._replace_request(appointment=self.appointment.model_copy(update=changes))
        self._start_passed = workflow.now() >= self.appointment.start
        self._pending_edit = None
        self.transition("execution", "confirm", actor, "edit accepted")
        self.notify("confirmed", self._both(), self._context())

    @on_action("edit")
    def _edit(self, actor: Actor, payload: EditPayload) -> None:
        now = workflow.now()
        other = P if actor.role == C else C
        if self.status == "execution":
            self._pending_edit = PendingEdit(
                proposed_by=actor.role,
                start=payload.start,
                duration_minutes=payload.duration_minutes,
                comment=payload.comment,
                proposed_at=now,
            )
        else:
            changes: dict[str, Any] = {}
            if payload.start is not None:
                changes["start"] = payload.start
            if payload.duration_minutes is not None:
                changes["duration_minutes"] = payload.duration_minutes
            update: dict[str, Any] = {"appointment": self.appointment.model_copy(update=changes)}
            if payload.items is not None:
                update["items"] = [LineItem.model_validate(i.model_dump()) for i in payload.items]
            self._replace_request(**update)
            self._window_start = now
            self._awaiting = other
        self.transition(self.status, "edit", actor, payload.comment)
        self.notify(
            "edited", [self._recipient(other)], self._context(comment=payload.comment or "")
        )

    def _replace_request(self, **update: Any) -> None:
        self._input = self._input.model_copy(
            update={"request": self._input.request.model_copy(update=update)}
        )

    @on_action("pay")
    async def _pay(self, actor: Actor, payload: PayPayload) -> None:
        try:
            result = await self.ledger.charge(self.total, payload.payment_method)
        except PaymentError as exc:
            # The outcome is unknown: the ledger keeps the key for the next attempt.
            self.attention(f"payment provider error: {exc}")
            raise reject(
                f"payment could not be processed: {exc}", errors.PAYMENT_UNAVAILABLE
            ) from None
        if result.outcome == PaymentOutcome.declined:
            self._payment_failed()
            raise reject(f"payment declined: {self.ledger.last_error}", errors.PAYMENT_DECLINED)
        if result.outcome == PaymentOutcome.succeeded:
            self._paid(actor)

    def _payment_failed(self) -> None:
        reason = self.ledger.last_error or "declined"
        self.notify("payment_failed", [self._recipient(C)], self._context(reason=reason))

    def _paid(self, actor: Actor) -> None:
        if self._needs_attention:
            self.attention(None)
        self.transition("execution", "pay", actor)
        self.notify("paid", self._both(), self._context())

    async def on_stripe_event(self, event: StripeEvent) -> None:
        """Complete a payment that waited for the customer (3-D Secure) from its webhook."""
        if self.status != "payment" or self.ledger.on_event(event) is None:
            return
        if self.ledger.records[-1].outcome == PaymentOutcome.succeeded:
            self._paid(self.party_actor(C))
        else:
            self._payment_failed()

    @on_action("cancel")
    async def _cancel(self, actor: Actor, payload: CancelPayload) -> None:
        reason = payload.reason
        refund = self._refund_due(actor)
        refunded = await self._refund(refund, "cancel") if refund else 0
        self._pending_edit = None
        self.transition("cancelled", "cancel", actor, reason)
        self.notify(
            "cancelled",
            self._both(),
            self._context(reason=reason, refund_amount=format_amount(refunded, self.req.currency)),
        )
        self.finish()

    def _refund_due(self, actor: Actor) -> int:
        refundable = self.paid - self.refunded
        if refundable <= 0:
            return 0
        if actor.role != C:
            return refundable
        return self._policy.customer_refund(refundable, self.appointment.start - workflow.now())

    async def _refund(self, amount: int, why: str) -> int:
        """Refund ``amount`` of the captured payment; a failure flags the order."""
        refunded = await self.ledger.refund(amount, why)
        if refunded != amount:
            failed = format_amount(amount, self.req.currency)
            self.attention(f"refund of {failed} failed: {self.ledger.last_error}")
        return refunded

    @on_action("mark_done")
    def _mark_done(self, actor: Actor, payload: NoPayload) -> None:
        self._pending_edit = None
        self._done_at = workflow.now()
        self.transition("execution_confirmation", "mark_done", actor)
        self.notify("done", [self._recipient(C)], self._context())

    @on_action("confirm_execution")
    async def _confirm_execution(self, actor: Actor, payload: NoPayload) -> None:
        await self._close(actor, "confirm_execution", None)

    @on_action("open_claim")
    def _open_claim(self, actor: Actor, payload: OpenClaimPayload) -> None:
        self._claim = Claim(opened_at=workflow.now(), reason=payload.reason)
        self.transition("claim_open", "open_claim", actor, payload.reason)
        self.notify("claim_opened", self._both(), self._context(reason=payload.reason))

    @on_action("resolve_claim")
    async def _resolve_claim(self, actor: Actor, payload: ResolveClaimPayload) -> None:
        refundable = self.ledger.refundable
        amount = {
            "no_refund": 0,
            "partial_refund": payload.amount or 0,
            "full_refund": refundable,
        }[payload.outcome]
        refunded = await self._refund(amount, "claim") if amount else 0
        assert self._claim is not None
        self._claim = self._claim.model_copy(
            update={
                "resolved_at": workflow.now(),
                "outcome": payload.outcome,
                "refund_amount": refunded,
                "note": payload.note,
            }
        )
        reason = f"claim resolved: {payload.outcome.replace('_', ' ')}"
        self.notify(
            "claim_resolved",
            self._both(),
            self._context(
                reason=payload.note or reason,
                refund_amount=format_amount(refunded, self.req.currency),
            ),
        )
        await self._close(actor, "resolve_claim", reason)

    @on_action("review")
    def _review_order(self, actor: Actor, payload: ReviewPayload) -> None:
        self._review = Review(rating=payload.rating, text=payload.text, at=workflow.now())
        self.transition("closed", "review", actor, f"rated {payload.rating}/5")
        self.notify("reviewed", [self._recipient(P)], self._context(rating=str(payload.rating)))

    async def _close(self, actor: Actor, action: str, reason: str | None) -> None:
        now = workflow.now()
        self._payout = Payout(
            due_at=now + self._policy.payout_delay, amount=max(self.paid - self.refunded, 0)
        )
        self.transition("closed", action, actor, reason)
        self.notify("closed", self._both(), self._context())

    # ----- deadlines ------------------------------------------------------------------

    @on_expiry("confirmation")
    async def _confirmation_expired(self) -> None:
        window = self._confirm_window()
        hours = f"{window.total_seconds() / 3600:g} h"
        reason = f"not confirmed by the {self._awaiting} within {hours}"
        if self._cut_at_start(window):
            reason = f"not confirmed by the {self._awaiting} before the appointment started"
        self.transition("cancelled", "cancel", SYSTEM, reason)
        self.notify("cancelled", self._both(), self._context(reason=reason, refund_amount=""))
        self.finish()

    @on_expiry("payment")
    async def _payment_expired(self) -> None:
        hours = f"{self._policy.payment_window.total_seconds() / 3600:g} h"
        reason = f"not paid within {hours}"
        if self._cut_at_start(self._policy.payment_window):
            reason = "not paid before the appointment started"
        self.transition("cancelled", "cancel", SYSTEM, reason)
        self.notify("cancelled", self._both(), self._context(reason=reason, refund_amount=""))
        self.finish()

    @on_expiry("payment_reminder")
    async def _payment_reminder(self) -> None:
        self._reminded = True
        self.notify("payment_reminder", [self._recipient(C)], self._context())
        self.changed()

    @on_expiry("appointment_start")
    async def _appointment_started(self) -> None:
        # No status change, but the allowed actions did: wake up so views, search
        # attributes and the read model say so.
        self._start_passed = True
        self.changed()

    @on_expiry("edit_confirmation")
    async def _edit_lapsed(self) -> None:
        self._pending_edit = None
        self.transition("execution", "edit_lapsed", SYSTEM, "the customer did not confirm the edit")
        self.notify("edit_lapsed", [self._recipient(P)], self._context())

    @on_expiry("mark_done")
    async def _done_expired(self) -> None:
        self._pending_edit = None
        self._done_at = workflow.now()
        hours = f"{self._policy.done_window.total_seconds() / 3600:g} h"
        self.transition(
            "execution_confirmation", "mark_done", SYSTEM, f"not marked done within {hours}"
        )
        self.notify("done", [self._recipient(C)], self._context())

    @on_expiry("execution_confirmation")
    async def _execution_confirmation_expired(self) -> None:
        days = self._policy.execution_confirm_window / timedelta(days=1)
        await self._close(SYSTEM, "confirm_execution", f"no answer within {days:g} days")

    @on_expiry("payout")
    async def _pay_out(self) -> None:
        assert self._payout is not None
        result = await workflow.execute_activity(
            RECORD_PAYOUT,
            RecordPayoutInput(
                idempotency_key=idempotency_key(self.order_id(), "payout", 1),
                order_id=self.order_id(),
                provider_id=self.req.provider.id,
                amount=self._payout.amount,
                currency=self.req.currency,
                due_at=self._payout.due_at,
            ),
            result_type=RecordPayoutResult,
            start_to_close_timeout=timedelta(seconds=30),
            summary=f"payout {format_amount(self._payout.amount, self.req.currency)}",
        )
        self._payout = self._payout.model_copy(
            update={"paid_at": result.paid_at, "reference": result.reference}
        )
        self.transition("closed", "payout", SYSTEM, f"payout {result.reference}")
        amount = format_amount(self._payout.amount, self.req.currency)
        self.notify("payout", [self._recipient(P)], self._context(refund_amount=amount))
        self.finish()

    # ----- view -----------------------------------------------------------------------

    def build_view(self, base: dict[str, Any]) -> OrderView:
        return OrderView(
            **base,
            customer=self.req.customer,
            provider=self.req.provider,
            items=self.req.items,
            currency=self.req.currency,
            amount_total=self.total,
            appointment=self.appointment,
            awaiting=self._awaiting if self.status == "confirmation" else None,
            pending_edit=self._pending_edit,
            amount_paid=self.paid,
            amount_refunded=self.refunded,
            claim=self._claim,
            review=self._review,
            payout=self._payout,
            amount_held=self.ledger.held,
            payment_client_secret=self.ledger.client_secret,
            last_payment_error=self.ledger.last_error,
            request_fingerprint=self._input.request_fingerprint,
        )
