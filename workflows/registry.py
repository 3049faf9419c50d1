"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.shop_order import ShopOrderWorkflow

WORKFLOWS = {"prepaid_service": PrepaidServiceWorkflow, "shop_order": ShopOrderWorkflow}
