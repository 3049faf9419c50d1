"""The list queries the console needs (and GET /orders offers): next deadline first, due
before a time, a customer's email, status counts and unsettled emails; on both backends."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine
from sqlmodel import Session

from db.engine import session_scope
from db.queries import OrderSort, email_issues, list_orders, status_counts, views_of
from db.writes import store_order_view
from models.common import Party
from models.orders import DeadlineView, NotificationStatus
from tests.db.factories import T0, make_view, notification

OTHER = Party(id="cus-2", name="Cy Other", email="Cy@Example.com")


def _deadline(hours: float) -> DeadlineView:
    due = T0 + timedelta(hours=hours)
    return DeadlineView(name="confirmation", due_at=due, due_at_local=due, on_expiry="cancelled")


def _store(engine: Engine) -> None:
    views = [
        make_view("d-late", created_at=T0, next_deadline=_deadline(30)),
        make_view("d-none", created_at=T0 + timedelta(hours=1), next_deadline=None),
        make_view("d-soon", created_at=T0 - timedelta(hours=1), next_deadline=_deadline(2)),
        make_view("d-past", created_at=T0 - timedelta(hours=2), next_deadline=_deadline(-1)),
        make_view(
            "d-other",
            created_at=T0,
            status="payment",
            customer=OTHER,
            next_deadline=_deadline(5),
            archived=True,
        ),
    ]
    with session_scope(engine) as session:
        for view in views:
            store_order_view(session, view)


def test_sorted_by_next_deadline_without_one_last(engine: Engine) -> None:
    _store(engine)
    with Session(engine) as session:
        items, total = list_orders(session, sort=OrderSort.next_deadline, archived=None)
    assert [i.order_id for i in items] == ["d-past", "d-soon", "d-other", "d-late", "d-none"]
    assert total == 5


def test_due_before_includes_past_due(engine: Engine) -> None:
    _store(engine)
    with Session(engine) as session:
        items, total = list_orders(
            session, due_before=T0 + timedelta(hours=4), sort=OrderSort.next_deadline
        )
    assert ([i.order_id for i in items], total) == (["d-past", "d-soon"], 2)


def test_customer_email_in_any_case(engine: Engine) -> None:
    _store(engine)
    with Session(engine) as session:
        items, _ = list_orders(session, customer_email="cy@EXAMPLE.com", archived=None)
        none, _ = list_orders(session, customer_email="cy@example.com")  # archived hidden
    assert [i.order_id for i in items] == ["d-other"]
    assert none == []


def test_status_counts_and_views(engine: Engine) -> None:
    _store(engine)
    with Session(engine) as session:
        counts = status_counts(session, "prepaid_service")
        views = views_of(session, ["d-soon", "missing"])
    assert counts == {"confirmation": 4, "archived": 1}
    assert list(views) == ["d-soon"] and views["d-soon"].order_id == "d-soon"


def test_email_issues_until_a_later_email_is_sent(engine: Engine) -> None:
    failed = notification("k:1", status=NotificationStatus.failed, detail="550", at=T0)
    skipped = notification("k:2", status=NotificationStatus.skipped, event="reminder", at=T0)
    resent = notification("k:3", at=T0 + timedelta(minutes=5))
    with session_scope(engine) as session:
        store_order_view(session, make_view("m-1", notifications=[failed, skipped]))
        store_order_view(
            session, make_view("m-2", customer=OTHER, notifications=[failed.model_copy()])
        )
    with Session(engine) as session:
        issues, total = email_issues(session)
        mine, _ = email_issues(session, customer_id=OTHER.id)
    assert total == 3
    assert {(i.order_id, i.idempotency_key) for i in issues} == {
        ("m-1", "k:1"),
        ("m-1", "k:2"),
        ("m-2", "k:1"),
    }
    assert [(i.order_id, i.detail) for i in mine] == [("m-2", "550")]
    # The failed confirmation resent and delivered: only the skipped reminder is left.
    with session_scope(engine) as session:
        store_order_view(session, make_view("m-1", notifications=[failed, skipped, resent]))
    with Session(engine) as session:
        issues, total = email_issues(session, order_id="m-1")
    assert ([i.idempotency_key for i in issues], total) == (["k:2"], 1)


def test_counts_and_email_issues_of_one_tenant(engine: Engine) -> None:
    failed = notification("k:1", status=NotificationStatus.failed, detail="550", at=T0)
    with session_scope(engine) as session:
        store_order_view(session, make_view("t-a", tenant="acme", notifications=[failed]))
        store_order_view(
            session, make_view("t-b", tenant="globex", notifications=[failed.model_copy()])
        )
        store_order_view(session, make_view("t-none", notifications=[failed.model_copy()]))
    with Session(engine) as session:
        counts = status_counts(session, "prepaid_service", tenant="acme")
        everyone = status_counts(session, "prepaid_service")
        issues, total = email_issues(session, tenant="acme")
        all_issues, all_total = email_issues(session)
    assert counts == {"confirmation": 1, "archived": 0}
    assert everyone == {"confirmation": 3, "archived": 0}
    assert ([i.order_id for i in issues], total) == (["t-a"], 1)
    assert ({i.order_id for i in all_issues}, all_total) == ({"t-a", "t-b", "t-none"}, 3)
