"""Salesforce activity of the shop flow: upsert the order's records by external id.

One attempt upserts, through Salesforce's REST API (simple-salesforce), the customer's
Account (external id: the customer's id), the order's Opportunity (external id: the order
id) and either a Quote (a repair waiting for the customer's approval, EVALs included) or an
Order (everything else), each linked to the ones before. Every write is an upsert on the
External ID field ``Settings.salesforce_external_id_field``, so a retried attempt updates
what an earlier one created and never creates a second opportunity.

Errors follow Temporal's retry rules: an unreachable or failing (5xx) Salesforce is
retryable (``SalesforceUnavailable``); a missing configuration, a refused session (401/403)
or a refused request (400/404, two records with one external id) will fail again the same
way and are not (``SalesforceNotConfigured``, ``SalesforceAuthenticationError``,
``SalesforceRejected``). The workflow paces attempts and flags the order either way.

simple-salesforce uses ``requests`` (blocking), so each attempt runs in a thread. The
session has ``trust_env`` off: ``REQUESTS_CA_BUNDLE`` and proxies from the environment
would otherwise override the configured CA bundle (``Settings.salesforce_ca_bundle``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

from models.activities import SYNC_SALESFORCE_ORDER, SalesforceSyncInput, SalesforceSyncResult
from models.money import minor_unit_exponent

if TYPE_CHECKING:
    from config.settings import Settings

SALESFORCE_NOT_CONFIGURED = "SalesforceNotConfigured"
SALESFORCE_AUTHENTICATION_ERROR = "SalesforceAuthenticationError"
SALESFORCE_REJECTED = "SalesforceRejected"
SALESFORCE_UNAVAILABLE = "SalesforceUnavailable"


class NotConfiguredError(Exception):
    """No Salesforce instance or credentials are configured."""


class _TimeoutSession(requests.Session):
    """A session that never reads the environment and always has a timeout."""

    def __init__(self, verify: str | bool, timeout: float) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self._timeout = timeout

    def request(self, method: Any, url: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


def client_factory(settings: Settings) -> Callable[[], Salesforce]:
    """How to connect to the configured Salesforce (raises NotConfiguredError when called
    without an instance and credentials)."""

    def connect() -> Salesforce:
        verify: str | bool = (
            str(settings.salesforce_ca_bundle) if settings.salesforce_ca_bundle else True
        )
        session = _TimeoutSession(verify, settings.salesforce_timeout_seconds)
        version = settings.salesforce_api_version
        if settings.salesforce_instance_url and settings.salesforce_session_token:
            return Salesforce(
                instance_url=settings.salesforce_instance_url,
                session_id=settings.salesforce_session_token.get_secret_value(),
                session=session,
                version=version,
            )
        password, token = settings.salesforce_password, settings.salesforce_security_token
        if settings.salesforce_username and password and token:
            # Real Salesforce only: a SOAP login at <domain>.salesforce.com.
            return Salesforce(
                username=settings.salesforce_username,
                password=password.get_secret_value(),
                security_token=token.get_secret_value(),
                domain=settings.salesforce_domain,
                session=session,
                version=version,
            )
        raise NotConfiguredError(
            "Salesforce is not configured: set ORDERCLOCK_SALESFORCE_INSTANCE_URL and "
            "ORDERCLOCK_SALESFORCE_SESSION_TOKEN (or _USERNAME, _PASSWORD, _SECURITY_TOKEN)"
        )

    return connect


def salesforce_failure(exc: Exception) -> ApplicationError:
    """The Temporal error for a failed Salesforce call."""
    if isinstance(exc, NotConfiguredError):
        kind, message = SALESFORCE_NOT_CONFIGURED, str(exc)
    elif isinstance(exc, SalesforceExpiredSession | SalesforceRefusedRequest):
        kind = SALESFORCE_AUTHENTICATION_ERROR
        message = f"Salesforce refused the session ({exc.status}): {_content(exc)}"
    elif isinstance(
        exc, SalesforceMalformedRequest | SalesforceResourceNotFound | SalesforceMoreThanOneRecord
    ):
        kind = SALESFORCE_REJECTED
        message = f"Salesforce refused the request ({exc.status}): {_content(exc)}"
    elif isinstance(exc, SalesforceError):
        kind = SALESFORCE_UNAVAILABLE if exc.status >= 500 else SALESFORCE_REJECTED
        message = f"Salesforce answered {exc.status}: {_content(exc)}"
    else:
        kind = SALESFORCE_UNAVAILABLE
        message = f"Salesforce is unreachable: {type(exc).__name__}: {exc}"
    return ApplicationError(message, type=kind, non_retryable=kind != SALESFORCE_UNAVAILABLE)


def _content(exc: SalesforceError) -> str:
    """Salesforce's own error message(s), short."""
    content: Any = exc.content
    if isinstance(content, list):
        parts = [
            f"{item.get('errorCode', '')}: {item.get('message', '')}"
            for item in content
            if isinstance(item, dict)
        ]
        if parts:
            return "; ".join(parts)[:300]
    return str(content)[:300]


