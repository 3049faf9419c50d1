"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.account_order import AccountOrderWorkflow
from workflows.charge_box_installation import ChargeBoxInstallationWorkflow
from workflows.prepaid_service import PrepaidServiceWorkflow

WORKFLOWS = {
    "prepaid_service": PrepaidServiceWorkflow,
    "charge_box_installation": ChargeBoxInstallationWorkflow,
    "account_order": AccountOrderWorkflow,
}
