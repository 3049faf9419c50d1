"""The workflow sandbox orderclock's workers and tests run in."""

from __future__ import annotations

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from models.business_days import load_calendars

# Pure, side-effect-free modules shared with activities and the API: passing them through
# keeps one copy of each model class, and email_validator is imported lazily by pydantic
# while a workflow decodes its input. holidays (models/business_days.py) imports parts of
# itself lazily; inside the sandbox that would load a second copy, restricted.
PASSTHROUGH = ("models", "flows", "email_validator", "idna", "holidays")


def workflow_runner() -> SandboxedWorkflowRunner:
    """The sandboxed runner every worker uses (it is what catches nondeterminism)."""
    # Loaded outside the sandbox, before any workflow looks a calendar up inside it.
    load_calendars()
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(*PASSTHROUGH)
    )