def _major(amount: int, currency: str) -> float:
    """Minor units to the decimal amount Salesforce's currency fields hold."""
    return float(amount) / float(10 ** minor_unit_exponent(currency))


class SalesforceActivities:
    """The Salesforce call of the shop flow; the worker injects how to connect."""

    def __init__(self, connect: Callable[[], Salesforce], external_id_field: str) -> None:
        self._connect = connect
        self._field = external_id_field

    @classmethod
    def from_settings(cls, settings: Settings) -> SalesforceActivities:
        """The activities for the configured Salesforce (connected per attempt)."""
        return cls(client_factory(settings), settings.salesforce_external_id_field)

    @activity.defn(name=SYNC_SALESFORCE_ORDER)
    async def sync_order(self, input: SalesforceSyncInput) -> SalesforceSyncResult:
        """Upsert the order's Account, Opportunity and Quote or Order."""
        try:
            return await asyncio.to_thread(self._sync, input)
        except (NotConfiguredError, SalesforceError, requests.RequestException) as exc:
            raise salesforce_failure(exc) from None

    def _sync(self, input: SalesforceSyncInput) -> SalesforceSyncResult:
        sf = self._connect()
        items = "\n".join(
            f"{i.quantity} x {i.sku} {i.name} @ {_major(i.unit_amount, input.currency)}"
            for i in input.items
        )
        payment = f"purchase order {input.po_number}" if input.po_number else "card"
        description = f"orderclock {input.kind} order {input.order_id}, paid by {payment}\n"
        if input.replaces:
            description += f"replaces the EVAL order {input.replaces}\n"
        description += items
        day = input.placed_at.date().isoformat()
        account_id = self._upsert(
            sf, "Account", input.customer_id, {"Name": input.customer_name[:255]}
        )
        opportunity = {
            "Name": f"Online order {input.order_id}",
            "AccountId": account_id,
            "StageName": input.stage,
            "CloseDate": day,
            "Amount": _major(input.amount_total, input.currency),
            "Description": description,
        }
        opportunity_id = self._upsert(sf, "Opportunity", input.order_id, opportunity)
        if input.record_type == "Quote":
            record = {
                "Name": f"Quote for order {input.order_id}",
                "OpportunityId": opportunity_id,
                "Status": "Draft",
                "Email": input.customer_email,
                "Description": description,
            }
        else:
            record = {
                "AccountId": account_id,
                "OpportunityId": opportunity_id,
                "EffectiveDate": day,
                "Status": "Draft",
                "Description": description,
            }
            if input.po_number:
                record["PoNumber"] = input.po_number
        record_id = self._upsert(sf, input.record_type, input.order_id, record)
        return SalesforceSyncResult(
            account_id=account_id,
            opportunity_id=opportunity_id,
            record_type=input.record_type,
            record_id=record_id,
        )

    def _upsert(self, sf: Salesforce, sobject: str, external_id: str, data: dict[str, Any]) -> str:
        """Upsert one record by external id; its Salesforce Id."""
        handler = getattr(sf, sobject)
        key = f"{self._field}/{quote(external_id, safe='')}"
        response = handler.upsert(key, data, raw_response=True)
        body = response.json() if response.content else {}
        if isinstance(body, dict) and body.get("id"):
            return str(body["id"])
        # API versions before 46.0 answer an update with 204 and no body. (Not
        # get_by_custom_id: it quotes a space as "+", which the path keeps literally.)
        found = handler.get(key)
        return str(found["Id"])
