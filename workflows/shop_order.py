"""Online store order synced to Salesforce (seed 001_b334d84970aa33c7.txt).

The handlers of the flow declared in ``flows/shop_order/declaration.py``;
the choices made where its seed is silent: ``flows/shop_order/README.md``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ActivityError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from flows.shop_order.models import (
        CALLBACK_STATES,
        FLOW,
        SALESFORCE_CALLBACK_UPDATE,
        MarkEnteredPayload,
        PurchaseOrderPayment,
        SalesforceCallback,
        SalesforceCallbackResult,
        SalesforceSync,
        Shipment,
        ShopCancelPayload,
        ShopCardPayment,
        ShopDetails,
        ShopOrderRequest,
        ShopPayPayload,
        replacement_order_id,
    )
    from flows.shop_order.policy import ShopPolicy
    from models import errors
    from models.activities import (
        SYNC_SALESFORCE_ORDER,
        SalesforceSyncInput,
        SalesforceSyncResult,
    )
    from models.common import SYSTEM, Actor, Role, describe_items, request_fingerprint
    from models.ids import order_workflow_id
    from models.money import format_amount
    from models.orders import OrderView, PaymentOutcome, StartOrderInput, StripeEvent
    from workflows.base import Deadline, OrderWorkflow, on_action, on_expiry, refusal, reject
    from workflows.payments import PaymentError, PaymentLedger, cause_message

SALESFORCE = Actor(role=Role.system, id="salesforce")
# One sync attempt: a few quick retries of transient faults; the workflow paces the rest.
SYNC_ATTEMPT_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    maximum_interval=timedelta(seconds=10),
    maximum_attempts=3,
    non_retryable_error_types=[
        "SalesforceNotConfigured",
        "SalesforceAuthenticationError",
        "SalesforceRejected",
    ],
)
Payment = ShopCardPayment | PurchaseOrderPayment
SyncState = Literal["not_sent", "pending", "synced", "entered_manually", "stopped"]


@workflow.defn(name=FLOW)
class ShopOrderWorkflow(OrderWorkflow[ShopOrderRequest, ShopPolicy], flow=FLOW):
    """An online store order: placed, sent to Salesforce, then driven by its callbacks."""

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
        self._payment: Payment | None = None
        # A card waiting for 3-D Secure: it places the order when Stripe says it succeeded.
        self._pending_payment: Payment | None = None
        self._placed_at: datetime | None = None
        self._pay_attempts = 0
        self._my_flag: str | None = None
        # The Salesforce sync.
        self._sync_state: SyncState = "not_sent"
        self._sync_due = False
        self._sync_flagged = False
        self._sync_attempts = 0
        self._sync_error: str | None = None
        self._sync_last_attempt: datetime | None = None
        self._next_retry_at: datetime | None = None
        self._sync_attempt: asyncio.Task[SalesforceSyncResult] | None = None
        self._sync_result: SalesforceSyncResult | None = None
        self._synced_at: datetime | None = None
        self._reference: str | None = None
        # Salesforce's callbacks.
        self._callbacks_seen: set[str] = set()
        self._quoted: int | None = None
        self._decision: Literal["approved", "declined"] | None = None
        self._shipment: Shipment | None = None
        self._replaced_by: str | None = None
        self.created()

    @workflow.run
    async def run(self, input: StartOrderInput) -> OrderView:
        """Run the order from checkout to completed or cancelled."""
        sync = asyncio.create_task(self._sync_loop())
        payment = self.req.payment
        if payment is not None:
            async with self._lock:
                # A pay action may have come first (it arrives with the first task).
                if self.status == "incomplete" and self._pay_attempts == 0:
                    await self._place(payment, self._customer(), "pay")
        view = await self.run_order()
        if self._sync_attempt is None:
            await sync  # it returns at once: the order is finished
        # Else an abandoned attempt is still running: the order does not wait for it.
        return view

    # ----- order data -----------------------------------------------------------------

    @property
    def total(self) -> int:
        return self.req.total()

    def _customer(self) -> Actor:
        return Actor(role=Role.customer, id=self.req.customer.id)

    def _to_customer(self) -> list[tuple[str, str, str]]:
        customer = self.req.customer
        return [(Role.customer.value, str(customer.email), str(customer.name))]

    def _money(self, amount: int) -> str:
        return format_amount(amount, self.req.currency)

    def _payment_summary(self) -> str:
        payment = self._payment or self._pending_payment
        if isinstance(payment, PurchaseOrderPayment):
            return f"purchase order {payment.po_number}"
        if isinstance(payment, ShopCardPayment):
            return "card"
        return "not given"

    def _context(self, **extra: str) -> dict[str, str]:
        context = {
            "order_id": self.order_id(),
            "customer_name": self.req.customer.name,
            "status": self.status,
            "stage": self.spec.state(self.status).label,
            "amount_total": self._money(self.total),
            "items_summary": describe_items(self.req.items, self.req.currency),
            "payment_summary": self._payment_summary(),
            # Every template key is always present: a template may use any of them.
            "reason": "",
            "quote_amount": self._money(self._quoted) if self._quoted is not None else "",
            "tracking": "",
            "replacement_order_id": self._replaced_by or "",
        }
        context.update(extra)
        return context

    def _flag(self, reason: str) -> None:
        """Flag the order, remembering it was this flow's flag (see ``_unflag``)."""
        self._my_flag = reason
        self.attention(reason)

    def _unflag(self) -> None:
        """Clear this flow's own flag; a flag the engine set (a lapsed hold) stays."""
        if self._needs_attention and self._attention_reason == self._my_flag:
            self.attention(None)
        self._my_flag = None

    # ----- rules ----------------------------------------------------------------------

    @refusal("pay")
    def _pay_refusal(self, actor: Actor, payload: BaseModel | None) -> str | None:
        if self.ledger.in_flight:
            return "a payment for this order is already in progress"
        return None

    @on_action("pay")
    async def _pay(self, actor: Actor, payload: ShopPayPayload) -> None:
        refused = await self._place(payload.payment(), actor, "pay")
        if refused is not None:
            kind, message = refused
            raise reject(message, kind)

    @on_action("cancel")
    async def _cancel_order(self, actor: Actor, payload: ShopCancelPayload) -> None:
        await self._cancel(actor, "cancel", payload.reason)

    @on_action("mark_entered")
    def _mark_entered(self, actor: Actor, payload: MarkEnteredPayload) -> None:
        self._reference = payload.reference
        self._stop_sync("entered_manually")
        self._unflag()
        reason = "entered in Salesforce by hand"
        if payload.reference:
            reason += f" as {payload.reference}"
        if payload.note:
            reason += f": {payload.note}"
        self._move_on(actor, "mark_entered", reason)

    def deadlines(self) -> list[Deadline]:
        if self.status == "incomplete":
            return [self.due("payment", self._created_at + self._policy.incomplete_window)]
        found: list[Deadline] = []
        if self.status == "order_placed" and self._sync_state == "pending":
            if not self._sync_flagged and self._placed_at is not None:
                patience = self._placed_at + self._policy.sync_patience
                found.append(self.due("salesforce_sync", patience))
            if self._next_retry_at is not None:
                found.append(self.due("salesforce_retry", self._next_retry_at))
        return found

    # ----- placing and paying ---------------------------------------------------------

    async def _place(self, payment: Payment, actor: Actor, action: str) -> tuple[str, str] | None:
        """Place the order with ``payment``; the refusal (error type, message) if it failed.

        3-D Secure leaves it incomplete with the client secret in the view (no refusal).
        """
        self._pay_attempts += 1
        if isinstance(payment, PurchaseOrderPayment) or self.total == 0:
            self._placed(payment, actor, action)
            return None
        try:
            result = await self.ledger.authorise(self.total, payment.payment_method)
        except PaymentError as exc:
            # The outcome is unknown: the ledger keeps the key for the next attempt.
            self._flag(f"payment provider error: {exc}")
            return errors.PAYMENT_UNAVAILABLE, f"payment could not be processed: {exc}"
        if result.outcome == PaymentOutcome.succeeded:
            self._placed(payment, actor, action)
        elif result.outcome == PaymentOutcome.requires_action:
            self._pending_payment = payment
        else:
            self._payment_failed(actor, action)
            return errors.PAYMENT_DECLINED, f"payment declined: {self.ledger.last_error}"
        return None

    def _payment_failed(self, actor: Actor, action: str) -> None:
        reason = self.ledger.last_error or "declined"
        self.transition("incomplete", action, actor, f"payment declined: {reason}")
        self.notify("payment_failed", self._to_customer(), self._context(reason=reason))

    def _placed(self, payment: Payment, actor: Actor, action: str) -> None:
        self._payment, self._pending_payment = payment, None
        self._placed_at = workflow.now()
        self._unflag()
        self._sync_state, self._sync_due = "pending", True
        self.transition("order_placed", action, actor, self._payment_summary())
        self.notify("placed", self._to_customer(), self._context())

    async def on_stripe_event(self, event: StripeEvent) -> None:
        """Complete an authorisation that waited for the customer (3-D Secure)."""
        if self.status != "incomplete" or self._pending_payment is None:
            return
        if self.ledger.on_event(event) is None:
            return
        if self.ledger.records[-1].outcome == PaymentOutcome.succeeded:
            self._placed(self._pending_payment, self._customer(), "pay")
        else:
            self._pending_payment = None
            self._payment_failed(self._customer(), "pay")

    @on_expiry("payment")
    async def _payment_expired(self) -> None:
        hours = self._policy.incomplete_window.total_seconds() / 3600
        await self._cancel(SYSTEM, "cancel", f"no satisfactory payment within {hours:g} h")

    # ----- the Salesforce sync --------------------------------------------------------

    async def _sync_loop(self) -> None:
        """Send the order to Salesforce whenever a sync is due, until the order finishes."""
        while True:
            await workflow.wait_condition(lambda: self._sync_due or self._finished)
            if self._finished:
                return
            self._sync_due = False
            self._sync_attempts += 1
            self._sync_last_attempt = workflow.now()
            self._sync_attempt = workflow.start_activity(
                SYNC_SALESFORCE_ORDER,
                self._sync_input(),
                result_type=SalesforceSyncResult,
                start_to_close_timeout=timedelta(minutes=2),
                retry_policy=SYNC_ATTEMPT_RETRY,
                summary=f"Salesforce sync, attempt {self._sync_attempts}",
            )
            result: SalesforceSyncResult | None = None
            error = ""
            try:
                result = await self._sync_attempt
            except ActivityError as exc:
                error = cause_message(exc)
            finally:
                self._sync_attempt = None
            async with self._lock:
                self._after_attempt(result, error)

    def _sync_input(self) -> SalesforceSyncInput:
        request = self.req
        awaiting_quote = request.kind == "repair_eval" or (
            request.kind == "repair" and request.replaces is None
        )
        if request.kind == "repair_eval":
            stage = "Needs Analysis"
        elif awaiting_quote:
            stage = "Proposal/Price Quote"
        else:
            stage = "Closed Won"
        payment = self._payment
        assert self._placed_at is not None and payment is not None
        return SalesforceSyncInput(
            order_id=self.order_id(),
            kind=request.kind,
            customer_id=request.customer.id,
            customer_name=request.customer.name,
            customer_email=str(request.customer.email),
            items=request.items,
            currency=request.currency,
            amount_total=self.total,
            placed_at=self._placed_at,
            payment_method=payment.method,
            po_number=payment.po_number if isinstance(payment, PurchaseOrderPayment) else None,
            replaces=request.replaces,
            record_type="Quote" if awaiting_quote else "Order",
            stage=stage,
        )

    def _after_attempt(self, result: SalesforceSyncResult | None, error: str) -> None:
        if result is not None:
            self._sync_result = result
        if self.status != "order_placed" or self._sync_state != "pending":
            # A CSR entered it by hand or the order was cancelled meanwhile.
            if result is not None:
                self.changed()
            return
        if result is not None:
            self._sync_state, self._synced_at = "synced", workflow.now()
            self._sync_error, self._next_retry_at = None, None
            self._unflag()
            reason = (
                f"in Salesforce: Opportunity {result.opportunity_id}, "
                f"{result.record_type} {result.record_id}"
            )
            if self._sync_attempts > 1:
                reason += f" (attempt {self._sync_attempts})"
            self._move_on(SALESFORCE, "salesforce_sync", reason)
            return
        self._sync_error = error
        pause = min(
            self._policy.sync_retry_initial * 2 ** min(self._sync_attempts - 1, 30),
            self._policy.sync_retry_max,
        )
        self._next_retry_at = workflow.now() + pause
        if self._sync_flagged:
            self._flag(self._patience_reason())
        else:
            self.changed()

    @on_expiry("salesforce_retry")
    async def _retry_due(self) -> None:
        self._next_retry_at = None
        self._sync_due = True

    @on_expiry("salesforce_sync")
    async def _patience_expired(self) -> None:
        self._sync_flagged = True
        self._flag(self._patience_reason())

    def _patience_reason(self) -> str:
        minutes = self._policy.sync_patience.total_seconds() / 60
        why = self._sync_error or "the first attempt has not finished"
        return (
            f"not in Salesforce {minutes:g} min after it was placed ({why}); enter it in "
            "Salesforce by hand and mark it entered (mark_entered); the sync keeps retrying"
        )

    def _stop_sync(self, state: SyncState | None = None) -> None:
        """No more sync attempts.

        A running attempt is left to finish rather than cancelled (a cancel that crosses
        the attempt's own end fails the workflow task); its result only records the ids.
        """
        self._sync_due, self._next_retry_at = False, None
        if state is not None:
            self._sync_state = state

    def _move_on(self, actor: Actor, action: str, reason: str) -> None:
        """Leave ``order_placed``: the order is in Salesforce (synced or entered by hand)."""
        request = self.req
        if request.kind == "repair_eval":
            self.transition("awaiting_evaluation", action, actor, reason)
        elif request.kind == "repair" and request.replaces is None:
            self._quoted = self.total
            self.transition("awaiting_customer_approval", action, actor, reason)
            self.notify("quote_ready", self._to_customer(), self._context())
        else:
            self.transition(self._fulfilment_status(), action, actor, reason)

    def _fulfilment_status(self) -> str:
        po = isinstance(self._payment, PurchaseOrderPayment)
        return "awaiting_payment" if po else "in_process"

    # ----- Salesforce's callbacks -----------------------------------------------------

    @workflow.update(name=SALESFORCE_CALLBACK_UPDATE)
    async def salesforce_callback(self, callback: SalesforceCallback) -> SalesforceCallbackResult:
        """An event from Salesforce: evaluation complete, quote approved/declined, shipped."""
        async with self._lock:
            if callback.event_id in self._callbacks_seen:
                return self._callback_result(callback, "duplicate")
            reason = self._check_callback(callback)
            if reason is not None:
                raise reject(reason)
            await self._apply_callback(callback)
            self._callbacks_seen.add(callback.event_id)
            return self._callback_result(callback, "applied")

    @salesforce_callback.validator
    def validate_salesforce_callback(self, callback: SalesforceCallback) -> None:
        """Reject a callback that does not apply to the order now (a duplicate is fine)."""
        if callback.event_id in self._callbacks_seen:
            return
        reason = self._check_callback(callback)
        if reason is not None:
            raise reject(reason)

    def _callback_result(
        self, callback: SalesforceCallback, outcome: Literal["applied", "duplicate"]
    ) -> SalesforceCallbackResult:
        return SalesforceCallbackResult(
            order_id=self.order_id(),
            event_id=callback.event_id,
            outcome=outcome,
            status=self.status,
        )

    def _check_callback(self, callback: SalesforceCallback) -> str | None:
        if callback.order_id != self.order_id():
            return f"the callback names order {callback.order_id}, not {self.order_id()}"
        states = CALLBACK_STATES[callback.event]
        if self.status not in states:
            return (
                f"{callback.event} does not apply to an order in {self.status} "
                f"(only in {', '.join(states)})"
            )
        currency = callback.currency
        if currency is not None and currency != self.req.currency:
            return f"the repair price is in {currency}, the order in {self.req.currency}"
        return None

    async def _apply_callback(self, callback: SalesforceCallback) -> None:
        note = callback.note
        if callback.event == "evaluation_complete":
            assert callback.repair_price is not None
            self._quoted = callback.repair_price
            reason = f"repair price {self._money(callback.repair_price)}"
            self.transition("awaiting_customer_approval", callback.event, SALESFORCE, reason)
            self.notify("quote_ready", self._to_customer(), self._context())
        elif callback.event == "quote_approved":
            self._decision = "approved"
            if self.req.kind == "repair_eval":
                await self._price_changed(note)
            else:
                self.transition(self._fulfilment_status(), callback.event, SALESFORCE, note)
        elif callback.event == "quote_declined":
            self._decision = "declined"
            reason = "the customer declined the repair quote" + (f": {note}" if note else "")
            await self._cancel(SALESFORCE, callback.event, reason)
        else:
            await self._shipped(callback)

    async def _shipped(self, callback: SalesforceCallback) -> None:
        self._shipment = Shipment(
            shipped_at=workflow.now(),
            tracking_number=callback.tracking_number,
            carrier=callback.carrier,
        )
        payment = self._payment
        if isinstance(payment, PurchaseOrderPayment):
            self.ledger.invoice_due(
                self.total, f"purchase order {payment.po_number}: invoice after shipping"
            )
        elif self.total > 0:
            try:
                await self.ledger.capture()
            except PaymentError as exc:
                self._flag(f"shipped, but the payment could not be captured: {exc}")
        tracking = " ".join(p for p in (callback.carrier, callback.tracking_number) if p)
        self.transition("completed", "shipped", SALESFORCE, tracking or callback.note)
        self.notify("shipped", self._to_customer(), self._context(tracking=tracking))
        self.finish()

    async def _price_changed(self, note: str | None) -> None:
        """Start the priced order for the EVAL's repair, then cancel this zero-price one."""
        assert self._quoted is not None and self._payment is not None
        new_id = replacement_order_id(self.order_id())
        eval_item = self.req.items[0]
        request = ShopOrderRequest(
            order_id=new_id,
            flow="shop_order",
            currency=self.req.currency,
            customer=self.req.customer,
            kind="repair",
            items=[eval_item.model_copy(update={"unit_amount": self._quoted})],
            payment=self._payment,
            replaces=self.order_id(),
        )
        start = StartOrderInput(
            order_id=new_id,
            request=request,
            request_fingerprint=request_fingerprint(request),
            policy=self._input.policy,
            created_by=SALESFORCE,
            received_at=workflow.now(),
            # The replacement belongs to the same tenant as the order it replaces.
            tenant=self._input.tenant,
        )
        try:
            await workflow.start_child_workflow(
                FLOW,
                start,
                id=order_workflow_id(new_id),
                result_type=OrderView,
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=request.web_summary(),
                static_details="\n".join(request.web_details()),
            )
        except WorkflowAlreadyStartedError:
            self._flag(
                f"the customer approved the repair quote, but the priced order {new_id} "
                "could not be started: an order with that id exists; create it by hand"
            )
            self.transition(self.status, "quote_approved", SALESFORCE, note)
            return
        self._replaced_by = new_id
        price = self._money(self._quoted)
        mail = f"price changed: your repair continues as order {new_id} at {price}"
        await self._cancel(SALESFORCE, "quote_approved", "price changed", mail)

    # ----- cancelling -----------------------------------------------------------------

    async def _cancel(
        self, actor: Actor, action: str, reason: str, mail_reason: str | None = None
    ) -> None:
        self._stop_sync("stopped" if self._sync_state == "pending" else None)
        if self.ledger.held:
            try:
                await self.ledger.release_hold()
            except PaymentError as exc:
                self._flag(f"cancelled, but the card hold could not be released: {exc}")
        self.transition("cancelled", action, actor, reason)
        context = self._context(reason=mail_reason or reason)
        self.notify("cancelled", self._to_customer(), context)
        self.finish()

    # ----- view -----------------------------------------------------------------------

    def build_view(self, base: dict[str, Any]) -> OrderView:
        request, result = self.req, self._sync_result
        payment = self._payment or self._pending_payment
        sync = SalesforceSync(
            state=self._sync_state,
            attempts=self._sync_attempts,
            last_error=self._sync_error,
            last_attempt_at=self._sync_last_attempt,
            next_attempt_at=self._next_retry_at,
            account_id=result.account_id if result else None,
            opportunity_id=result.opportunity_id if result else None,
            record_type=result.record_type if result else None,
            record_id=result.record_id if result else None,
            synced_at=self._synced_at,
            reference=self._reference,
        )
        return OrderView(
            **base,
            customer=request.customer,
            items=request.line_items(),
            currency=request.currency,
            amount_total=self.total,
            amount_paid=self.ledger.captured,
            amount_held=self.ledger.held,
            amount_refunded=self.ledger.refunded,
            payment_client_secret=self.ledger.client_secret,
            last_payment_error=self.ledger.last_error,
            request_fingerprint=self._input.request_fingerprint,
            shop=ShopDetails(
                kind=request.kind,
                skus=[item.sku for item in request.items],
                payment_method=payment.method if payment else None,
                po_number=payment.po_number if isinstance(payment, PurchaseOrderPayment) else None,
                payment_in_progress=self.ledger.in_flight,
                salesforce=sync,
                quoted_amount=self._quoted,
                quote_decision=self._decision,
                shipment=self._shipment,
                replaces=request.replaces,
                replaced_by=self._replaced_by,
            ),
        )
