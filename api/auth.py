"""Who may do what through the API: a key's role decides which actor roles it may use.

A ``service`` (a backend of the business) creates orders and forwards its customers' and
providers' actions; ``support`` acts as support; ``admin`` may do everything. Every valid
key may read. The workflow still checks the actor itself (the right customer, the right
state): these rules only decide which actors a key may speak for, before Temporal sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.errors import Forbidden
from db.keys import KeyRole
from models.orders import Actor, Role


@dataclass(frozen=True)
class Caller:
    """The holder of the API key a request came with."""

    name: str
    role: KeyRole


# The actor roles each key role may act as (``system`` is orderclock's own, for no key).
ACTING_ROLES: dict[KeyRole, frozenset[Role]] = {
    KeyRole.service: frozenset({Role.customer, Role.provider}),
    KeyRole.support: frozenset({Role.support}),
    KeyRole.admin: frozenset({Role.customer, Role.provider, Role.support}),
}
EVERY_KEY = frozenset(KeyRole)
CREATING_ROLES = frozenset({KeyRole.service, KeyRole.admin})
# OpenAPI extension on each keyed route: the key roles it admits (tests check it holds).
KEY_ROLES_EXTENSION = "x-key-roles"


def require_key_role(caller: Caller, roles: frozenset[KeyRole], what: str) -> None:
    """Raise 403 unless the caller's key has one of ``roles`` (``what`` names the deed)."""
    if caller.role not in roles:
        may = " or ".join(role for role in KeyRole if role in roles)
        raise Forbidden(
            f"key {caller.name!r} has role {caller.role}, which may not {what} ({may} keys may)"
        )


def require_create(caller: Caller) -> None:
    """Raise 403 unless the caller's key may create orders."""
    require_key_role(caller, CREATING_ROLES, "create orders")


def key_roles_doc(roles: frozenset[KeyRole]) -> dict[str, object]:
    """The route's ``openapi_extra`` declaring the key roles it admits."""
    return {KEY_ROLES_EXTENSION: [role.value for role in KeyRole if role in roles]}


def require_actor(caller: Caller, actor: Actor) -> None:
    """Raise 403 unless the caller's key may act as ``actor``'s role."""
    if actor.role == Role.system:
        return  # refused for every key by the gateway, with its own message
    allowed = ACTING_ROLES[caller.role]
    if actor.role not in allowed:
        may = ", ".join(sorted(allowed))
        raise Forbidden(
            f"key {caller.name!r} has role {caller.role}, which may not act as "
            f"{actor.role} (it may act as: {may})"
        )


def stamped(actor: Actor, caller: Caller) -> Actor:
    """``actor`` carrying the caller's key name, whatever the body said."""
    return actor.model_copy(update={"key_name": caller.name})
