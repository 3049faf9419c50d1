"""Charge box installation (seed 000_f314a135c80c2c25.txt).

The handlers of the flow declared in ``flows/charge_box_installation/declaration.py``;
the choices made where its seed is silent: ``flows/charge_box_installation/README.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.charge_box_installation.models import (
        ChargeBoxInstallationRequest,
        FulfilPayload,
        InstallationCardPayment,
        InstallationDetails,
        SchedulePayload,
        UnschedulePayload,
        UpdatePaymentMethodPayload,
    )
    from flows.charge_box_installation.policy import AUTOMATIC, MANUAL, InstallationPolicy
    from models import errors
    from models.actions import CancelPayload, NoPayload
    from models.activities import (
        CANCEL_AUTHORISATION,
        CancelAuthorisationInput,
        CancelAuthorisationResult,
    )
    from models.clock import to_zone
    from models.common import SYSTEM, Actor, Role, describe_items
    from models.ids import idempotency_key
    from models.money import format_amount
    from models.orders import OrderView, PaymentKind, PaymentOutcome, StartOrderInput, StripeEvent
    from workflows.base import Deadline, OrderWorkflow, on_action, on_expiry, refusal, reject
    from workflows.payments import (
        PAYMENT_RETRY,
        PAYMENT_TIMEOUT,
        PaymentError,
        PaymentLedger,
        cause_message,
    )

C, P, S = Role.customer, Role.provider, Role.support
# The installation partner's templates are named after it, not after the role.
PARTNER = "installation_partner"
OPEN = ("pending", "scheduled")


@dataclass(frozen=True)
class Refusal:
    """Why a fulfilment did not go through: an error type of ``models.errors`` and a message."""

    kind: str
    message: str


@workflow.defn(name="charge_box_installation")
class ChargeBoxInstallationWorkflow(
    OrderWorkflow[ChargeBoxInstallationRequest, InstallationPolicy],
    flow="charge_box_installation",
):
    """A charge box installation: pending, scheduled, fulfilled (payment processed)."""

    ledger: PaymentLedger

    @workflow.init
    def __init__(self, input: StartOrderInput) -> None:
        # State is set here, not in run(): an Update can arrive with the first workflow
        # task, and its validator runs before run() starts.
        super().__init__(input)
        payment = self.req.payment
        self._card: str | None = (
            payment.payment_method if isinstance(payment, InstallationCardPayment) else None
        )
        self._fulfil_at: datetime | None = None
        self._scheduled_by: Role | None = None
        # The scheduled time passed but the payment provider was unreachable: retrying.
        self._retrying = False
        self._fulfilled_at: datetime | None = None
        self.ledger = PaymentLedger(
            input.order_id,
            self.req.currency,
            self.changed,
            policy=self.activity_policy,
        )
        self.created()
        self.notify("order_confirmation", [self._customer()], self._context())
        self.notify("installation_request", [self._partner()], self._context())

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order until it is fulfilled or cancelled."""
        return await self.run_order()

    # ----- order data -----------------------------------------------------------------

    def zone(self) -> str:
        return str(self.req.time_zone)

    @property
    def total(self) -> int:
        return self.req.total()

    def party_actor(self, role: Role) -> Actor:
        if role == C:
            return Actor(role=C, id=self.req.customer.id)
        if role == P:
            return Actor(role=P, id=self.req.installation_partner.id)
        return Actor(role=role, id="support")

    def _customer(self) -> tuple[str, str, str]:
        return (C, str(self.req.customer.email), self.req.customer.name)

    def _partner(self) -> tuple[str, str, str]:
        partner = self.req.installation_partner
        return (PARTNER, str(partner.email), partner.name)

    def _both(self) -> list[tuple[str, str, str]]:
        return [self._customer(), self._partner()]

    def _local(self, moment: datetime) -> str:
        return f"{to_zone(moment, self.zone()):%Y-%m-%d %H:%M} {self.zone()}"

    def _amount(self, amount: int) -> str:
        return format_amount(amount, self.req.currency)

    def _payment_text(self) -> str:
        payment = self.req.payment
        if isinstance(payment, InstallationCardPayment):
            return "card"
        return payment.method + (f" (reference {payment.reference})" if payment.reference else "")

    def _charge_text(self) -> str:
        """What fulfilling takes, in words."""
        if self.total == 0:
            return "nothing to pay"
        if self._card is not None:
            return f"{self._amount(self.total)} charged to your card"
        return f"{self._amount(self.total)} to be paid by {self._payment_text()}"

    def _context(self, **extra: str) -> dict[str, str]:
        req = self.req
        context = {
            "order_id": self.order_id(),
            "customer_name": req.customer.name,
            "partner_name": req.installation_partner.name,
            "onboarding_flow": req.onboarding_flow,
            "status": self.status,
            "stage": self.spec.state(self.status).label,
            "amount_total": self._amount(self.total),
            "items": describe_items(req.items, req.currency),
            "payment": self._payment_text(),
            "installation_address": req.installation_address or "(not given)",
            "scheduled_local": self._local(self._fulfil_at) if self._fulfil_at else "",
            # Every template key is always present: a template may use any of them.
            "previous_local": "",
            "charged": "",
            "reason": "",
            "note": "",
            "trigger": AUTOMATIC,
        }
        context.update(extra)
        return context

    def _awaiting_authentication(self) -> bool:
        records = self.ledger.records
        return bool(
            records
            and records[-1].kind == PaymentKind.charge
            and records[-1].outcome == PaymentOutcome.requires_action
        )

    # ----- rules ----------------------------------------------------------------------

    def rules(self, action: str, actor: Actor) -> str | None:
        if action in ("fulfil", "cancel", "update_payment_method") and self.ledger.in_flight:
            return "a payment for this order is in progress"
        return None

    @refusal("fulfil")
    def _fulfil_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self._awaiting_authentication():
            return (
                f"the payment of {self._amount(self.total)} waits for the customer's "
                "authentication (3-D Secure); the order is fulfilled once they confirm it"
            )
        return None

    @refusal("update_payment_method")
    def _update_card_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self._card is None:
            return f"this order is paid by {self._payment_text()}, not by card"
        if self.ledger.unknown_method is not None:
            # The retry must send the same card under the same key, or Stripe refuses it.
            return (
                "the outcome of the last charge is not known (the payment provider could "
                "not be reached); the card can change once a retry of the fulfilment settles it"
            )
        return None

    @refusal("schedule")
    def _schedule_action_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if isinstance(payload, SchedulePayload):
            return self._schedule_refusal(payload.at)
        return None

    def _schedule_refusal(self, at: datetime) -> str | None:
        now = workflow.now()
        if at <= now:
            return (
                f"the fulfilment time {self._local(at)} is in the past (it is "
                f"{self._local(now)}); choose a later time"
            )
        if self.status == "scheduled" and at == self._fulfil_at and not self._retrying:
            return f"the fulfilment is already scheduled for {self._local(at)}"
        return None

    def deadlines(self) -> list[Deadline]:
        if self.status != "scheduled" or self._fulfil_at is None:
            return []
        name = "fulfilment_retry" if self._retrying else "scheduled_fulfilment"
        return [self.due(name, self._fulfil_at)]

    # ----- actions --------------------------------------------------------------------

    @on_action("fulfil")
    async def _fulfil_now(self, actor: Actor, payload: FulfilPayload) -> None:
        refused = await self._fulfil(actor, payload.note)
        if refused is not None:
            raise reject(refused.message, refused.kind)

    @on_action("schedule")
    def _schedule(self, actor: Actor, payload: SchedulePayload) -> None:
        previous = self._fulfil_at if self.status == "scheduled" else None
        if self._retrying:
            self.attention(None)
        self._fulfil_at, self._scheduled_by, self._retrying = payload.at, actor.role, False
        reason = f"fulfilment at {self._local(payload.at)}"
        if previous is not None:
            reason += f" (was {self._local(previous)})"
        if payload.note:
            reason += f": {payload.note}"
        self.transition("scheduled", "schedule", actor, reason)
        self.notify(
            "rescheduled" if previous is not None else "scheduled",
            self._both(),
            self._context(
                previous_local=self._local(previous) if previous is not None else "",
                note=payload.note or "",
            ),
        )

    @on_action("unschedule")
    def _unschedule(self, actor: Actor, payload: UnschedulePayload) -> None:
        why = payload.reason
        assert self._fulfil_at is not None
        previous = self._local(self._fulfil_at)
        if self._retrying:
            self.attention(None)
        self._fulfil_at, self._scheduled_by, self._retrying = None, None, False
        reason = why or f"the fulfilment at {previous} was cancelled"
        self.transition("pending", "unschedule", actor, reason)
        self.notify(
            "unscheduled", self._both(), self._context(previous_local=previous, reason=reason)
        )

    @on_action("resend_order_confirmation")
    def _resend_order_confirmation(self, actor: Actor, payload: NoPayload) -> None:
        reason = "sent again at support's request"
        self.transition(self.status, "resend_order_confirmation", actor, reason)
        self.notify("order_confirmation", [self._customer()], self._context(trigger=MANUAL))

    @on_action("initiate_installation")
    def _initiate_installation(self, actor: Actor, payload: NoPayload) -> None:
        reason = "installation request sent again"
        self.transition(self.status, "initiate_installation", actor, reason)
        self.notify("installation_request", [self._partner()], self._context(trigger=MANUAL))

    async def _fulfil(self, actor: Actor, note: str | None) -> Refusal | None:
        """Process the payment and fulfil; why not, when it did not go through (flagged)."""
        if self.total > 0 and self._card is not None:
            try:
                result = await self.ledger.charge(self.total, self._card)
            except PaymentError as exc:
                # The outcome is unknown: the ledger keeps the key (and card) for the next try.
                self.attention(f"the payment provider failed at fulfilment: {exc}")
                message = f"payment could not be processed: {exc}"
                return Refusal(errors.PAYMENT_UNAVAILABLE, message)
            if result.outcome == PaymentOutcome.declined:
                reason = self.ledger.last_error or "card declined"
                self._payment_failed(reason)
                return Refusal(errors.PAYMENT_DECLINED, f"payment declined: {reason}")
            if result.outcome == PaymentOutcome.requires_action:
                self._payment_failed("your bank asks you to confirm the payment (3-D Secure)")
                message = (
                    f"the payment of {self._amount(self.total)} needs the customer's "
                    "authentication (3-D Secure); the order is fulfilled once they confirm it"
                )
                return Refusal(errors.PAYMENT_DECLINED, message)
        elif self.total > 0:
            self.ledger.invoice_due(self.total, f"due at fulfilment: {self._payment_text()}")
        self._complete(actor, note)
        return None

    def _payment_failed(self, reason: str) -> None:
        self.attention(
            f"card payment at fulfilment failed: {reason}; the customer was asked for "
            "another card (update_payment_method), then fulfil again"
        )
        self.notify("payment_failed", [self._customer()], self._context(reason=reason))

    def _complete(self, actor: Actor, note: str | None) -> None:
        self._fulfilled_at = workflow.now()
        self._fulfil_at, self._retrying = None, False
        if self._needs_attention:
            self.attention(None)
        self.transition("fulfilled", "fulfil", actor, note)
        self.notify(
            "fulfilled", self._both(), self._context(charged=self._charge_text(), note=note or "")
        )
        self.finish()

    @on_action("update_payment_method")
    async def _update_card(self, actor: Actor, payload: UpdatePaymentMethodPayload) -> None:
        if self._awaiting_authentication():
            refused = await self._void_waiting_payment("the customer gave another card")
            if refused is not None:
                raise reject(refused.message, refused.kind)
        self._card = payload.payment_method
        self.transition(self.status, "update_payment_method", actor, "new card for the payment")
        if self._needs_attention:
            if self.status == "scheduled":
                self.attention(None)  # the scheduled fulfilment charges the new card
            else:
                self.attention("the customer gave a new card after a failed payment: fulfil again")

    @on_action("cancel")
    async def _cancel(self, actor: Actor, payload: CancelPayload) -> None:
        reason = payload.reason
        if self._awaiting_authentication():
            refused = await self._void_waiting_payment("the order was cancelled")
            if refused is not None:
                raise reject(refused.message, refused.kind)
        self._fulfil_at, self._retrying = None, False
        if self._needs_attention:
            self.attention(None)
        self.transition("cancelled", "cancel", actor, reason)
        self.notify("cancelled", self._both(), self._context(reason=reason))
        self.finish()

    async def _void_waiting_payment(self, why: str) -> Refusal | None:
        """Cancel the PaymentIntent that waits for authentication, so it can never succeed."""
        intent = self.ledger.payment_intent
        assert intent is not None
        key = idempotency_key(self.order_id(), "void", len(self.ledger.records) + 1)
        try:
            await workflow.execute_activity(
                CANCEL_AUTHORISATION,
                CancelAuthorisationInput(
                    idempotency_key=key, order_id=self.order_id(), payment_intent_id=intent
                ),
                result_type=CancelAuthorisationResult,
                start_to_close_timeout=PAYMENT_TIMEOUT / 4,
                schedule_to_close_timeout=PAYMENT_TIMEOUT,
                retry_policy=PAYMENT_RETRY,
                summary=f"void payment {intent} waiting for authentication",
            )
        except ActivityError as exc:
            message = (
                f"the payment waiting for authentication could not be voided: {cause_message(exc)}"
            )
            self.attention(message)
            return Refusal(errors.PAYMENT_UNAVAILABLE, message)
        # The same fact as Stripe's own webhook: the waiting attempt is over.
        self.ledger.on_event(
            StripeEvent(
                event_id=key,
                type="payment_intent.canceled",
                payment_intent_id=intent,
                failure_message=f"voided: {why}",
            )
        )
        return None

    async def on_stripe_event(self, event: StripeEvent) -> None:
        """Complete (or fail) a fulfilment whose card payment waited for 3-D Secure."""
        if self.status not in OPEN or self.ledger.on_event(event) != PaymentKind.charge:
            return
        if self.ledger.records[-1].outcome == PaymentOutcome.succeeded:
            self._complete(SYSTEM, "the customer confirmed the payment (3-D Secure)")
        else:
            self._payment_failed(self.ledger.last_error or "authentication failed")

    # ----- deadlines ------------------------------------------------------------------

    @on_expiry("scheduled_fulfilment", "fulfilment_retry")
    async def _scheduled_time_reached(self) -> None:
        assert self._fulfil_at is not None
        at = self._local(self._fulfil_at)
        if self._awaiting_authentication():
            self._back_to_pending(
                f"the scheduled fulfilment at {at} found the payment waiting for the "
                "customer's authentication"
            )
            return
        by = self._scheduled_by or S
        refused = await self._fulfil(SYSTEM, f"scheduled fulfilment at {at} (set by {by})")
        if refused is None:
            return
        if refused.kind == errors.PAYMENT_UNAVAILABLE:
            self._fulfil_at = workflow.now() + self._policy.payment_retry_interval
            self._retrying = True
            self.attention(
                f"{refused.message} at the scheduled fulfilment; trying again at "
                f"{self._local(self._fulfil_at)}"
            )
            return
        self._back_to_pending(f"the scheduled fulfilment at {at} failed: {refused.message}")

    def _back_to_pending(self, reason: str) -> None:
        self._fulfil_at, self._scheduled_by, self._retrying = None, None, False
        self.transition("pending", "fulfil", SYSTEM, reason)

    # ----- view -----------------------------------------------------------------------

    def build_view(self, base: dict[str, Any]) -> OrderView:
        req = self.req
        waiting = self._awaiting_authentication()
        invoiced = sum(r.amount for r in self.ledger.records if r.kind == PaymentKind.invoice)
        return OrderView(
            **base,
            customer=req.customer,
            provider=req.installation_partner,
            items=req.items,
            currency=req.currency,
            amount_total=self.total,
            amount_paid=self.ledger.captured,
            payment_client_secret=self.ledger.client_secret if waiting else None,
            last_payment_error=self.ledger.last_error,
            request_fingerprint=self._input.request_fingerprint,
            installation=InstallationDetails(
                onboarding_flow=req.onboarding_flow,
                time_zone=req.time_zone,
                installation_address=req.installation_address,
                payment_type=req.payment.method,
                payment_method=self._card,
                scheduled_for=self._fulfil_at,
                scheduled_for_local=(
                    to_zone(self._fulfil_at, self.zone()) if self._fulfil_at else None
                ),
                scheduled_by=self._scheduled_by,
                awaiting_authentication=waiting,
                fulfilled_at=self._fulfilled_at,
                amount_invoiced=invoiced,
            ),
        )
