"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.account_order import AccountOrderWorkflow
from workflows.charge_box_installation import ChargeBoxInstallationWorkflow
from workflows.dealer_order import DealerOrderWorkflow
from workflows.prepaid_service import PrepaidServiceWorkflow
from workflows.shop_order import ShopOrderWorkflow

WORKFLOWS = {
    "prepaid_service": PrepaidServiceWorkflow,
    "charge_box_installation": ChargeBoxInstallationWorkflow,
    "shop_order": ShopOrderWorkflow,
    "dealer_order": DealerOrderWorkflow,
    "account_order": AccountOrderWorkflow,
}
