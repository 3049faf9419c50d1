"""Helpers the commands share: naming bad settings, preparing a SQLite file's folder,
reading payloads with the keys the worker has."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from codec.aesgcm import ENCODING
from config.settings import STATE_DIR, Settings

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


PAYLOAD_KEYS_ENV = ENV_PREFIX + "PAYLOAD_KEYS"
# A Temporal on this machine may be `orderclock dev`'s; another's keys are never guessed.
LOCAL_TEMPORAL_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]"})


def dev_payload_keys_path(state_dir: Path | None = None) -> Path:
    """Where ``orderclock dev`` keeps the payload keys it hands its worker."""
    from cli.dev import DevPaths

    return DevPaths(state_dir or STATE_DIR).payload_keys


def with_dev_payload_keys(settings: Settings, state_dir: Path | None = None) -> Settings:
    """``settings`` with the worker's payload keys when none are set, as ``orderclock dev`` does.

    ``orderclock dev`` gives its worker ORDERCLOCK_PAYLOAD_KEYS from the state directory
    unless the variable is set; a command run beside it (bill-cycle, reconcile) must read
    the orders' payloads with the same keys, or it can decode none of them.
    """
    if settings.payload_keys is not None:
        return settings
    host = settings.temporal_address.rsplit(":", 1)[0]
    if host not in LOCAL_TEMPORAL_HOSTS:
        return settings
    try:
        spec = dev_payload_keys_path(state_dir).read_text().strip()
    except OSError:
        return settings
    if not spec:
        return settings
    return settings.model_copy(update={"payload_keys": SecretStr(spec)})


def encrypted_payloads_hint(error: BaseException) -> str | None:
    """What to do when ``error`` (or its cause) is a payload this process cannot decrypt."""
    seen: BaseException | None = error
    while seen is not None:
        if ENCODING.decode() in str(seen):
            return (
                "the payloads are encrypted and this command has no key for them: set "
                f"{PAYLOAD_KEYS_ENV} to the worker's keys (`orderclock dev` keeps them in "
                f"{dev_payload_keys_path()})"
            )
        seen = seen.__cause__ or seen.__context__
    return None
