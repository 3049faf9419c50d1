"""The charge box installation flow's harness and fakes: orders of the flow's sample with an
installer of their own."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from flows.charge_box_installation.models import (
    ChargeBoxInstallationRequest,
    InstallationCardPayment,
    OffStripePayment,
)
from flows.charge_box_installation.policy import InstallationPolicy
from models.activities import CHARGE_PAYMENT, ChargeInput, ChargeResult, SendEmailInput
from models.common import Actor, LineItem, Party, Role
from models.orders import OrderView, StripeEvent
from tests.support.fakes import FakeActivities
from tests.support.harness import FlowHarness, flow_worker
from tests.support.samples import CUSTOMER, sample_request

PARTNER = Party(id="ins-1", name="Ivo Installer", email="ivo@installer.example")
ZONE = sample_request("charge_box_installation", ChargeBoxInstallationRequest).time_zone
AMOUNT = 129900
C, P, S = Role.customer, Role.provider, Role.support
Handle = WorkflowHandle[Any, OrderView]


class InstallationFakes(FakeActivities):
    """The shared fakes, with a payment provider that can be switched off."""

    def __init__(self) -> None:
        super().__init__()
        self.provider_down = False
        self.charge_attempts: list[ChargeInput] = []

    @activity.defn(name=CHARGE_PAYMENT)
    async def charge_payment(self, input: ChargeInput) -> ChargeResult:
        self.charge_attempts.append(input)
        if self.provider_down:
            raise ApplicationError(
                "payment provider unreachable", type="StripeAuthenticationError", non_retryable=True
            )
        return await super().charge_payment(input)

    def succeeded_charges(self) -> list[ChargeInput]:
        return [c for c in self.charges if c.payment_method != "pm_card_chargeDeclined"]


class InstallationHarness(FlowHarness):
    """Start installation orders and act as their customer, partner or support."""

    fakes: InstallationFakes

    async def start(
        self,
        *,
        card: str | None = "pm_card_visa",
        amount: int = AMOUNT,
        onboarding_flow: str = "standard",
        policy: InstallationPolicy | None = None,
    ) -> Handle:
        payment: InstallationCardPayment | OffStripePayment = (
            InstallationCardPayment(method="card", payment_method=card)
            if card is not None
            else OffStripePayment(method="invoice", reference="PO-4711")
        )
        request = sample_request(
            "charge_box_installation",
            ChargeBoxInstallationRequest,
            order_id=f"o-{uuid.uuid4().hex[:12]}",
            onboarding_flow=onboarding_flow,
            installation_partner=PARTNER,
            items=[LineItem(name="Charge box 11 kW", quantity=1, unit_amount=amount)],
            installation_address="Vesterbrogade 1, Copenhagen",
            payment=payment,
        )
        return await self.start_request(request, policy)

    async def act(
        self,
        handle: Handle,
        action: str,
        role: Role,
        payload: dict[str, Any] | None = None,
        actor_id: str | None = None,
    ) -> OrderView:
        if actor_id is None:
            actor_id = {C: CUSTOMER.id, P: PARTNER.id}.get(role, "agent-1")
        return await self.act_as(handle, action, Actor(role=role, id=actor_id), payload or {})

    async def schedule(
        self, handle: Handle, at: datetime, role: Role = S, note: str | None = None
    ) -> OrderView:
        payload: dict[str, Any] = {"at": at.isoformat()}
        if note is not None:
            payload["note"] = note
        return await self.act(handle, "schedule", role, payload)

    async def mails(self, order_id: str, event: str, count: int) -> list[SendEmailInput]:
        """The first ``count`` emails of an event, once the outbox has sent that many."""
        for _ in range(200):
            sent = self.fakes.emails_for(order_id, event)
            if len(sent) >= count:
                return sent[:count]
            await asyncio.sleep(0.05)
        raise AssertionError(f"fewer than {count} {event} emails for {order_id}")

    async def in_(self, delta: timedelta) -> datetime:
        """The moment ``delta`` from the server's now."""
        return await self.now() + delta

    async def webhook(self, handle: Handle, event_type: str, intent: str) -> None:
        event = StripeEvent(
            event_id=f"evt_{uuid.uuid4().hex[:12]}", type=event_type, payment_intent_id=intent
        )
        await handle.signal("stripe_event", event)


@contextlib.asynccontextmanager
async def installation_harness(
    env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[InstallationHarness]:
    """A harness with a worker of every flow and the installation fakes on ``task_queue``."""
    fakes = InstallationFakes()
    async with flow_worker(env, task_queue, fakes.all()):
        yield InstallationHarness(env, task_queue, fakes)
