"""The peer a user would pick instead of a timer per order: a poller on the orders table.

The same storm as ``storm.py``: N prepaid orders in ``confirmation`` whose confirmation
deadline is one common moment T, rows of orderclock's own migrated order database (SQLite
file by default, ``--poller-database postgresql`` for PostgreSQL). One plain asyncio loop
scans the table every ``--poll-seconds`` for orders whose deadline has passed, oldest
first, ``POLL_BATCH`` at a time, and applies to each what orderclock does when that deadline
fires: in one transaction the order becomes ``cancelled`` with a transition by the system
and its two emails (customer, provider) recorded as pending with orderclock's idempotency
keys (an outbox); then both emails are sent (a stub that answers at once, as the storm's
worker has stub activities) and recorded as sent in a second transaction.

Figures: lateness, from T to the commit of each order's cancellation, p50/p99/max, and the
poller's CPU (this process: the loop, SQLAlchemy, SQLite; PostgreSQL's own server CPU is
not counted) per order, from T until all are cancelled. A poller's lateness is bounded
below by its interval (p50 about half of it on a quiet table); orderclock's timers fire
when due, and the storm shows what each fired timer then costs.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import sqlalchemy as sa
from psycopg import sql
from sqlalchemy.engine import Engine, make_url

from bench.common import Figure, percentile, repeat, say, workdir
from db.engine import make_engine
from db.migrate import upgrade
from db.tables import NOTIFICATIONS, ORDERS, TRANSITIONS
from flows.prepaid_service.declaration import prepaid_service_spec
from flows.prepaid_service.policy import PrepaidPolicy
from models.ids import idempotency_key

POLL_BATCH = 200
MARGIN_SECONDS = 5.0
SEED_BATCH = 1000
REASON = "not confirmed within the confirmation window"
SPEC = prepaid_service_spec(PrepaidPolicy())


@dataclass
class PollerRun:
    """One run's outcome: each order's lateness (s) and the CPU seconds used after T."""

    lateness: list[float]
    cpu_seconds: float
    scans: int


def _row(i: int, prefix: str, due: datetime, now: datetime) -> dict[str, object]:
    order_id = f"{prefix}-{i}"
    return {
        "order_id": order_id,
        "flow": "prepaid_service",
        "status": "confirmation",
        "stage": SPEC.state("confirmation").label,
        "customer_id": f"cus-{i % 1000}",
        "customer_name": "Cleo Customer",
        "customer_email": "cleo@example.com",
        "provider_id": "pro-bench",
        "currency": "EUR",
        "amount_total": 8500,
        "amount_paid": 0,
        "amount_refunded": 0,
        "next_deadline_name": "confirmation",
        "next_deadline_at": due,
        "needs_attention": False,
        "archived": False,
        "created_at": now,
        "updated_at": now,
        "version": 1,
        "view_json": {"order_id": order_id, "status": "confirmation"},
    }


def seed(engine: Engine, n: int, due: datetime) -> None:
    """N orders in ``confirmation``, all due at ``due``."""
    prefix = secrets.token_hex(4)
    now = datetime.now(UTC)
    with engine.begin() as db:
        for start in range(0, n, SEED_BATCH):
            rows = [_row(i, prefix, due, now) for i in range(start, min(n, start + SEED_BATCH))]
            db.execute(ORDERS.insert(), rows)


def _due_orders(engine: Engine, now: datetime) -> list[tuple[str, datetime, int]]:
    query = (
        sa.select(ORDERS.c.order_id, ORDERS.c.next_deadline_at, ORDERS.c.version)
        .where(ORDERS.c.status == "confirmation", ORDERS.c.next_deadline_at <= now)
        .order_by(ORDERS.c.next_deadline_at)
        .limit(POLL_BATCH)
    )
    with engine.connect() as db:
        return [(row[0], row[1], row[2]) for row in db.execute(query)]


def _cancel(engine: Engine, order_id: str, version: int) -> bool:
    """Cancel one order and queue its mail in one transaction; False if it moved meanwhile."""
    now = datetime.now(UTC)
    with engine.begin() as db:
        moved = db.execute(
            ORDERS.update()
            .where(ORDERS.c.order_id == order_id, ORDERS.c.version == version)
            .values(
                status="cancelled",
                stage=SPEC.state("cancelled").label,
                next_deadline_name=None,
                next_deadline_at=None,
                updated_at=now,
                closed_at=now,
                version=version + 1,
            )
        ).rowcount
        if not moved:
            return False
        db.execute(
            TRANSITIONS.insert().values(
                order_id=order_id,
                seq=2,
                at=now,
                actor_role="system",
                action="cancel",
                from_status="confirmation",
                to_status="cancelled",
                reason=REASON,
            )
        )
        db.execute(
            NOTIFICATIONS.insert(),
            [
                {
                    "order_id": order_id,
                    "idempotency_key": idempotency_key(order_id, f"email-cancelled-{role}", 2),
                    "event": "cancelled",
                    "recipient_role": role,
                    "to_address": f"{role}@example.com",
                    "status": "pending",
                    "at": now,
                }
                for role in ("customer", "provider")
            ],
        )
    return True


async def _send_stub(order_id: str, role: str) -> None:
    """The mail sender: answers at once, like the storm worker's stub activity."""


