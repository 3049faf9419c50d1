"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.account_order import AccountOrderWorkflow
from workflows.prepaid_service import PrepaidServiceWorkflow

WORKFLOWS = {"prepaid_service": PrepaidServiceWorkflow, "account_order": AccountOrderWorkflow}
