"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.dealer_order import DealerOrderWorkflow
from workflows.prepaid_service import PrepaidServiceWorkflow

WORKFLOWS = {"prepaid_service": PrepaidServiceWorkflow, "dealer_order": DealerOrderWorkflow}
