"""Who may do what through the API: a key's role decides which actor roles it may use.

A ``service`` (a backend of the business) creates orders and forwards its customers' and
providers' actions; ``support`` acts as support; ``admin`` may do everything. Every valid
key may read. The workflow still checks the actor itself (the right customer, the right
state): these rules only decide which actors a key may speak for, before Temporal sees it.

A key may also carry a tenant: then it sees and acts on its tenant's orders and accounts
only, and any other is "not found" to it, so that their existence does not leak
(:func:`may_see` is that rule, for every surface that shows orders). A key without a tenant
reaches every order, as before tenants existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from api.errors import Forbidden, NotFound
from db.keys import KeyRole
from models.common import Actor, PartyActor, Role, SupportActor
from models.orders import OrderView

View = TypeVar("View", bound=OrderView)


@dataclass(frozen=True)
class Caller:
    """The holder of the API key a request came with."""

    name: str
    role: KeyRole
    # The tenant the key belongs to; None: every tenant's orders.
    tenant: str | None = None


# The actor roles each key role may act as (``system`` is orderclock's own, for no key).
ACTING_ROLES: dict[KeyRole, frozenset[Role]] = {
    KeyRole.service: frozenset({Role.customer, Role.provider}),
    KeyRole.support: frozenset({Role.support}),
    KeyRole.admin: frozenset({Role.customer, Role.provider, Role.support}),
}
EVERY_KEY = frozenset(KeyRole)
CREATING_ROLES = frozenset({KeyRole.service, KeyRole.admin})
# Who may read a payment's client secret: the backend that hands it to its customer's
# browser to finish 3-D Secure. Support and admin keys have no use for it.
CLIENT_SECRET_ROLES = frozenset({KeyRole.service})
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


def require_actor(caller: Caller, actor: PartyActor | SupportActor) -> None:
    """Raise 403 unless the caller's key may act as ``actor``'s role."""
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


def may_see(caller: Caller, tenant: str | None) -> bool:
    """Whether the caller's key may see, and act on, an order or account of ``tenant``.

    The one tenant rule: a key without a tenant sees everything; a key with one sees only
    what was created with a key of the same tenant (not what was created without one).
    """
    return caller.tenant is None or caller.tenant == tenant


def require_sees(caller: Caller, tenant: str | None, order_id: str) -> None:
    """404, worded as for an order that does not exist, unless the caller may see the order."""
    if not may_see(caller, tenant):
        raise NotFound(f"order {order_id} not found")


def shown_to(caller: Caller, view: View) -> View:
    """The order's view as the caller's key may read it (the client secret for services only)."""
    if caller.role in CLIENT_SECRET_ROLES or view.payment_client_secret is None:
        return view
    return view.model_copy(update={"payment_client_secret": None})
