"""Helpers the commands share: naming bad settings, preparing a SQLite file's folder."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from config.settings import Settings

# Exit code for a configuration problem, the same as for a usage error.
EXIT_CONFIG = 2
ENV_PREFIX = "ORDERCLOCK_"
NESTED_DELIMITER = "__"


def setting_problems(error: ValidationError) -> list[str]:
    """One line per problem in Settings, naming the environment variable to set or fix."""
    lines: list[str] = []
    for problem in error.errors():
        name = ENV_PREFIX + NESTED_DELIMITER.join(str(part).upper() for part in problem["loc"])
        if problem["type"] == "missing":
            lines.append(f"missing setting {name}")
        else:
            lines.append(f"invalid setting {name}: {problem['msg']}")
    return lines


def ensure_sqlite_parent(database_url: str) -> None:
    """Create the folder of a SQLite database file; SQLite will not."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)


def settings_without_secrets() -> Settings:
    """Settings for a command that makes no Stripe call (placeholders stand in for its
    secrets), or a message naming each bad setting and exit 2."""
    try:
        return Settings(stripe_api_key="unused", stripe_webhook_secret="unused")
    except ValidationError as error:
        for line in setting_problems(error):
            typer.echo(f"orderclock: {line}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
