"""``orderclock keys create/revoke/list``: the API's keys, straight in the order database.

They need only the database (``ORDERCLOCK_DATABASE_URL`` or ``--database-url``), migrate
it first, and never ask for the Stripe secrets. A key is printed once, on stdout alone (so
``KEY=$(orderclock keys create ...)`` works); only its hash is stored. Exit codes: 1 when
the operation cannot be done (a taken name, no such key), 2 for a usage or settings error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from pydantic import ValidationError

from cli.support import ensure_sqlite_parent, setting_problems
from config.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

EXIT_FAILED = 1
EXIT_CONFIG = 2

keys_app = typer.Typer(
    help="Create, revoke and list the HTTP API's keys (in the order database).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class RoleChoice(StrEnum):
    """The roles a key can have."""

    service = "service"
    support = "support"
    admin = "admin"


DatabaseOption = Annotated[
    str | None,
    typer.Option(help="The order database; default ORDERCLOCK_DATABASE_URL."),
]


def database_url_of(option: str | None) -> str:
    """The database to use: the option, else the settings' (no secrets needed)."""
    if option is not None:
        return option
    try:
        # Keys need no Stripe secrets: placeholders keep Settings from asking for them.
        settings = Settings(stripe_api_key="unused", stripe_webhook_secret="unused")
    except ValidationError as error:
        for line in setting_problems(error):
            typer.echo(f"orderclock: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    return settings.database_url


def _migrated(option: str | None) -> Engine:
    """An engine on the database, brought to the latest schema first."""
    from sqlalchemy.exc import SQLAlchemyError

    from db.engine import make_engine
    from db.migrate import upgrade

    database_url = database_url_of(option)
    ensure_sqlite_parent(database_url)
    try:
        upgrade(database_url)
    except SQLAlchemyError as error:
        _fail(f"cannot migrate the database {database_url}: {_first_line(error)}")
    return make_engine(database_url)


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def _fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    typer.echo(f"orderclock: {message}", err=True)
    raise typer.Exit(code)


def _when(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


NameOption = Annotated[str, typer.Option("--name", help="The key's name (alice, checkout).")]


@keys_app.command("create")
def create(
    role: Annotated[RoleChoice, typer.Option(help="What the key may do.")],
    name: NameOption,
    tenant: Annotated[
        str | None,
        typer.Option(
            help="The tenant the key belongs to: it then sees and acts on that tenant's "
            "orders and accounts only (default: none, every order)."
        ),
    ] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Create a key and print it once (only its hash is stored)."""
    from sqlalchemy.exc import IntegrityError

    from db.engine import session_scope
    from db.keys import KeyProblem, create_key

    engine = _migrated(database_url)
    try:
        with session_scope(engine) as session:
            key = create_key(session, name, role.value, tenant)
    except KeyProblem as problem:
        _fail(str(problem))
    except IntegrityError:
        # Another process created the same name between the check and the insert.
        _fail(f"a key named {name!r} already exists")
    finally:
        engine.dispose()
    typer.echo(key)
    of_tenant = f" of tenant {tenant!r}" if tenant is not None else ""
    typer.echo(
        f"created {role.value} key {name!r}{of_tenant}; it is shown only this once, keep it now",
        err=True,
    )


@keys_app.command("revoke")
def revoke(name: NameOption, database_url: DatabaseOption = None) -> None:
    """Revoke a key: the API refuses it from now on."""
    from db.engine import session_scope
    from db.keys import find_by_name, revoke_key

    engine = _migrated(database_url)
    try:
        with session_scope(engine) as session:
            done = revoke_key(session, name)
            exists = done or find_by_name(session, name) is not None
    finally:
        engine.dispose()
    if not done:
        _fail(f"key {name!r} is already revoked" if exists else f"no key named {name!r}")
    typer.echo(f"revoked key {name!r}")


@keys_app.command("list")
def list_(database_url: DatabaseOption = None) -> None:
    """Every key's name, role, tenant, creation and revocation time (never the key or its hash)."""
    from cli.orders import table
    from db.engine import session_scope
    from db.keys import list_keys

    engine = _migrated(database_url)
    try:
        with session_scope(engine) as session:
            rows = [
                [
                    row.name,
                    row.role,
                    row.tenant or "-",
                    _when(row.created_at),
                    _when(row.revoked_at),
                ]
                for row in list_keys(session)
            ]
    finally:
        engine.dispose()
    if rows:
        typer.echo(table(["NAME", "ROLE", "TENANT", "CREATED", "REVOKED"], rows))
    typer.echo(f"{len(rows)} key{'' if len(rows) == 1 else 's'}")
