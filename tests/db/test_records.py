"""The record activities: upserts, idempotency, stale views, payouts, on both backends."""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.records import ORDER_DATABASE_ERROR, PAYOUT_CONFLICT, OrderRecordActivities
from db.engine import make_engine
from db.queries import get_order_view, transitions_of
from db.tables import NotificationRow, OrderRow, PaymentRow, PayoutRow
from models.activities import RecordOrderInput, RecordPayoutInput, RecordPayoutResult
from models.common import Actor, Role
from models.orders import NotificationStatus, OrderView, PaymentOutcome
from tests.db.factories import T0, make_view, notification, payment, transition


def _count(engine: Engine, table: str, order_id: str) -> int:
    with engine.connect() as conn:
        query = sa.text(f"SELECT count(*) FROM {table} WHERE order_id = :oid")
        return int(conn.execute(query, {"oid": order_id}).scalar_one())


async def _record(acts: OrderRecordActivities, view: OrderView) -> None:
    await ActivityEnvironment().run(acts.record_order, RecordOrderInput(view=view))


def _paid_view(version: int = 2) -> OrderView:
    return make_view(
        status="execution",
        stage="Execution in progress",
        amount_paid=12_000,
        version=version,
        updated_at=T0 + timedelta(hours=2),
        history=[
            transition(0, "confirmation", action="create"),
            transition(1, "payment", from_status="confirmation", action="confirm"),
            transition(
                2,
                "execution",
                from_status="payment",
                action="pay",
                actor=Actor(role=Role.customer, id="cus-1"),
            ),
        ],
        notifications=[notification("ord-1:email:1"), notification("ord-1:email:2")],
        payments=[payment("ord-1:charge:1")],
    )


