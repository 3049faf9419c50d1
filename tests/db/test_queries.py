"""The API's reads: filtered, paginated lists, views and histories, on both backends."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.engine import make_engine, session_scope
from db.migrate import upgrade
from db.queries import OrderSummary, get_order_view, list_orders, transitions_of
from db.writes import store_order_view
from models.common import Party
from tests.db.factories import T0, make_view

OTHER = Party(id="cus-2", name="Cy Other", email="cy@example.com")


@pytest.fixture
def orders(engine: Engine) -> list[str]:
    """Six orders, one hour apart; two share the newest time to test the tie-break."""
    specs = [
        ("a-1", 0, "confirmation", None, "prepaid_service"),
        ("a-2", 1, "payment", None, "prepaid_service"),
        ("a-3", 2, "cancelled", OTHER, "prepaid_service"),
        ("a-4", 3, "confirmation", OTHER, "charge_box"),
        ("a-6", 4, "closed", None, "prepaid_service"),
        ("a-5", 4, "confirmation", None, "prepaid_service"),
    ]
    with session_scope(engine) as session:
        for order_id, hours, status, customer, flow in specs:
            extra = {"customer": customer} if customer else {}
            view = make_view(
                order_id,
                created_at=T0 + timedelta(hours=hours),
                status=status,
                flow=flow,
                **extra,
            )
            store_order_view(session, view)
    return ["a-5", "a-6", "a-4", "a-3", "a-2", "a-1"]  # newest first, ties by order id


def _ids(items: list[OrderSummary]) -> list[str]:
    return [item.order_id for item in items]


def test_list_all_newest_first(engine: Engine, orders: list[str]) -> None:
    with Session(engine) as session:
        items, total = list_orders(session)
    assert (_ids(items), total) == (orders, 6)
    assert isinstance(items[0], OrderSummary)
    assert items[0].customer_name == "Ada Customer"
    assert items[0].created_at == T0 + timedelta(hours=4)


def test_filters(engine: Engine, orders: list[str]) -> None:
    with Session(engine) as session:
        items, total = list_orders(session, status="confirmation")
        assert (_ids(items), total) == (["a-5", "a-4", "a-1"], 3)
        items, total = list_orders(session, flow="charge_box")
        assert (_ids(items), total) == (["a-4"], 1)
        items, total = list_orders(session, customer_id="cus-2")
        assert (_ids(items), total) == (["a-4", "a-3"], 2)
        items, total = list_orders(session, customer_id="cus-2", status="confirmation")
        assert (_ids(items), total) == (["a-4"], 1)
        items, total = list_orders(session, flow="prepaid_service", status="closed")
        assert (_ids(items), total) == (["a-6"], 1)
        items, total = list_orders(session, provider_id="pro-1", needs_attention=False)
        assert total == 6
        items, total = list_orders(session, status="nope")
        assert (items, total) == ([], 0)


def test_pagination(engine: Engine, orders: list[str]) -> None:
    with Session(engine) as session:
        pages = [list_orders(session, limit=4, offset=offset) for offset in (0, 4, 8)]
        assert [_ids(items) for items, _ in pages] == [orders[:4], orders[4:], []]
        assert {total for _, total in pages} == {6}
        items, total = list_orders(session, status="confirmation", limit=1, offset=1)
        assert (_ids(items), total) == (["a-4"], 3)
        with pytest.raises(ValueError):
            list_orders(session, limit=0)
        with pytest.raises(ValueError):
            list_orders(session, offset=-1)


def test_needs_attention_filter(engine: Engine, orders: list[str]) -> None:
    with session_scope(engine) as session:
        store_order_view(
            session, make_view("a-2", version=2, needs_attention=True, attention_reason="x")
        )
    with Session(engine) as session:
        items, total = list_orders(session, needs_attention=True)
    assert (_ids(items), total) == (["a-2"], 1)
    assert items[0].attention_reason == "x"


def test_view_and_history_of_unknown_order(engine: Engine) -> None:
    with Session(engine) as session:
        assert get_order_view(session, "missing") is None
        assert transitions_of(session, "missing") == []


def test_view_round_trip(engine: Engine) -> None:
    view = make_view("rt-1", amount_refunded=500)
    with session_scope(engine) as session:
        store_order_view(session, view)
    with Session(engine) as session:
        stored = get_order_view(session, "rt-1")
    assert stored == view


def test_archived_orders_are_hidden_unless_asked_for(engine: Engine, orders: list[str]) -> None:
    with session_scope(engine) as session:
        store_order_view(session, make_view("a-2", version=2, archived=True))
    with Session(engine) as session:
        default, total = list_orders(session)
        archived, archived_total = list_orders(session, archived=True)
        everything, all_total = list_orders(session, archived=None)
    assert "a-2" not in _ids(default) and total == len(orders) - 1
    assert (_ids(archived), archived_total) == (["a-2"], 1)
    assert archived[0].archived is True
    assert all_total == len(orders) and set(_ids(everything)) == set(orders)


def test_an_order_without_provider_or_appointment_round_trips(engine: Engine) -> None:
    view = make_view("np-1").model_copy(update={"provider": None, "appointment": None})
    with session_scope(engine) as session:
        store_order_view(session, view)
    with Session(engine) as session:
        [summary], _ = list_orders(session)
        stored = get_order_view(session, "np-1")
    assert summary.provider_id is None
    assert stored == view


@pytest.mark.parametrize(
    "filters",
    [{}, {"status": "confirmation"}, {"customer_id": "cus-2"}, {"flow": "x", "status": "closed"}],
    ids=["none", "status", "customer", "flow-and-status"],
)
def test_a_list_page_is_read_in_index_order(tmp_path: Path, filters: dict[str, str]) -> None:
    # SQLite's plan for each list query: found through an index, and never a sort of every
    # matching row (only of ties on created_at), so a page costs the same at any size.
    url = f"sqlite:///{tmp_path / 'orders.db'}"
    upgrade(url)
    engine = make_engine(url)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        with Session(engine) as session:
            list_orders(session, **filters)  # type: ignore[arg-type]
        assert len(statements) == 2  # the count and the page
        with engine.connect() as conn:
            for statement, parameters in statements:
                plan = " | ".join(
                    row[3]
                    for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                )
                assert "USING" in plan and "INDEX" in plan, plan
                assert "SCAN orders" not in plan, plan
                assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
    finally:
        engine.dispose()
