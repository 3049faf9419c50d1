"""Helpers the commands share: naming bad settings, preparing a SQLite file's folder,
reading payloads with the keys the worker has, where ``orderclock dev`` keeps its state,
ending the process."""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import typer
from pydantic import SecretStr, ValidationError
from sqlalchemy.engine import make_url

from codec.aesgcm import ENCODING
from config.settings import STATE_DIR, Settings

# Exit code for a configuration problem, the same as for a usage error.
EXIT_CONFIG = 2
ENV_PREFIX = "ORDERCLOCK_"
NESTED_DELIMITER = "__"


@dataclass(frozen=True)
class DevPaths:
    """Where ``orderclock dev`` (``devstack``) keeps its state; everything survives a restart.

    Here, not in ``devstack``, because the operator commands run beside the stack read two
    of its files: the development API key and the payload keys."""

    state_dir: Path

    @property
    def temporal_db(self) -> Path:
        """The Temporal dev server's SQLite file."""
        return self.state_dir / "temporal.db"

    @property
    def stripe_state(self) -> Path:
        """localstripe's pickled store."""
        return self.state_dir / "localstripe.pickle"

    @property
    def maildir(self) -> Path:
        """The Maildir the SMTP sink writes."""
        return self.state_dir / "mail"

    @property
    def orders_db(self) -> Path:
        """The order database (SQLite) unless ORDERCLOCK_DATABASE_URL says otherwise."""
        return self.state_dir / "orders.db"

    @property
    def payload_keys(self) -> Path:
        """The development payload key, made once so encrypted orders survive a restart."""
        return self.state_dir / "payload-keys"

    @property
    def dev_api_key(self) -> Path:
        """The development admin API key in plaintext (mode 600), reused across restarts."""
        return self.state_dir / "dev-api-key"

    @property
    def console_secret(self) -> Path:
        """The console's session-cookie secret (mode 600), kept across restarts."""
        return self.state_dir / "console-secret"

    @property
    def salesforce(self) -> Path:
        """The local Salesforce's certificates (``ca.pem`` is what clients trust) and records."""
        return self.state_dir / "salesforce"

    @property
    def logs(self) -> Path:
        """One log file per child process."""
        return self.state_dir / "logs"


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


def exit_now(code: int) -> NoReturn:
    """End the process with code, skipping interpreter finalization.

    The Temporal SDK's core threads can call into Python while the interpreter finalizes and
    abort it (SIGABRT or SIGSEGV; temporalio/sdk-python#300, seen here in several exits in a
    hundred), which would turn a clean stop into a crash. Callers have finished all work.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
