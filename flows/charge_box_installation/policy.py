"""The charge box installation flow's policy, pinned into each order at its start."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

OnboardingFlowName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class InstallationEmail(StrEnum):
    """The email types of the flow; each onboarding flow enables some of them.

    The type is the email's event name (``flows/charge_box_installation/templates/``).
    """

    order_confirmation = "order_confirmation"
    installation_request = "installation_request"
    scheduled = "scheduled"
    rescheduled = "rescheduled"
    unscheduled = "unscheduled"
    fulfilled = "fulfilled"
    cancelled = "cancelled"
    payment_failed = "payment_failed"


# Context value of ``trigger`` when a person asked for the email (a manual resend).
MANUAL = "manual"


AUTOMATIC = "automatic"


DEFAULT_ONBOARDING_FLOW = "standard"


def _every_email() -> dict[str, list[InstallationEmail]]:
    return {DEFAULT_ONBOARDING_FLOW: list(InstallationEmail)}


class InstallationPolicy(BaseModel):
    """Rules of the charge box installation flow (seed 000), set per deployment.

    Pinned into each order like every policy, but the email switch (``onboarding_flows``)
    is read from the worker's own settings when an email is due (``activities/email.py``);
    the order's copy only records what the deployment said at creation.
    """

    onboarding_flows: dict[OnboardingFlowName, list[InstallationEmail]] = Field(
        default_factory=_every_email,
        description="Each onboarding flow this deployment knows, with the email types it "
        "sends. Read by the worker when an email is due (a type enabled later is sent from "
        "then on, on running orders too); an order naming another flow is refused.",
    )
    payment_retry_interval: timedelta = Field(
        default=timedelta(hours=1),
        description="When the payment provider cannot be reached at a scheduled fulfilment, "
        "the order stays scheduled and tries again after this long.",
    )

    @model_validator(mode="after")
    def _valid(self) -> InstallationPolicy:
        if not self.onboarding_flows:
            raise ValueError("at least one onboarding flow is needed")
        if self.payment_retry_interval <= timedelta(0):
            raise ValueError("payment_retry_interval must be positive")
        return self

    def known_flows(self) -> str:
        return ", ".join(sorted(self.onboarding_flows))

    def email_skip_reason(self, event: str, context: Mapping[str, str]) -> str | None:
        """Why an email of ``event`` is not sent under this policy (None: send it).

        A manual resend (``trigger`` ``manual``) is support's explicit decision and is
        never held back; events that are no email type are not switchable.
        """
        if context.get("trigger") == MANUAL or event not in InstallationEmail.__members__:
            return None
        flow = context.get("onboarding_flow", "")
        enabled = self.onboarding_flows.get(flow)
        if enabled is None:
            return (
                f"email type {event} is not enabled for onboarding flow {flow}: the flow is "
                f"no longer configured (known: {self.known_flows()})"
            )
        if event not in enabled:
            return f"email type {event} is not enabled for onboarding flow {flow}"
        return None
