"""The single source of configuration (environment prefix ``ORDERCLOCK_``).

Secrets have no defaults: ``orderclock dev`` supplies development values to the
processes it starts; anywhere else they must be set.
"""

from __future__ import annotations

import re
import string
from datetime import timedelta
from email.utils import formataddr, parseaddr
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field, SecretStr, create_model, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from flows.catalog import FLOWS
from models.policy import ActivityPolicy

STATE_DIR = Path(".orderclock")
_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")
# What a URL template of ``email_links`` may name: the order's id and its flow.
EMAIL_LINK_FIELDS = frozenset({"order_id", "flow"})
DEV_MAIL_DOMAIN = "orderclock.localhost"


def _check_links(links: dict[str, str]) -> dict[str, str]:
    for name, template in links.items():
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as error:
            raise ValueError(f"email link {name!r}: {error}") from None
        unknown = fields - EMAIL_LINK_FIELDS
        if unknown or not template.startswith(("https://", "http://")):
            raise ValueError(
                f"email link {name!r} must be an http(s) URL naming only "
                f"{{order_id}} and {{flow}}, not {template!r}"
            )
    return links


class EmailSender(BaseModel):
    """A flow's emails where they differ from the deployment's: the business, the sender
    and the links (``ORDERCLOCK_EMAIL_FLOWS__<flow>__BUSINESS_NAME`` and so on)."""

    business_name: str | None = None
    mail_from: str | None = None
    links: dict[str, str] = Field(default_factory=dict)

    @field_validator("links")
    @classmethod
    def _links(cls, links: dict[str, str]) -> dict[str, str]:
        return _check_links(links)


class EmailIdentity(BaseModel):
    """Who one flow's emails are from and where their links lead (resolved)."""

    business_name: str
    mail_from: str
    links: dict[str, str]


# Each flow's policy is a field of the settings, named by its catalog entry
# (``ORDERCLOCK_<FIELD>__...``, e.g. ``ORDERCLOCK_DEALER__CONFIRM_BUSINESS_DAYS``) and
# pinned into every order when it starts: one field per flow of the catalog.
if TYPE_CHECKING:
    _FlowPolicies = BaseSettings
else:
    _FlowPolicies = create_model(
        "_FlowPolicies",
        __base__=BaseSettings,
        **{
            entry.settings_field: (entry.policy, Field(default_factory=entry.policy))
            for entry in FLOWS.values()
        },
    )


