"""``orderclock reconcile``: make the order database agree with Temporal again.

The read model is written only by the workflows' ``record_order`` activity, which retries
until the database takes the write; so drift comes from outside (a restored backup, a
hand-edited row, a database replaced while orders ran). Reconcile lists every order
workflow through Temporal's visibility store, reads each order's view (the ``view`` query
for a running order, the result for a completed one), compares it with the database row
and writes the drifted ones through :func:`db.writes.store_order_view`, the activity's
own idempotent path (a stored version newer than Temporal's is never overwritten).

Kinds of drift: ``missing`` (no row), ``stale`` (an older version), ``status`` (same
version, another status), ``content`` (same version and status, another view), and, not
repairable here, ``newer_in_database`` and ``unreadable`` (Temporal could not give the
view). Rows whose order Temporal does not know (past its retention, say) are listed as
``not_in_temporal`` and left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus

from cli.orders import table
from cli.support import encrypted_payloads_hint
from db.engine import session_scope
from db.tables import ORDERS
from db.writes import store_order_view
from flows.catalog import FLOW_NAMES
from models.ids import WORKFLOW_ID_PREFIX, order_id_from_workflow_id
from models.orders import OrderView

VIEW_QUERY = "view"
READS_AT_ONCE = 16
BATCH = 200
REPAIRABLE = ("missing", "stale", "status", "content")
# Not drift at all: this process lacks the key (cli.support says which to set).
ENCRYPTED_NOTE = "encrypted; no payload key here to read it"


@dataclass
class Drift:
    """One order whose database row does not match its workflow."""

    order_id: str
    kind: str
    temporal_status: str | None = None
    temporal_version: int | None = None
    database_status: str | None = None
    database_version: int | None = None
    detail: str | None = None
    repaired: bool = False


@dataclass
class Report:
    """What reconcile found and did."""

    checked: int
    drifts: list[Drift]
    not_in_temporal: list[str]
    dry_run: bool

    @property
    def unresolved(self) -> list[Drift]:
        return [d for d in self.drifts if not d.repaired]

    @property
    def undecryptable(self) -> bool:
        """Some views could not be read for want of the payload keys, not for drift."""
        return any(d.detail == ENCRYPTED_NOTE for d in self.drifts)

    @property
    def exit_code(self) -> int:
        """0 when the database now agrees with Temporal, 1 when some drift is left."""
        return 1 if self.unresolved else 0

    def as_json(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "dry_run": self.dry_run,
            "drifted": len(self.drifts),
            "repaired": sum(d.repaired for d in self.drifts),
            "drifts": [asdict(d) for d in self.drifts],
            "not_in_temporal": self.not_in_temporal,
        }

    def lines(self) -> list[str]:
        repaired = sum(d.repaired for d in self.drifts)
        head = f"checked {self.checked} orders: {len(self.drifts)} drifted"
        head += " (dry run: nothing written)" if self.dry_run else f", {repaired} repaired"
        lines = [head]
        if self.drifts:
            rows = [
                [
                    d.kind,
                    d.order_id,
                    _state(d.temporal_status, d.temporal_version),
                    _state(d.database_status, d.database_version),
                    "repaired" if d.repaired else (d.detail or ""),
                ]
                for d in self.drifts
            ]
            headers = ["DRIFT", "ORDER", "TEMPORAL", "DATABASE", "NOTE"]
            lines += ["  " + line for line in table(headers, rows).splitlines()]
        if self.not_in_temporal:
            shown = ", ".join(self.not_in_temporal[:10])
            more = " ..." if len(self.not_in_temporal) > 10 else ""
            lines.append(f"unknown to Temporal, left alone: {shown}{more}")
        return lines


def _state(status: str | None, version: int | None) -> str:
    return "-" if status is None else f"{status} v{version}"


def order_query(flows: Sequence[str] = FLOW_NAMES) -> str:
    """The visibility query for every order workflow of these flows."""
    names = ", ".join(f"'{name}'" for name in flows)
    return f"WorkflowType IN ({names})"


async def workflow_view(client: Client, execution: WorkflowExecution) -> OrderView:
    """The order's view: the result of a completed workflow, else its ``view`` query."""
    handle = client.get_workflow_handle(
        execution.id, run_id=execution.run_id, result_type=OrderView
    )
    if execution.status == WorkflowExecutionStatus.COMPLETED:
        view: OrderView = await handle.result(follow_runs=False)
        return view
    # Running, or closed some other way (a query replays a closed workflow on a worker).
    queried: OrderView = await handle.query(VIEW_QUERY, result_type=OrderView)
    return queried


