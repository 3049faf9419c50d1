"""The single source of configuration (environment prefix ``ORDERCLOCK_``).

Secrets have no defaults: ``orderclock dev`` supplies development values to the
processes it starts; anywhere else they must be set.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from models.account import AccountPolicy
from models.catalog import FLOWS
from models.policy import PrepaidPolicy

STATE_DIR = Path(".orderclock")


class Settings(BaseSettings):
    """Everything a worker, the API or the CLI reads from its environment."""

    model_config = SettingsConfigDict(
        env_prefix="ORDERCLOCK_", env_nested_delimiter="__", extra="ignore"
    )

    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    task_queue: str = "orderclock"
    # Temporal Cloud or a TLS cluster: an API key, or mTLS with a client certificate.
    temporal_api_key: SecretStr | None = None
    temporal_tls: bool = False
    temporal_tls_client_cert_path: Path | None = None
    temporal_tls_client_key_path: Path | None = None
    temporal_tls_server_ca_path: Path | None = None
    temporal_tls_server_name: str | None = None
    # PII in payloads: "k2:BASE64KEY,k1:BASE64KEY", the first key encrypts (codec/aesgcm.py).
    payload_keys: SecretStr | None = None
    # Bearer token operators send to the codec server (the Web UI's "pass access token").
    codec_token: SecretStr | None = None
    # Browser origins (the Temporal Web UI) allowed to call the API's /codec endpoints.
    codec_web_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"]
    )

    database_url: str = f"sqlite:///{STATE_DIR / 'orders.db'}"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_timeout_seconds: float = 10.0
    mail_from: str = "orderclock <orders@orderclock.localhost>"

    stripe_api_key: SecretStr
    stripe_api_base: str | None = Field(
        default=None, description="Base URL of a Stripe-compatible server; None is Stripe."
    )
    stripe_webhook_secret: SecretStr

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Per client address, on endpoints that authenticate by signature (Stripe webhooks).
    webhook_rate_per_minute: int = 600

    # Prometheus endpoints of the worker: orderclock's own counters and the SDK's metrics.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    worker_sdk_metrics_port: int = 9465

    # Each flow's deadline policy (models/catalog.py names the field of each flow); pinned
    # into every order when it starts.
    prepaid: PrepaidPolicy = Field(default_factory=PrepaidPolicy)
    account: AccountPolicy = Field(default_factory=AccountPolicy)

    # Account orders: the bill-cycle run, a Temporal Schedule (cron, UTC) that invoices
    # the completed account orders of the previous calendar month.
    bill_cycle_cron: str = "0 1 1 * *"
    bill_cycle_schedule_id: str = "orderclock-bill-cycle"

    def policy_for(self, flow: str) -> BaseModel:
        """This deployment's policy for ``flow``."""
        policy: BaseModel = getattr(self, FLOWS[flow].settings_field)
        return policy


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()  # secrets come from the environment
