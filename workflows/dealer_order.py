"""Dealer (OEM) order (seed 002_8beac19d53e7d865.txt).

The handlers of the flow declared in ``flows/dealer_order/declaration.py``;
the choices made where its seed is silent: ``flows/dealer_order/README.md``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.dealer_order.models import (
        DealerCardPayment,
        DealerDetails,
        DealerOrderRequest,
        NotePayload,
        RefundPayload,
        ReviewStep,
        ShipPayload,
        payment_label,
    )
    from flows.dealer_order.policy import DealerPolicy
    from models import errors
    from models.actions import CancelPayload, NoPayload
    from models.business_days import add_business_days
    from models.clock import to_zone
    from models.common import SYSTEM, Actor, Role, describe_items, order_total
    from models.money import format_amount
    from models.orders import OrderView, PaymentOutcome, StartOrderInput
    from workflows.base import Deadline, OrderWorkflow, on_action, on_expiry, refusal, reject
    from workflows.payments import PaymentError, PaymentLedger

C, P, S = Role.customer, Role.provider, Role.support
CUSTOMER, DEALER, MANUFACTURER = "customer", "provider", "manufacturer"


@workflow.defn(name="dealer_order")
class DealerOrderWorkflow(OrderWorkflow[DealerOrderRequest, DealerPolicy], flow="dealer_order"):
    """A manufacturer's order processed by its dealer: confirm, capture, ship, refund."""

    ledger: PaymentLedger

    @workflow.init
    def __init__(self, input: StartOrderInput) -> None:
        # State is set here, not in run(): an Update can arrive with the first task.
        super().__init__(input)
        self.ledger = PaymentLedger(
            input.order_id,
            self.req.currency,
            self.changed,
            policy=self.activity_policy,
        )
        payment = self.req.payment
        self._card: DealerCardPayment | None = (
            payment if isinstance(payment, DealerCardPayment) else None
        )
        self._business_days = self._policy.business_days_for(self.req.manufacturer.id)
        # Card orders wait for the hold; the first attempt is due at once.
        self._authorising = self._card is not None
        self._authorise_at: datetime = workflow.now()
        self._confirm_due: datetime | None = None
        self._accepted_at: datetime | None = None
        self._confirmed_at: datetime | None = None
        self._failed_at: datetime | None = None
        self._tracking: list[str] = []
        self._carrier: str | None = None
        self._shipped_at: datetime | None = None
        self._collection: Literal["card", "external_system"] | None = None
        self._credit_due = False
        self._completed_at: datetime | None = None
        # The attention reason this flow set (the engine may set its own, e.g. a lapsed hold).
        self._flagged: str | None = None
        self.created()
        if not self._authorising:
            self._ready()

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order from placement until it is archived and closed."""
        return await self.run_order()

    # ----- order data -----------------------------------------------------------------

    def zone(self) -> str:
        return str(self.req.dealer.time_zone)

    @property
    def total(self) -> int:
        return order_total(self.req.items)

    def party_actor(self, role: Role) -> Actor:
        if role == C:
            return Actor(role=C, id=self.req.customer.id)
        if role == P:
            return Actor(role=P, id=self.req.dealer.id)
        return Actor(role=role, id="support")

    def _to(self, *who: str) -> list[tuple[str, str, str]]:
        parties = {
            CUSTOMER: self.req.customer,
            DEALER: self.req.dealer,
            MANUFACTURER: self.req.manufacturer,
        }
        return [(name, str(parties[name].email), parties[name].name) for name in who]

    def _local(self, moment: datetime | None) -> str:
        if moment is None:
            return ""
        return f"{to_zone(moment, self.zone()):%Y-%m-%d %H:%M} {self.zone()}"

    def _context(self, **extra: str) -> dict[str, str]:
        req = self.req
        context = {
            "order_id": self.order_id(),
            "customer_name": req.customer.name,
            "dealer_name": req.dealer.name,
            "manufacturer_name": req.manufacturer.name,
            "status": self.status,
            "stage": self.spec.state(self.status).label,
            "amount_total": format_amount(self.total, req.currency),
            "payment": payment_label(req.payment),
            "items": describe_items(req.items, req.currency),
            "business_days": str(self._business_days),
            "confirm_due_local": self._local(self._confirm_due),
            "tracking_numbers": ", ".join(self._tracking),
            "carrier": self._carrier or "",
            # Every template key is always present: a template may use any of them.
            "reason": "",
            "refund_amount": "",
            "note": "",
        }
        context.update(extra)
        return context

    def _review_step(self) -> ReviewStep | None:
        if self.status != "new":
            return None
        if self._authorising:
            return "authorising"
        if self._accepted_at is None:
            return "awaiting_acceptance"
        if self._confirmed_at is None:
            return "awaiting_confirmation"
        return "confirmed"

    # ----- rules ----------------------------------------------------------------------

    def rules(self, action: str, actor: Actor) -> str | None:
        if action == "unarchive":
            return None if self._archived else "the order is not archived"
        if self._archived:
            return (
                "the order is archived already"
                if action == "archive"
                else ("the order is archived; support can unarchive it")
            )
        return None

    @refusal("accept")
    def _accept_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return "the order has been accepted already" if self._accepted_at is not None else None

    @refusal("confirm")
    def _confirm_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self._accepted_at is None:
            return "accept the order before confirming it"
        if self._confirmed_at is not None:
            return "the order has been confirmed already"
        return None

    @refusal("capture_payment")
    def _capture_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return self._why_not_process("capture_payment")

    @refusal("mark_shipped")
    def _ship_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        return self._why_not_process("mark_shipped")

    def _why_not_process(self, action: str) -> str | None:
        if self.status == "new" and self._confirmed_at is None:
            return "accept and confirm the order before processing it"
        if self._authorising:
            return "the card is not pre-authorised yet (the payment provider is unreachable)"
        if self._card is None:
            if action == "capture_payment":
                return (
                    "paid on account: the external business system collects the payment; "
                    "mark the order shipped"
                )
            return None
        if self.ledger.captured == 0 and self.ledger.held == 0:
            return (
                f"the card hold lapsed ({self.ledger.last_error or 'not renewed'}); "
                "cancel the order"
            )
        return None

    async def apply(self, action: str, actor: Actor, payload: BaseModel) -> None:
        if self._authorising and self._authorise_at <= workflow.now():
            # The action came with the order's first task, before the placement's
            # pre-authorisation ran: run it now; its outcome may refuse the action.
            await self._authorise()
            reason = self.check(action, actor, payload)
            if reason is not None:
                raise reject(reason)
        await super().apply(action, actor, payload)

    @on_action("accept")
    def _accept(self, actor: Actor, payload: NotePayload) -> None:
        self._accepted_at = workflow.now()
        self.transition("new", "accept", actor, payload.note)

    @on_action("capture_payment")
    async def _capture_payment(self, actor: Actor, payload: NoPayload) -> None:
        await self._capture()
        self.transition("paid", "capture_payment", actor)

    @on_action("archive")
    def _archive(self, actor: Actor, payload: NoPayload) -> None:
        self._archived = True
        self.transition(self.status, "archive", actor)

    @on_action("unarchive")
    def _unarchive(self, actor: Actor, payload: NoPayload) -> None:
        self._archived = False
        self.transition(self.status, "unarchive", actor)

    def deadlines(self) -> list[Deadline]:
        if self.status == "new":
            if self._authorising:
                return [self.due("card_authorisation", self._authorise_at)]
            if (
                self._confirm_due is not None
                and self._confirmed_at is None
                and self._failed_at is None
            ):
                return [self.due("confirmation", self._confirm_due)]
            return []
        if self._completed_at is not None:
            return [self.due("archive", self._completed_at + self._policy.archive_after)]
        return []

    # ----- flags ----------------------------------------------------------------------

    def _flag(self, reason: str) -> None:
        self._flagged = reason
        self.attention(reason)

    def _unavailable(self, what: str, failure: str) -> ApplicationError:
        """Flag a money movement the payment provider failed; the action answers 503.

        What failed is recorded (the ledger's records, the flag), the order keeps its
        status, and repeating the action tries again.
        """
        self._flag(f"{what} failed: {failure}")
        return reject(f"{what} failed: {failure}; try again", errors.PAYMENT_UNAVAILABLE)

    def _unflag(self) -> None:
        """Clear the flag this flow set (not one the engine set since)."""
        if self._flagged is not None and self._attention_reason == self._flagged:
            self.attention(None)
        self._flagged = None

    # ----- placement ------------------------------------------------------------------

    def _ready(self) -> None:
        """The dealer can act: the business-day clock starts and the dealer is told."""
        dealer = self.req.dealer
        calendar = self._input.calendar
        if calendar is not None:
            # Pinned by the API when it accepted the order: replay never consults the
            # holidays package, so an upgrade of it cannot move this deadline.
            self._confirm_due = calendar.add(workflow.now(), self._business_days, self.zone())
        else:
            # An order accepted before calendars were pinned: the package, as it ran then.
            # The calendar classes are imported outside the sandbox (business_days.py);
            # building one reads its translation catalogue through ``locale``, which
            # touches holiday names only, never their dates.
            with workflow.unsafe.sandbox_unrestricted():
                self._confirm_due = add_business_days(
                    workflow.now(),
                    self._business_days,
                    zone=self.zone(),
                    country=dealer.country,
                    subdivision=dealer.subdivision,
                )
        self.notify("placed", self._to(DEALER), self._context())

    @on_expiry("card_authorisation")
    async def _authorise(self) -> None:
        assert self._card is not None
        try:
            result = await self.ledger.authorise(self.total, self._card.payment_method)
        except PaymentError as exc:
            # Unknown outcome: the ledger keeps the key, so the retry cannot hold twice.
            self._authorise_at = workflow.now() + self._policy.authorisation_retry
            self._flag(
                f"card pre-authorisation failed ({exc}); retried at "
                f"{self._local(self._authorise_at)}"
            )
            return
        self._authorising = False
        self._unflag()
        if result.outcome == PaymentOutcome.succeeded:
            self._ready()
            self.changed()
            return
        if result.outcome == PaymentOutcome.requires_action:
            reason = (
                "the card needs the customer's authentication (3-D Secure), which a "
                "dealer order cannot ask for"
            )
        else:
            reason = f"card declined at placement: {self.ledger.last_error}"
        self._cancelled(SYSTEM, reason)

    # ----- actions --------------------------------------------------------------------

    @on_action("confirm")
    def _confirm(self, actor: Actor, payload: NotePayload) -> None:
        note = payload.note
        self._confirmed_at = workflow.now()
        self._unflag()
        late = self._failed_at is not None
        reason = "confirmed after the deadline" + (f": {note}" if note else "") if late else note
        self.transition("new", "confirm", actor, reason)
        self.notify("confirmed", self._to(CUSTOMER), self._context(note=note or ""))

    async def _capture(self) -> None:
        try:
            await self.ledger.capture()
        except PaymentError as exc:
            raise self._unavailable("card capture", str(exc)) from None
        self._unflag()

    @on_action("mark_shipped")
    async def _ship(self, actor: Actor, payload: ShipPayload) -> None:
        if self._card is not None:
            if self.ledger.captured == 0:
                await self._capture()
            self._collection = "card"
        else:
            self.ledger.invoice_due(
                self.total, "on account: the external business system invoices and collects"
            )
            self._collection = "external_system"
        self._tracking = list(payload.tracking_numbers)
        self._carrier = payload.carrier
        self._shipped_at = self._completed_at = workflow.now()
        self.transition("shipped", "mark_shipped", actor, f"tracking {', '.join(self._tracking)}")
        self.notify("shipped", self._to(CUSTOMER), self._context())

    async def _refund_all(self, why: str) -> int:
        """Refund everything captured; a failure is recorded, flagged and answered 503."""
        amount = self.ledger.refundable
        if amount == 0:
            return 0
        refunded = await self.ledger.refund(amount, why)
        if refunded != amount:
            failure = self.ledger.last_error or "refund failed"
            raise self._unavailable(
                f"refund of {format_amount(amount, self.req.currency)}", failure
            )
        self._unflag()
        return refunded

    @on_action("refund")
    async def _refund(self, actor: Actor, payload: RefundPayload) -> None:
        reason = payload.reason
        if self._card is not None:
            refunded = format_amount(await self._refund_all("order"), self.req.currency)
        else:
            self._credit_due = True
            refunded = "to be credited on your account"
        self._completed_at = workflow.now()
        self.transition("refunded", "refund", actor, reason)
        self.notify(
            "refunded", self._to(CUSTOMER), self._context(reason=reason, refund_amount=refunded)
        )

    @on_action("cancel")
    async def _cancel(self, actor: Actor, payload: CancelPayload) -> None:
        reason = payload.reason
        refunded = 0
        if self.status == "paid":
            refunded = await self._refund_all("cancel")
        else:
            try:
                await self.ledger.release_hold()
            except PaymentError as exc:
                raise self._unavailable("releasing the card hold", str(exc)) from None
            self._unflag()
        self._cancelled(actor, reason, refunded)

    def _cancelled(self, actor: Actor, reason: str, refunded: int = 0) -> None:
        self._completed_at = workflow.now()
        self.transition("cancelled", "cancel", actor, reason)
        if refunded:
            money = f"{format_amount(refunded, self.req.currency)} refunded to your card"
        elif self._card is not None and self._confirm_due is not None:
            money = "nothing was charged; the hold on your card is released"
        else:
            money = "nothing was charged"
        context = self._context(reason=reason, refund_amount=money)
        # The dealer is told of a cancellation it did not make, once it knew of the order.
        told = self._confirm_due is not None and actor.role != P
        self.notify(
            "cancelled", self._to(CUSTOMER, DEALER) if told else self._to(CUSTOMER), context
        )

    # ----- deadlines ------------------------------------------------------------------

    @on_expiry("confirmation")
    async def _confirmation_failed(self) -> None:
        self._failed_at = workflow.now()
        days = self._business_days
        reason = (
            f"not confirmed within {days} business day{'s' if days != 1 else ''} "
            f"(due {self._local(self._confirm_due)}): order-confirmation failure sent to "
            f"{self.req.manufacturer.name}"
        )
        self.transition("new", "confirmation_failed", SYSTEM, reason)
        self._flag(reason)
        self.notify(
            "confirmation_failed", self._to(MANUFACTURER, DEALER), self._context(reason=reason)
        )

    @on_expiry("archive")
    async def _close(self) -> None:
        if not self._archived:
            self._archived = True
            days = self._policy.archive_after.total_seconds() / 86400
            self.transition(
                self.status, "archive", SYSTEM, f"archived automatically after {days:g} days"
            )
        self.finish()

    # ----- view -----------------------------------------------------------------------

    def build_view(self, base: dict[str, Any]) -> OrderView:
        req = self.req
        archive_at = self._completed_at + self._policy.archive_after if self._completed_at else None
        return OrderView(
            **base,
            customer=req.customer,
            provider=req.dealer.party(),
            items=req.items,
            currency=req.currency,
            amount_total=self.total,
            awaiting=P if self.status == "new" and self._confirmed_at is None else None,
            amount_paid=self.ledger.captured,
            amount_held=self.ledger.held,
            amount_refunded=self.ledger.refunded,
            last_payment_error=self.ledger.last_error,
            request_fingerprint=self._input.request_fingerprint,
            dealer=DealerDetails(
                manufacturer=req.manufacturer,
                dealer=req.dealer,
                payment_method=req.payment.method,
                account_reference=getattr(req.payment, "account_reference", None),
                review_step=self._review_step(),
                business_days=self._business_days,
                confirmation_due_at=self._confirm_due,
                accepted_at=self._accepted_at,
                confirmed_at=self._confirmed_at,
                confirmation_failed_at=self._failed_at,
                tracking_numbers=self._tracking,
                carrier=self._carrier,
                shipped_at=self._shipped_at,
                collection=self._collection,
                credit_due=self._credit_due,
                archive_at=archive_at,
            ),
        )