def _mark_sent(engine: Engine, order_id: str) -> None:
    with engine.begin() as db:
        db.execute(
            NOTIFICATIONS.update()
            .where(NOTIFICATIONS.c.order_id == order_id, NOTIFICATIONS.c.event == "cancelled")
            .values(status="sent", at=datetime.now(UTC))
        )


async def poll(engine: Engine, n: int, due: datetime, every: float, within: float) -> PollerRun:
    """Scan every ``every`` seconds until ``n`` orders are cancelled; lateness and CPU.

    CPU is counted from the first scan at or after T (the idle scans before it are not).
    """
    lateness: list[float] = []
    scans = 0
    cpu_began: float | None = None
    give_up = time.monotonic() + within
    # Ticking starts now, not at T: a poller's phase is unrelated to its orders' deadlines.
    tick = time.monotonic()
    while len(lateness) < n:
        if time.monotonic() > give_up:
            raise RuntimeError(f"only {len(lateness)} of {n} cancelled within {within:.0f} s")
        if cpu_began is None and datetime.now(UTC) >= due:
            cpu_began = time.process_time()
        scans += 1
        # Drain what is due now, a batch per query, then wait for the next tick.
        while batch := await asyncio.to_thread(_due_orders, engine, datetime.now(UTC)):
            for order_id, due_at, version in batch:
                if not await asyncio.to_thread(_cancel, engine, order_id, version):
                    continue
                lateness.append((datetime.now(UTC) - due_at).total_seconds())
                await asyncio.gather(*(_send_stub(order_id, r) for r in ("customer", "provider")))
                await asyncio.to_thread(_mark_sent, engine, order_id)
        tick += every
        await asyncio.sleep(max(0.0, tick - time.monotonic()))
    assert cpu_began is not None
    return PollerRun(lateness, time.process_time() - cpu_began, scans)


@contextmanager
def _database(kind: str, postgres_url: str) -> Iterator[str]:
    """A migrated order database of the run's own: a SQLite file or a PostgreSQL database."""
    if kind == "sqlite":
        with workdir("bench-poller-") as directory:
            url = f"sqlite:///{directory / 'orders.db'}"
            upgrade(url)
            yield url
        return
    name = f"orderclock_bench_{secrets.token_hex(4)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = make_url(postgres_url).set(database=name).render_as_string(hide_password=False)
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


async def run(
    n: int, runs: int, poll_seconds: float, database: str, postgres_url: str
) -> list[Figure]:
    """The poller's lateness and CPU over ``runs`` runs (its values in the baseline column)."""
    unit = f"s from the deadline, {n} due at once, polled every {poll_seconds:g} s, {database}"
    figures = {
        name: Figure(f"Poller (peer) lateness {name}", unit) for name in ("p50", "p99", "max")
    }
    notes: list[str] = []

    async def one_run(i: int) -> None:
        with _database(database, postgres_url) as url:
            engine = make_engine(url)
            try:
                began = time.monotonic()
                due = datetime.now(UTC) + timedelta(seconds=MARGIN_SECONDS)
                await asyncio.to_thread(seed, engine, n, due)
                if datetime.now(UTC) > due:
                    due = datetime.now(UTC) + timedelta(seconds=1)
                    await asyncio.to_thread(_move_all, engine, due)
                say(f"poller: {n} orders seeded in {time.monotonic() - began:.1f} s")
                result = await poll(engine, n, due, poll_seconds, 600 + n / 5)
            finally:
                engine.dispose()
        values = {
            "p50": percentile(result.lateness, 50),
            "p99": percentile(result.lateness, 99),
            "max": max(result.lateness),
        }
        for name, value in values.items():
            figures[name].baseline.append(value)
        per_order = result.cpu_seconds / n * 1000
        notes.append(
            f"run {i + 1}: CPU {result.cpu_seconds:.1f} s ({per_order:.1f} ms per order) "
            f"in {result.scans} scans"
        )
        say(
            f"poller: lateness p50 {values['p50']:.2f} s, p99 {values['p99']:.2f} s, "
            f"max {values['max']:.2f} s; {notes[-1]}"
        )

    await repeat(runs, "poller", one_run)
    figures["max"].note = "; ".join(notes)
    return list(figures.values())


def _move_all(engine: Engine, due: datetime) -> None:
    """Seeding outlasted the margin: every order due at a new common moment instead."""
    with engine.begin() as db:
        db.execute(ORDERS.update().values(next_deadline_at=due))
