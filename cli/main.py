"""The ``orderclock`` command line: the worker, the API, migrations and the operator commands
(the local stack, ``orderclock dev``, comes from ``devstack``)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from cli.bill_cycle import bill_cycle_app
from cli.demo import demo
from cli.emails import emails_app
from cli.keys import keys_app
from cli.orders import EXIT_UNREACHABLE, orders_app
from cli.support import (
    EXIT_CONFIG,
    ensure_sqlite_parent,
    exit_now,
    setting_problems,
    settings_without_secrets,
)
from config.settings import Settings
from devstack.command import dev

app = typer.Typer(
    name="orderclock",
    help="Deadline-driven order orchestration on Temporal.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(orders_app, name="orders", help="List, show and act on orders over the HTTP API.")
app.add_typer(keys_app, name="keys", help="Create, revoke and list the HTTP API's keys.")
app.add_typer(bill_cycle_app, name="bill-cycle", help="Run the account orders' bill cycle by hand.")
app.add_typer(emails_app, name="emails", help="Render every email template to files.")
app.command("demo")(demo)
# Development only: it says how to install what it needs where the dev group is missing.
app.command("dev")(dev)


def load_settings() -> Settings:
    """Settings from the environment, or a clear message and exit code 2."""
    try:
        return Settings()  # secrets come from the environment
    except ValidationError as error:
        for line in setting_problems(error):
            typer.echo(f"orderclock: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _exit_code(stop: SystemExit) -> int:
    """The code SystemExit would give, printing its message as Python would."""
    if stop.code is None:
        return 0
    if isinstance(stop.code, int):
        return stop.code
    print(stop.code, file=sys.stderr)
    return 1


async def _until_signalled(main: Coroutine[Any, Any, None]) -> None:
    """Run main; SIGINT or SIGTERM cancels it so it can shut down cleanly, and counts as success."""
    task = asyncio.ensure_future(main)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        # Our own cancellation (not the signal's) must propagate.
        if current is not None and current.cancelling():
            raise


@app.command()
def worker() -> None:
    """Run a worker against the Temporal server named by the settings."""
    settings = load_settings()
    # The process's entry point decides where logs go: stderr (JSON lines), which `dev`
    # sends to a file.
    from telemetry.logs import configure_json_logging

    configure_json_logging(logging.INFO)
    from worker.main import run_worker

    try:
        asyncio.run(_until_signalled(run_worker(settings)))
    except SystemExit as stop:
        exit_now(_exit_code(stop))
    exit_now(0)


@app.command()
def api(
    host: Annotated[
        str | None, typer.Option(help="Address to bind; default ORDERCLOCK_API_HOST.")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind; default ORDERCLOCK_API_PORT.")
    ] = None,
) -> None:
    """Serve the HTTP API with uvicorn."""
    settings = load_settings()
    import uvicorn

    from telemetry.logs import logging_config

    try:
        uvicorn.run(
            "api.app:create_app",
            factory=True,
            host=host or settings.api_host,
            port=port if port is not None else settings.api_port,
            # JSON lines for everything, uvicorn's own lines included; the access lines
            # (with the duration and order id) come from the app's MetricsMiddleware.
            log_config=logging_config(),
            access_log=False,
        )
    except SystemExit as stop:
        exit_now(_exit_code(stop))
    # The app holds a Temporal client, so the same finalization hazard as the worker's.
    exit_now(0)


@app.command()
def migrate(
    database_url: Annotated[
        str | None, typer.Option(help="Database to migrate; default ORDERCLOCK_DATABASE_URL.")
    ] = None,
) -> None:
    """Bring the order database's schema to the latest revision."""
    if database_url is None:
        database_url = settings_without_secrets().database_url
    from db.migrate import upgrade

    ensure_sqlite_parent(database_url)
    upgrade(database_url)
    typer.echo(f"database {database_url} is at the latest revision")