async def test_record_order_writes_row_view_and_trail(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    view = _paid_view()
    await _record(acts, view)

    with Session(engine) as session:
        row = session.get(OrderRow, "ord-1")
        assert row is not None
        assert (row.status, row.stage, row.version) == ("execution", "Execution in progress", 2)
        assert (row.customer_id, row.customer_email, row.provider_id) == (
            "cus-1",
            "ada@example.com",
            "pro-1",
        )
        assert (row.amount_total, row.amount_paid, row.amount_refunded) == (12_000, 12_000, 0)
        assert row.next_deadline_name == "confirmation"
        assert row.next_deadline_at == T0 + timedelta(hours=24)
        assert get_order_view(session, "ord-1") == view
        assert transitions_of(session, "ord-1") == view.history
        pay = session.exec(select(PaymentRow)).one()
        assert (pay.idempotency_key, pay.kind, pay.amount, pay.outcome) == (
            "ord-1:charge:1",
            "charge",
            12_000,
            "succeeded",
        )
        assert pay.provider_id == "pi_ord-1_charge_1"
    assert _count(engine, "notifications", "ord-1") == 2


async def test_record_order_twice_changes_nothing(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    view = _paid_view()
    await _record(acts, view)
    await _record(acts, view)
    assert [_count(engine, t, "ord-1") for t in ("orders", "transitions", "notifications")] == [
        1,
        3,
        2,
    ]
    assert _count(engine, "payments", "ord-1") == 1
    with Session(engine) as session:
        assert get_order_view(session, "ord-1") == view


async def test_older_version_after_newer_is_ignored(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    newer = _paid_view(version=5)
    older = make_view(
        version=4,
        status="payment",
        history=[*newer.history[:2]],
        notifications=[notification("ord-1:email:1", status=NotificationStatus.failed)],
    )
    await _record(acts, newer)
    await _record(acts, older)
    with Session(engine) as session:
        row = session.get(OrderRow, "ord-1")
        assert row is not None
        assert (row.status, row.version) == ("execution", 5)
        assert get_order_view(session, "ord-1") == newer
        first = session.exec(
            select(NotificationRow).where(NotificationRow.idempotency_key == "ord-1:email:1")
        ).one()
        assert first.status == "sent"  # the stale view's "failed" did not leak in
    assert _count(engine, "transitions", "ord-1") == 3


async def test_newer_version_appends_transitions_and_updates_records(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    first = make_view(
        version=1,
        notifications=[notification("ord-1:email:1", status=NotificationStatus.failed)],
        payments=[payment("ord-1:charge:1", outcome=PaymentOutcome.requires_action)],
    )
    await _record(acts, first)
    assert _count(engine, "transitions", "ord-1") == 1

    second = _paid_view(version=2)
    await _record(acts, second)
    with Session(engine) as session:
        assert [t.seq for t in transitions_of(session, "ord-1")] == [0, 1, 2]
        assert transitions_of(session, "ord-1")[2].actor == Actor(role=Role.customer, id="cus-1")
        statuses = session.exec(
            select(NotificationRow.idempotency_key, NotificationRow.status).order_by(
                col(NotificationRow.idempotency_key)
            )
        ).all()
        assert [tuple(s) for s in statuses] == [
            ("ord-1:email:1", "sent"),
            ("ord-1:email:2", "sent"),
        ]
        outcome = session.exec(select(PaymentRow.outcome)).one()
        assert outcome == "succeeded"
        row = session.get(OrderRow, "ord-1")
        assert row is not None and row.status == "execution"


async def test_same_version_replay_rewrites_state(engine: Engine) -> None:
    # Equal versions are written again (last write wins): a replayed attempt is harmless.
    acts = OrderRecordActivities(engine)
    await _record(acts, make_view(version=3))
    await _record(acts, make_view(version=3, needs_attention=True, attention_reason="stuck"))
    with Session(engine) as session:
        row = session.get(OrderRow, "ord-1")
        assert row is not None
        assert (row.needs_attention, row.attention_reason) == (True, "stuck")


async def test_concurrent_records_in_any_order_keep_the_newest(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    views = [
        make_view(
            version=v,
            status=f"step{v}",
            history=[transition(s, f"step{s}") for s in range(v + 1)],
        )
        for v in range(8)
    ]
    random.Random(7).shuffle(views)
    await asyncio.gather(*(_record(acts, v) for v in views))
    with Session(engine) as session:
        row = session.get(OrderRow, "ord-1")
        assert row is not None
        assert (row.version, row.status) == (7, "step7")
        assert [t.seq for t in transitions_of(session, "ord-1")] == list(range(8))


async def test_database_errors_fail_the_attempt_for_a_retry(tmp_path: Path) -> None:
    # An unmigrated database: the attempt fails, retryable, naming the driver's error in one
    # line, without the statement or its parameters (the view's names and emails).
    engine = make_engine(f"sqlite:///{tmp_path}/empty.db")
    try:
        with pytest.raises(ApplicationError) as failed:
            await _record(OrderRecordActivities(engine), make_view())
    finally:
        engine.dispose()
    assert failed.value.type == ORDER_DATABASE_ERROR
    assert not failed.value.non_retryable
    # (The first table the write touches names itself: the transitions, read first to log
    # each new step once, or the orders.)
    assert failed.value.message.startswith("order database: OperationalError: no such table: ")
    assert failed.value.message.split(": ")[-1] in ("orders", "transitions")
    assert failed.value.__cause__ is None


def _payout(key: str = "ord-1:payout:1", order_id: str = "ord-1") -> RecordPayoutInput:
    return RecordPayoutInput(
        idempotency_key=key,
        order_id=order_id,
        provider_id="pro-1",
        amount=10_800,
        currency="EUR",
        due_at=T0 + timedelta(days=14),
    )


async def _record_payout(
    acts: OrderRecordActivities, payout: RecordPayoutInput
) -> RecordPayoutResult:
    return await ActivityEnvironment().run(acts.record_payout, payout)


async def test_record_payout_is_idempotent(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    await _record(acts, make_view(status="closed"))
    first = await _record_payout(acts, _payout())
    await asyncio.sleep(0.01)
    again = await _record_payout(acts, _payout())
    assert again == first
    assert first.reference.startswith("po_")
    assert first.paid_at.utcoffset() == timedelta(0)
    assert _count(engine, "payouts", "ord-1") == 1
    with Session(engine) as session:
        row = session.exec(select(PayoutRow)).one()
        assert (row.amount, row.currency, row.provider_id) == (10_800, "EUR", "pro-1")
        assert row.due_at == T0 + timedelta(days=14)
        assert (row.reference, row.paid_at) == (first.reference, first.paid_at)


async def test_second_payout_key_for_an_order_is_refused(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    await _record(acts, make_view(status="closed"))
    await _record(acts, make_view("ord-2", status="closed"))
    await _record_payout(acts, _payout())
    with pytest.raises(ApplicationError) as other_key:
        await _record_payout(acts, _payout(key="ord-1:payout:2"))
    assert other_key.value.type == PAYOUT_CONFLICT and other_key.value.non_retryable
    with pytest.raises(ApplicationError) as other_order:
        await _record_payout(acts, _payout(order_id="ord-2"))
    assert other_order.value.type == PAYOUT_CONFLICT
    assert _count(engine, "payouts", "ord-1") == 1
    assert _count(engine, "payouts", "ord-2") == 0


async def test_payout_of_an_unrecorded_order_fails_to_retry(engine: Engine) -> None:
    # The foreign key holds the payout back until record_order has written the order.
    with pytest.raises(ApplicationError) as failed:
        await _record_payout(OrderRecordActivities(engine), _payout(order_id="ord-9"))
    assert failed.value.type == ORDER_DATABASE_ERROR
    assert not failed.value.non_retryable
    assert "foreign key" in failed.value.message.lower()
    assert "[SQL:" not in failed.value.message


async def test_key_repeated_within_one_view_keeps_its_last_state(engine: Engine) -> None:
    acts = OrderRecordActivities(engine)
    view = make_view(
        notifications=[
            notification("ord-1:email:1", status=NotificationStatus.failed),
            notification("ord-1:email:1", status=NotificationStatus.sent),
        ],
        payments=[
            payment("ord-1:charge:1", outcome=PaymentOutcome.requires_action),
            payment("ord-1:charge:1", outcome=PaymentOutcome.succeeded),
        ],
    )
    await _record(acts, view)
    with Session(engine) as session:
        assert session.exec(select(NotificationRow.status)).all() == ["sent"]
        assert session.exec(select(PaymentRow.outcome)).all() == ["succeeded"]
