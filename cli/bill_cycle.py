"""The bill-cycle run on a cluster: its Temporal Schedule, and a run by hand for support.

``ensure_schedule`` creates the schedule ``ORDERCLOCK_BILL_CYCLE_SCHEDULE_ID`` or brings an
existing one to the settings' cron and task queue (``orderclock setup`` and ``orderclock
dev`` call it, so running them again is harmless). ``orderclock bill-cycle run --cycle
YYYY-MM`` starts the same workflow for a given cycle and prints what it invoiced; a cycle
already invoiced adds nothing.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from cli.support import (
    EXIT_CONFIG,
    encrypted_payloads_hint,
    settings_without_secrets,
    with_dev_payload_keys,
)
from config.settings import Settings
from models.billing import BillCycleInput, BillCycleResult, _cycle

# The Temporal SDK is imported where it is used: every ``orderclock`` command loads this
# module, and most (keys, orders) never speak to Temporal.
if TYPE_CHECKING:
    from temporalio.client import Client, Schedule

BILL_CYCLE_WORKFLOW = "bill_cycle"
# A run missed while the cluster was down still happens within this window.
CATCHUP_WINDOW = timedelta(days=7)
EXIT_FAILED = 1
EXIT_UNREACHABLE = 3

bill_cycle_app = typer.Typer(
    help="The account orders' bill-cycle run (invoices completed orders once per cycle).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def bill_cycle_schedule(settings: Settings) -> Schedule:
    """The schedule the settings ask for: the cron in UTC, one run at a time."""
    from temporalio.client import (
        Schedule,
        ScheduleActionStartWorkflow,
        ScheduleOverlapPolicy,
        SchedulePolicy,
        ScheduleSpec,
    )

    return Schedule(
        action=ScheduleActionStartWorkflow(
            BILL_CYCLE_WORKFLOW,
            BillCycleInput(),
            id="bill-cycle",
            task_queue=settings.task_queue,
            static_summary="bill cycle: invoice the completed account orders of last month",
        ),
        spec=ScheduleSpec(cron_expressions=[settings.bill_cycle_cron], time_zone_name="UTC"),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.BUFFER_ONE, catchup_window=CATCHUP_WINDOW
        ),
    )


async def ensure_schedule(client: Client, settings: Settings) -> str:
    """Create the bill-cycle schedule, or update it to the settings; what was done."""
    from temporalio.client import ScheduleAlreadyRunningError, ScheduleUpdate, ScheduleUpdateInput

    schedule_id = settings.bill_cycle_schedule_id
    wanted = bill_cycle_schedule(settings)
    try:
        await client.create_schedule(schedule_id, wanted)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=wanted)

        await client.get_schedule_handle(schedule_id).update(update)
        return f"bill-cycle schedule {schedule_id} updated ({settings.bill_cycle_cron} UTC)"
    return f"bill-cycle schedule {schedule_id} created ({settings.bill_cycle_cron} UTC)"


async def run_cycle(client: Client, settings: Settings, cycle: str) -> BillCycleResult:
    """Run the bill cycle for ``cycle`` now and wait for its result.

    A run of the same cycle already in flight is joined rather than started twice.
    """
    from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

    result: BillCycleResult = await client.execute_workflow(
        BILL_CYCLE_WORKFLOW,
        BillCycleInput(cycle=cycle),
        id=cycle_workflow_id(cycle),
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        result_type=BillCycleResult,
    )
    return result


def cycle_workflow_id(cycle: str) -> str:
    """The workflow id of a hand-started run of ``cycle`` (one run per cycle at a time)."""
    return f"bill-cycle-{cycle}"


@bill_cycle_app.command("run")
def run(
    cycle: Annotated[str, typer.Option(help="The cycle to invoice: a month, YYYY-MM (UTC).")],
) -> None:
    """Invoice the completed account orders of a cycle now (a rerun adds nothing)."""
    from temporalio.client import WorkflowFailureError

    from cli.support import exit_now
    from worker.main import TemporalUnreachable, connect

    try:
        _cycle(cycle)
    except ValueError as error:
        typer.echo(f"orderclock: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    # The worker's payload keys (those of `orderclock dev` beside it included), or the
    # run's result could not be read although the cycle ran.
    settings = with_dev_payload_keys(settings_without_secrets())

    async def main() -> BillCycleResult:
        client = await connect(settings)
        return await run_cycle(client, settings, cycle)

    workflow = f"workflow {cycle_workflow_id(cycle)}"
    try:
        result = asyncio.run(main())
    except TemporalUnreachable as error:
        typer.echo(f"orderclock: the bill cycle {cycle} did not run: {error}", err=True)
        exit_now(EXIT_UNREACHABLE)
    except WorkflowFailureError as error:
        cause = error.cause or error
        typer.echo(f"orderclock: the bill cycle {cycle} failed ({workflow}): {cause}", err=True)
        exit_now(EXIT_FAILED)
    except Exception as error:  # one line, no traceback; say what is known of the run
        hint = encrypted_payloads_hint(error)
        what = f"it ran ({workflow}), but {hint}" if hint else f"{type(error).__name__}: {error}"
        typer.echo(f"orderclock: the bill cycle {cycle}: {what}", err=True)
        exit_now(EXIT_FAILED)
    typer.echo(
        f"cycle {result.cycle}: {result.orders} completed account order(s), "
        f"{result.invoiced} newly invoiced ({result.orders - result.invoiced} already were)"
    )
    # A Temporal client was used: leave without interpreter finalization (see exit_now).
    exit_now(0)
