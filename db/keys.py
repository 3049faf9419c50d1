"""API keys: created once in plaintext, stored only as a SHA-256 hash, revocable.

Keys are 32 random bytes, URL-safe base64, prefixed ``ock_`` so a leaked one is easy to
recognise in logs and secret scanners. A plain SHA-256 (no salt, no stretching) is
enough: the keys are random, not passwords, and the hash doubles as the lookup index.
The functions flush but do not commit; the caller's unit of work (``session_scope``) does.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from db.tables import ApiKeyRow

KEY_PREFIX = "ock_"
KEY_BYTES = 32
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


class KeyRole(StrEnum):
    """What a key's holder may do through the API."""

    service = "service"
    support = "support"
    admin = "admin"


class KeyProblem(ValueError):
    """A key operation that cannot be done (a taken or invalid name, an unknown role)."""


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, lowercase hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def new_key() -> str:
    """A fresh random key: ``ock_`` and 43 URL-safe characters."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def _checked(value: str, what: str) -> str:
    if not _NAME.match(value):
        raise KeyProblem(
            f"invalid {what} {value!r}: 1-64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )
    return value


def check_name(name: str) -> str:
    """The name if it is a valid key name (1-64 of letters, digits, ``_.@-``), else KeyProblem."""
    return _checked(name, "key name")


def check_tenant(tenant: str) -> str:
    """The tenant if it is a valid tenant name (the key names' alphabet), else KeyProblem."""
    return _checked(tenant, "tenant")


def find_by_name(session: Session, name: str) -> ApiKeyRow | None:
    """The key named ``name``, revoked or not."""
    return session.exec(select(ApiKeyRow).where(col(ApiKeyRow.name) == name)).first()


def create_key(session: Session, name: str, role: KeyRole | str, tenant: str | None = None) -> str:
    """Store a new key for ``name`` with ``role``; the plaintext key (it is not kept).

    A key with a ``tenant`` sees and acts on that tenant's orders only; without one it
    reaches every order its role allows.
    """
    check_name(name)
    if tenant is not None:
        check_tenant(tenant)
    try:
        key_role = KeyRole(role)
    except ValueError:
        roles = ", ".join(r.value for r in KeyRole)
        raise KeyProblem(f"unknown role {role!r}; roles are {roles}") from None
    if find_by_name(session, name) is not None:
        # Names stay taken after revocation, so the history's key names stay unambiguous.
        raise KeyProblem(f"a key named {name!r} already exists")
    key = new_key()
    session.add(
        ApiKeyRow(
            name=name,
            role=key_role.value,
            key_hash=hash_key(key),
            created_at=datetime.now(UTC),
            tenant=tenant,
        )
    )
    session.flush()
    return key


def revoke_key(session: Session, name: str) -> bool:
    """Revoke the key named ``name``; False if there is none or it was already revoked."""
    row = find_by_name(session, name)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = datetime.now(UTC)
    session.add(row)
    session.flush()
    return True


def delete_key(session: Session, name: str) -> bool:
    """Remove the key named ``name`` entirely (for development keys whose plaintext is lost)."""
    row = find_by_name(session, name)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def lookup(session: Session, key: str) -> ApiKeyRow | None:
    """The active (not revoked) key row for a plaintext key, or None."""
    if not key.startswith(KEY_PREFIX):
        return None
    return lookup_hash(session, hash_key(key))


def lookup_hash(session: Session, key_hash: str) -> ApiKeyRow | None:
    """The active key row whose hash is ``key_hash`` (a console session keeps only the hash)."""
    row = session.exec(select(ApiKeyRow).where(col(ApiKeyRow.key_hash) == key_hash)).first()
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[ApiKeyRow]:
    """Every key, oldest first (revoked ones included)."""
    return list(session.exec(select(ApiKeyRow).order_by(col(ApiKeyRow.id))).all())