@app.command()
def reconcile(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Report drift only; write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Rebuild the order database from the workflows' state and report what drifted.

    Exit 0 when the database agrees with Temporal (nothing drifted, or all repaired), 1
    when drift is left (a dry run, or a view that could not be read or written), 3 when
    Temporal or the database cannot be reached.
    """
    import json

    from sqlalchemy.exc import SQLAlchemyError

    from cli.reconcile import reconcile as run_reconcile
    from cli.support import dev_payload_keys_path, with_dev_payload_keys
    from db.engine import make_engine
    from worker.main import TemporalUnreachable, connect

    settings = with_dev_payload_keys(settings_without_secrets())

    async def main() -> int:
        try:
            client = await connect(settings)
        except TemporalUnreachable as error:
            typer.echo(f"orderclock: {error}", err=True)
            return EXIT_UNREACHABLE
        engine = make_engine(settings.database_url)
        try:
            report = await run_reconcile(client, engine, dry_run=dry_run)
        except SQLAlchemyError as error:
            reason = str(error).splitlines()[0]
            typer.echo(f"orderclock: the order database is unreachable: {reason}", err=True)
            return EXIT_UNREACHABLE
        finally:
            engine.dispose()
        if as_json:
            typer.echo(json.dumps(report.as_json(), indent=2))
        else:
            typer.echo("\n".join(report.lines()))
        if report.undecryptable:
            typer.echo(
                "orderclock: some orders' payloads are encrypted with keys this command does "
                f"not have: set ORDERCLOCK_PAYLOAD_KEYS to the worker's keys (`orderclock dev` "
                f"keeps them in {dev_payload_keys_path()})",
                err=True,
            )
        return report.exit_code

    # A Temporal client was used: the same finalization hazard as the worker's.
    exit_now(asyncio.run(main()))


@app.command()
def setup(
    temporal_address: Annotated[
        str | None, typer.Option(help="Default ORDERCLOCK_TEMPORAL_ADDRESS or localhost:7233.")
    ] = None,
    namespace: Annotated[
        str | None, typer.Option(help="Default ORDERCLOCK_TEMPORAL_NAMESPACE or default.")
    ] = None,
) -> None:
    """Prepare a Temporal namespace (search attributes, the bill-cycle schedule); repeatable."""
    from cli.bill_cycle import ensure_schedule
    from cli.setup import SetupError, register_search_attributes
    from config.temporal import connect

    address = temporal_address or os.environ.get("ORDERCLOCK_TEMPORAL_ADDRESS", "localhost:7233")
    space = namespace or os.environ.get("ORDERCLOCK_TEMPORAL_NAMESPACE", "default")
    try:
        # No Stripe call is made here: placeholders keep Settings from asking for them.
        settings = Settings(
            stripe_api_key="unused",
            stripe_webhook_secret="unused",
            temporal_address=address,
            temporal_namespace=space,
        )
    except ValidationError as error:
        for line in setting_problems(error):
            typer.echo(f"orderclock: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None

    async def prepare() -> tuple[list[str], str]:
        added = await register_search_attributes(address, space)
        return added, await ensure_schedule(await connect(settings), settings)

    try:
        added, scheduled = asyncio.run(prepare())
    except SetupError as error:
        typer.echo(f"orderclock: {error}", err=True)
        exit_now(1)
    if added:
        typer.echo(f"registered in {space}: {', '.join(added)}")
    else:
        typer.echo(f"{space} already has every orderclock search attribute")
    typer.echo(scheduled)
    # A Temporal client was used: the same finalization hazard as the worker's (an abort
    # was seen at exit in about one run in three).
    exit_now(0)


@app.command("codec-server")
def codec_server(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8081,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    keys_env: Annotated[
        str, typer.Option(help="Environment variable holding the payload keys (k2:B64,k1:B64).")
    ] = "ORDERCLOCK_PAYLOAD_KEYS",
    web_origin: Annotated[
        list[str] | None, typer.Option(help="Web UI origin allowed by CORS (repeatable).")
    ] = None,
    token_env: Annotated[
        str, typer.Option(help="Environment variable holding the bearer token callers must send.")
    ] = "ORDERCLOCK_CODEC_TOKEN",
) -> None:
    """Serve the payload codec so the Temporal Web UI and CLI can show decrypted payloads."""
    import uvicorn

    from codec import EncryptionCodec, KeySpecError
    from codec.server import create_codec_app

    spec = os.environ.get(keys_env, "")
    if not spec.strip():
        typer.echo(
            f"orderclock: set {keys_env} to the payload keys (KEY_ID:BASE64KEY,...)", err=True
        )
        raise typer.Exit(EXIT_CONFIG)
    try:
        codec = EncryptionCodec.from_spec(spec)
    except KeySpecError as error:
        typer.echo(f"orderclock: {keys_env}: {error}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    token = os.environ.get(token_env) or None
    if token is None:
        # Decoding reveals personal data: never served to whoever reaches the port.
        typer.echo(f"orderclock: set {token_env} to the token callers must send", err=True)
        raise typer.Exit(EXIT_CONFIG)
    origins = web_origin or ["http://127.0.0.1:8233", "http://localhost:8233"]
    typer.echo(f"codec server on http://{host}:{port}/codec for {', '.join(origins)}")
    from telemetry.logs import logging_config

    uvicorn.run(
        create_codec_app(codec, allowed_origins=origins, token=token),
        host=host,
        port=port,
        log_config=logging_config(),
    )


if __name__ == "__main__":
    app()
