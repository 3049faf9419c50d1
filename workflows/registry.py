"""Every flow's workflow class, by flow name."""

from __future__ import annotations

from workflows.prepaid_service import PrepaidServiceWorkflow

WORKFLOWS = {"prepaid_service": PrepaidServiceWorkflow}
