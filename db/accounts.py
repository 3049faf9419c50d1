"""Customer accounts: create one per email address (case-insensitively), find, read.

Written by the API's ``POST /accounts`` (accounts are reference data the orders point at,
not an order's read model); the functions flush, the caller's unit of work commits.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from db.tables import AccountRow
from flows.account_order.models import AccountSnapshot


class AccountExists(ValueError):
    """The email (or id) already belongs to an account."""

    def __init__(self, existing: AccountRow, by: str) -> None:
        super().__init__(
            f"an account with this {by} already exists: {existing.id} ({existing.name}, "
            f"{existing.email})"
        )
        self.existing = existing
        # Read now: the row expires when the failed unit of work rolls back.
        self.tenant = existing.tenant


def email_key(email: str) -> str:
    """The form an email is unique in: trimmed and lowercased."""
    return email.strip().lower()


def new_account_id() -> str:
    """A fresh account id (``acc-`` and 16 hex characters)."""
    return f"acc-{uuid.uuid4().hex[:16]}"


def find_by_email(session: Session, email: str) -> AccountRow | None:
    """The account of ``email`` (any case), or None."""
    key = email_key(email)
    return session.exec(select(AccountRow).where(col(AccountRow.email_key) == key)).first()


def get_account(session: Session, account_id: str) -> AccountRow | None:
    """The account with ``account_id``, or None."""
    return session.get(AccountRow, account_id)


def create_account(
    session: Session,
    *,
    name: str,
    email: str,
    created_at: datetime,
    account_id: str | None = None,
    created_by: str | None = None,
    tenant: str | None = None,
) -> AccountRow:
    """Store a new account; :class:`AccountExists` names the account that has the email or id."""
    existing = find_by_email(session, email)
    if existing is not None:
        raise AccountExists(existing, "email")
    if account_id is not None and (taken := get_account(session, account_id)) is not None:
        raise AccountExists(taken, "id")
    row = AccountRow(
        id=account_id or new_account_id(),
        name=name,
        email=email,
        email_key=email_key(email),
        created_at=created_at,
        created_by=created_by,
        tenant=tenant,
    )
    session.add(row)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        # Another request stored the same email or id between the lookup and the insert.
        session.expunge(row)
        raced = find_by_email(session, email) or get_account(session, row.id)
        if raced is None:
            raise
        raise AccountExists(raced, "email" if raced.email_key == row.email_key else "id") from None
    return row


def snapshot(row: AccountRow) -> AccountSnapshot:
    """The account as an order pins it."""
    return AccountSnapshot(id=row.id, name=row.name, email=row.email, created_at=row.created_at)