class Settings(_FlowPolicies):
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
    # The secret callers of the codec endpoints must show (they decrypt personal data):
    # `Authorization: Bearer <token>` (the temporal CLI's --codec-auth), or as the path
    # segment /codec/<token>/decode (the Web UI, which can send no header). Unset, the
    # codec endpoints refuse every request.
    codec_token: SecretStr | None = None
    # Browser origins (the Temporal Web UI) allowed to call the API's /codec endpoints:
    # exact origins, never a wildcard (the codec answers with credentials allowed).
    codec_web_origins: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8233", "http://localhost:8233"]
    )
    # The largest request body of any API route, checked before the body is read (413).
    # Bounded so an action (one Temporal Update, encrypted) stays far below Temporal's
    # 2 MiB payload limit: an oversized Update fails the order's workflow task instead.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024, le=1024 * 1024)
    # The codec's bodies are Temporal payloads (each up to 2 MiB, base64 in JSON).
    codec_max_body_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=64 * 1024 * 1024)

    database_url: str = f"sqlite:///{STATE_DIR / 'orders.db'}"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 8025
    smtp_timeout_seconds: float = 10.0
    # The business the emails are from, and their sender (None: the business's name at
    # orders@orderclock.localhost, for development); a flow may differ (email_flows).
    business_name: str = "orderclock demo shop"
    mail_from: str | None = None
    # The customer's next step as links: URL templates by name (pay, confirm,
    # approve_quote, order, ...) with {order_id} and {flow}, e.g.
    # ORDERCLOCK_EMAIL_LINKS='{"pay": "https://shop.example/orders/{order_id}/pay"}'.
    # An email whose next step has no link here is sent without one.
    email_links: dict[str, str] = Field(default_factory=dict)
    email_flows: dict[str, EmailSender] = Field(default_factory=dict)
    # A directory whose files replace the packaged email templates of the same name
    # (<flow>/<event>.<role>.txt, and email.html, the HTML layout).
    email_templates_dir: Path | None = None

    stripe_api_key: SecretStr
    stripe_api_base: str | None = Field(
        default=None, description="Base URL of a Stripe-compatible server; None is Stripe."
    )
    stripe_webhook_secret: SecretStr

    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # Per client address, on endpoints that authenticate their own way (Stripe webhooks,
    # Salesforce callbacks: each has its own buckets).
    webhook_rate_per_minute: int = 600
    # How long the API trusts a key it has looked up before reading it again (0: read the
    # key on every request). A key revoked with `orderclock keys revoke` stops working
    # within this time in every API process; unknown keys are never remembered.
    api_key_cache_seconds: float = Field(default=5.0, ge=0, le=300)
    # Wrong API keys per client address and minute (bursts of as many), then 429 until the
    # address's bucket refills; keys the API process has seen valid pass regardless (0: off).
    api_wrong_keys_per_minute: int = Field(default=30, ge=0)

    # The support console (/console, api/console): the secret signing its session cookies
    # (unset: the console answers 503 saying so; `orderclock dev` makes one), whether the
    # cookie is Secure (off only for `orderclock dev`'s plain http), how long a session lasts
    # idle and at most, and how far ahead "needs attention" looks for deadlines.
    console_secret: SecretStr | None = Field(default=None, min_length=32)
    console_cookie_secure: bool = True
    console_idle_timeout: timedelta = Field(default=timedelta(minutes=30), gt=timedelta(0))
    console_session_lifetime: timedelta = Field(default=timedelta(hours=12), gt=timedelta(0))
    console_attention_horizon: timedelta = Field(default=timedelta(hours=4), gt=timedelta(0))
    # The Temporal Web UI, linked from the console's order page for admin keys (None: no link).
    temporal_web_ui_url: str | None = None

    # Prometheus endpoints of the worker: orderclock's own counters and the SDK's metrics.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 9464
    worker_sdk_metrics_port: int = 9465

    # Retries and attempt timeouts of the engine's activities, pinned into each new order.
    activities: ActivityPolicy = Field(default_factory=ActivityPolicy)

    # Account orders: the bill-cycle run, a Temporal Schedule (cron, UTC) that invoices
    # the completed account orders of the previous calendar month.
    bill_cycle_cron: str = "0 1 1 * *"
    bill_cycle_schedule_id: str = "orderclock-bill-cycle"

    # Shop orders (flow shop_order): Salesforce's REST API and its callbacks. Unset, shop
    # orders are never synced (each is flagged for manual entry after the patience) and
    # POST /callbacks/salesforce answers 503. Authenticate with an OAuth access token, or
    # with a user's password and security token (login through `salesforce_domain`).
    salesforce_instance_url: str | None = Field(
        default=None, description="https://<your domain>.my.salesforce.com"
    )
    salesforce_session_token: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_domain: str = "login"
    salesforce_api_version: str = "59.0"
    # The External ID field (on Account, Opportunity, Quote and Order) holding orderclock's
    # customer id (Account) or order id (the others): what every upsert matches on.
    salesforce_external_id_field: str = "Orderclock_Id__c"
    # A CA bundle for an instance with a private certificate (the local stand-in); None
    # trusts the system's CAs. REQUESTS_CA_BUNDLE is ignored on purpose (trust_env off).
    salesforce_ca_bundle: Path | None = None
    salesforce_timeout_seconds: float = 30.0
    # Salesforce sends it in the X-Orderclock-Secret header of every callback.
    salesforce_callback_secret: SecretStr | None = None

    @field_validator("codec_token")
    @classmethod
    def _path_safe_token(cls, token: SecretStr | None) -> SecretStr | None:
        # The Web UI sends it as a path segment of the codec's URL.
        if token is not None and not _TOKEN.fullmatch(token.get_secret_value()):
            raise ValueError("the codec token is 16 or more letters, digits, '-' and '_'")
        return token

    @field_validator("codec_web_origins")
    @classmethod
    def _exact_origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.fullmatch(origin):
                raise ValueError(
                    f"{origin!r} is not an origin (scheme://host[:port], no wildcard or path)"
                )
        return origins

    @field_validator(
        "salesforce_instance_url",
        "salesforce_session_token",
        "salesforce_username",
        "salesforce_password",
        "salesforce_security_token",
        "salesforce_callback_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # docker compose passes an unset optional variable as an empty string.
        return None if value == "" else value

    @field_validator("email_links")
    @classmethod
    def _email_links(cls, links: dict[str, str]) -> dict[str, str]:
        return _check_links(links)

    @field_validator("email_flows")
    @classmethod
    def _email_flows(cls, flows: dict[str, EmailSender]) -> dict[str, EmailSender]:
        unknown = sorted(set(flows) - set(FLOWS))
        if unknown:
            raise ValueError(f"unknown flows {unknown}; the flows are {', '.join(FLOWS)}")
        return flows

    @field_validator("mail_from")
    @classmethod
    def _mail_from(cls, value: str | None) -> str | None:
        if value is not None and not parseaddr(value)[1]:
            raise ValueError(f"no address in {value!r}")
        return value

    def email_identity(self, flow: str) -> EmailIdentity:
        """The business, sender and links of ``flow``'s emails (the flow's own over the
        deployment's)."""
        own = self.email_flows.get(flow) or EmailSender()
        name = own.business_name or self.business_name
        sender = own.mail_from or self.mail_from or formataddr((name, f"orders@{DEV_MAIL_DOMAIN}"))
        return EmailIdentity(
            business_name=name, mail_from=sender, links=self.email_links | own.links
        )

    def policy_for(self, flow: str) -> BaseModel:
        """This deployment's policy for ``flow``."""
        policy: BaseModel = getattr(self, FLOWS[flow].settings_field)
        return policy


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return Settings()  # secrets come from the environment
