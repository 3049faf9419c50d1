"""How reconcile classifies a database row against the workflow's view (no servers)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cli.reconcile import Drift, Report, compare, order_query
from tests.db.factories import make_view

VIEW = make_view("ord-1", status="payment", version=4)


def row(status: str = "payment", version: int = 4, **changes: object) -> SimpleNamespace:
    view_json = VIEW.model_dump(mode="json") | changes
    return SimpleNamespace(status=status, version=version, view_json=view_json)


@pytest.mark.parametrize(
    ("stored", "kind"),
    [
        (None, "missing"),
        (row(version=3), "stale"),
        (row(version=5), "newer_in_database"),
        (row(status="closed"), "status"),
        (row(amount_paid=1), "content"),
    ],
)
def test_each_kind_of_drift(stored: SimpleNamespace | None, kind: str) -> None:
    drift = compare(VIEW, stored)
    assert drift is not None
    assert (drift.kind, drift.temporal_status, drift.temporal_version) == (kind, "payment", 4)


def test_an_equal_row_is_no_drift() -> None:
    assert compare(VIEW, row()) is None


def test_only_repairable_drift_that_was_not_written_fails_the_run() -> None:
    repaired = Drift(order_id="a", kind="stale", repaired=True)
    newer = Drift(order_id="b", kind="newer_in_database")
    assert Report(1, [repaired], [], dry_run=False).exit_code == 0
    assert Report(2, [repaired, newer], [], dry_run=False).exit_code == 1
    assert Report(0, [], ["ghost"], dry_run=False).exit_code == 0


def test_the_query_names_every_flow() -> None:
    assert order_query(["prepaid_service", "dealer_order"]) == (
        "WorkflowType IN ('prepaid_service', 'dealer_order')"
    )