def compare(view: OrderView, row: Any | None) -> Drift | None:
    """How the database row (order_id, status, version, view_json) differs from ``view``."""
    drift = Drift(
        order_id=view.order_id, kind="", temporal_status=view.status, temporal_version=view.version
    )
    if row is None:
        drift.kind = "missing"
        return drift
    drift.database_status, drift.database_version = row.status, row.version
    if row.version < view.version:
        drift.kind = "stale"
    elif row.version > view.version:
        drift.kind = "newer_in_database"
        drift.detail = "a newer version than Temporal's is never overwritten"
    elif row.status != view.status:
        drift.kind = "status"
    elif row.view_json != view.model_dump(mode="json"):
        drift.kind = "content"
    else:
        return None
    return drift


def _rows(engine: Engine, order_ids: Sequence[str]) -> dict[str, Any]:
    query = sa.select(ORDERS.c.order_id, ORDERS.c.status, ORDERS.c.version, ORDERS.c.view_json)
    found: dict[str, Any] = {}
    with engine.connect() as db:
        for start in range(0, len(order_ids), BATCH):
            chunk = order_ids[start : start + BATCH]
            for row in db.execute(query.where(ORDERS.c.order_id.in_(chunk))):
                found[row.order_id] = row
    return found


def _stored_ids(engine: Engine) -> list[str]:
    with engine.connect() as db:
        return [str(oid) for oid in db.execute(sa.select(ORDERS.c.order_id)).scalars()]


def _write(engine: Engine, view: OrderView) -> bool:
    with session_scope(engine) as session:
        return store_order_view(session, view)


async def reconcile(client: Client, engine: Engine, *, dry_run: bool = False) -> Report:
    """Compare every order workflow with the database; repair drift unless ``dry_run``."""
    executions = [
        execution
        async for execution in client.list_workflows(order_query())
        if execution.id.startswith(WORKFLOW_ID_PREFIX)
    ]
    gate = asyncio.Semaphore(READS_AT_ONCE)

    async def read(execution: WorkflowExecution) -> OrderView | Drift:
        async with gate:
            try:
                return await workflow_view(client, execution)
            except Exception as err:  # any reason Temporal cannot give this one order's view
                encrypted = encrypted_payloads_hint(err) is not None
                return Drift(
                    order_id=order_id_from_workflow_id(execution.id),
                    kind="unreadable",
                    detail=ENCRYPTED_NOTE if encrypted else f"{type(err).__name__}: {err}",
                )

    read_results = await asyncio.gather(*(read(e) for e in executions))
    views = [v for v in read_results if isinstance(v, OrderView)]
    drifts = [d for d in read_results if isinstance(d, Drift)]
    rows = await asyncio.to_thread(_rows, engine, [v.order_id for v in views])
    for view in views:
        drift = compare(view, rows.get(view.order_id))
        if drift is None:
            continue
        if not dry_run and drift.kind in REPAIRABLE:
            drift.repaired = await asyncio.to_thread(_write, engine, view)
        drifts.append(drift)
    known = {order_id_from_workflow_id(e.id) for e in executions}
    stored = await asyncio.to_thread(_stored_ids, engine)
    drifts.sort(key=lambda d: (d.kind, d.order_id))
    return Report(
        checked=len(executions),
        drifts=drifts,
        not_in_temporal=sorted(oid for oid in stored if oid not in known),
        dry_run=dry_run,
    )
