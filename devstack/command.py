"""The development-only command, ``orderclock dev``.

The command line registers it everywhere, so ``orderclock --help`` is the same in every
environment; it runs only where the ``dev`` dependency group is installed. Elsewhere (the
production image: ``uv sync --no-dev``) it says so in one line and exits
:data:`EXIT_NO_DEV_PACKAGES`, instead of failing in a child process with a traceback.

This module is loaded by every ``orderclock`` command: it imports nothing heavier than
typer, and the stack itself only when ``dev`` runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Annotated

import typer

from config.settings import STATE_DIR
from devstack.ports import DevPorts

DEV_PACKAGES = ("localstripe", "aiosmtpd", "trustme")
"""What the stand-ins import: the ``dev`` dependency group has them, the runtime does not
(``tests/deploy/test_production_imports.py`` checks pyproject.toml against this)."""
EXIT_NO_DEV_PACKAGES = 2
_DEFAULT = DevPorts()


def missing_dev_packages() -> list[str]:
    """The packages of :data:`DEV_PACKAGES` this environment cannot import."""
    return [name for name in DEV_PACKAGES if not _importable(name)]


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name outright
        return False


def require_dev_packages(command: str) -> None:
    """Exit with one line naming the missing packages, unless the dev group is installed."""
    missing = missing_dev_packages()
    if missing:
        typer.echo(
            f"orderclock: `orderclock {command}` is for development and needs the dev "
            f"dependency group ({', '.join(missing)} missing): install it with `make dev` "
            "or `uv sync --group dev`",
            err=True,
        )
        raise typer.Exit(EXIT_NO_DEV_PACKAGES)


def dev(
    state_dir: Annotated[
        Path, typer.Option(help="Where the stack keeps its state: databases, mail, logs.")
    ] = STATE_DIR,
    temporal_port: Annotated[int, typer.Option(help="Temporal gRPC port.")] = _DEFAULT.temporal,
    ui_port: Annotated[int, typer.Option(help="Temporal Web UI port.")] = _DEFAULT.ui,
    api_port: Annotated[int, typer.Option(help="orderclock API port.")] = _DEFAULT.api,
    stripe_port: Annotated[int, typer.Option(help="Local Stripe server port.")] = _DEFAULT.stripe,
    smtp_port: Annotated[int, typer.Option(help="SMTP sink port.")] = _DEFAULT.smtp,
    salesforce_port: Annotated[
        int, typer.Option(help="Local Salesforce (HTTPS) port.")
    ] = _DEFAULT.salesforce,
) -> None:
    """Start the local stack (Temporal, Stripe, Salesforce, SMTP, worker, API) until Ctrl-C."""
    require_dev_packages("dev")
    from cli.support import exit_now
    from devstack.stack import run_dev

    ports = DevPorts(
        temporal=temporal_port,
        ui=ui_port,
        api=api_port,
        stripe=stripe_port,
        smtp=smtp_port,
        salesforce=salesforce_port,
    )
    exit_now(run_dev(state_dir, ports))
