"""Datetimes go in with any offset and come back aware, in UTC, as the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from db.engine import session_scope
from db.queries import list_orders, transitions_of
from db.tables import OrderRow, PayoutRow
from db.writes import store_order_view, store_payout
from models.activities import RecordPayoutInput
from tests.db.factories import make_view, transition

IST = timezone(timedelta(hours=5, minutes=30))
PST = timezone(timedelta(hours=-8))


def test_aware_round_trip(engine: Engine) -> None:
    created = datetime(2030, 3, 10, 23, 45, 12, 345678, tzinfo=PST)
    step = datetime(2030, 3, 11, 13, 30, tzinfo=IST)
    view = make_view(
        created_at=created,
        updated_at=step,
        closed_at=step,
        history=[transition(0, "confirmation", action="create", at=step)],
    )
    with session_scope(engine) as session:
        assert store_order_view(session, view)
        store_payout(
            session,
            RecordPayoutInput(
                idempotency_key="k",
                order_id=view.order_id,
                provider_id="pro-1",
                amount=1,
                currency="EUR",
                due_at=created,
            ),
            paid_at=step,
        )

    with Session(engine) as session:
        row = session.get(OrderRow, view.order_id)
        assert row is not None
        payout = session.exec(select(PayoutRow)).one()
        values = [
            row.created_at,
            row.updated_at,
            row.closed_at,
            payout.due_at,
            payout.paid_at,
            transitions_of(session, view.order_id)[0].at,
        ]
        for value in values:
            assert value is not None and value.tzinfo is not None
            assert value.utcoffset() == timedelta(0)
        assert row.created_at == created  # the same instant, microseconds kept
        assert row.created_at.astimezone(PST).replace(tzinfo=None) == datetime(
            2030, 3, 10, 23, 45, 12, 345678
        )
        assert payout.paid_at == step
        assert row.next_deadline_at == created + timedelta(hours=24)
        summaries, _ = list_orders(session)
        assert summaries[0].created_at == created
        assert summaries[0].created_at.tzinfo is not None


def test_order_by_instant_not_by_wall_clock(engine: Engine) -> None:
    # 10:00 at +05:30 is 04:30 UTC: earlier than 09:00 UTC despite the larger wall clock.
    with session_scope(engine) as session:
        store_order_view(
            session, make_view("east", created_at=datetime(2030, 1, 1, 10, tzinfo=IST))
        )
        store_order_view(session, make_view("utc", created_at=datetime(2030, 1, 1, 9, tzinfo=UTC)))
    with Session(engine) as session:
        summaries, _ = list_orders(session)
    assert [s.order_id for s in summaries] == ["utc", "east"]


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    naive = datetime(2030, 1, 1)
    with (
        pytest.raises(sa.exc.StatementError, match="naive datetime"),
        session_scope(engine) as session,
    ):
        session.execute(sa.update(OrderRow).values(created_at=naive))
