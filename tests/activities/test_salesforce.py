"""The Salesforce activity against the HTTPS stand-in: upserts by external id, errors, TLS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr
from simple_salesforce.api import Salesforce
from temporalio.exceptions import ApplicationError

from activities.salesforce import SalesforceActivities
from flows.shop_order.models import ShopItem
from models.activities import SalesforceSyncInput
from tests.fixtures.salesforce import TOKEN, SalesforceServer

FIELD = "Orderclock_Id__c"


def sync_input(order_id: str = "A-1", **changes: object) -> SalesforceSyncInput:
    values: dict[str, object] = {
        "order_id": order_id,
        "kind": "product",
        "customer_id": "cus 7/x",  # needs quoting in the URL
        "customer_name": "Sam Shopper",
        "customer_email": "sam@example.com",
        "items": [ShopItem(sku="WID-1", name="Widget", quantity=2, unit_amount=2450)],
        "currency": "EUR",
        "amount_total": 4900,
        "placed_at": datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        "payment_method": "purchase_order",
        "po_number": "PO-4711",
        "record_type": "Order",
        "stage": "Closed Won",
    }
    values.update(changes)
    return SalesforceSyncInput.model_validate(values)


def client(server: SalesforceServer) -> Salesforce:
    """The test's own simple-salesforce client of the stand-in."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.certs.ca_bundle)
    return Salesforce(instance_url=server.url, session_id=TOKEN, session=session)


async def test_sync_upserts_by_external_id_and_never_duplicates(
    salesforce: SalesforceServer,
) -> None:
    activities = SalesforceActivities.from_settings(salesforce.settings())
    first = await activities.sync_order(sync_input())
    again = await activities.sync_order(sync_input())
    assert again == first
    assert first.opportunity_id.startswith("006") and first.record_id.startswith("801")

    sf = client(salesforce)
    found = sf.query(
        f"SELECT Id, StageName, Amount, AccountId FROM Opportunity WHERE {FIELD} = 'A-1'"
    )
    assert found["totalSize"] == 1
    [opportunity] = found["records"]
    assert (opportunity["Id"], opportunity["StageName"], opportunity["Amount"]) == (
        first.opportunity_id,
        "Closed Won",
        49.0,
    )
    assert opportunity["AccountId"] == first.account_id
    [account] = salesforce.standin.records("Account")
    assert (account[FIELD], account["Name"]) == ("cus 7/x", "Sam Shopper")
    [order] = salesforce.standin.records("Order")
    assert (order["PoNumber"], order["EffectiveDate"], order["OpportunityId"]) == (
        "PO-4711",
        "2026-12-01",
        first.opportunity_id,
    )
    assert salesforce.standin.records("Quote") == []


async def test_repair_gets_a_quote_and_existing_records_are_updated(
    salesforce: SalesforceServer,
) -> None:
    sf = client(salesforce)
    # A CSR already typed the opportunity in, with orderclock's external id.
    made = sf.Opportunity.create({"Name": "typed by hand", FIELD: "R-1", "StageName": "x"})
    activities = SalesforceActivities.from_settings(salesforce.settings())
    result = await activities.sync_order(
        sync_input("R-1", kind="repair", record_type="Quote", stage="Proposal/Price Quote")
    )
    assert result.opportunity_id == made["id"]
    [opportunity] = salesforce.standin.records("Opportunity")
    assert (opportunity["Name"], opportunity["StageName"]) == (
        "Online order R-1",
        "Proposal/Price Quote",
    )
    [quote] = salesforce.standin.records("Quote")
    assert (quote["Id"], quote["OpportunityId"]) == (result.record_id, made["id"])


async def test_an_update_answered_204_is_looked_up(salesforce: SalesforceServer) -> None:
    activities = SalesforceActivities.from_settings(salesforce.settings())
    first = await activities.sync_order(sync_input())
    salesforce.standin.legacy_upserts = True
    assert await activities.sync_order(sync_input()) == first


async def test_outage_and_unreachable_server_are_retryable(salesforce: SalesforceServer) -> None:
    activities = SalesforceActivities.from_settings(salesforce.settings())
    salesforce.standin.outage = True
    with pytest.raises(ApplicationError) as outage:
        await activities.sync_order(sync_input())
    assert (outage.value.type, outage.value.non_retryable) == ("SalesforceUnavailable", False)
    assert outage.value.message == (
        "Salesforce answered 503: SERVER_UNAVAILABLE: the stand-in is in an outage"
    )
    salesforce.standin.outage = False
    salesforce.standin.stop()
    with pytest.raises(ApplicationError) as down:
        await activities.sync_order(sync_input())
    assert (down.value.type, down.value.non_retryable) == ("SalesforceUnavailable", False)
    assert down.value.message.startswith("Salesforce is unreachable: ConnectionError")


async def test_refused_session_and_missing_configuration_are_not_retryable(
    salesforce: SalesforceServer,
) -> None:
    wrong = salesforce.settings(salesforce_session_token=SecretStr("expired"))
    with pytest.raises(ApplicationError) as refused:
        await SalesforceActivities.from_settings(wrong).sync_order(sync_input())
    assert (refused.value.type, refused.value.non_retryable) == (
        "SalesforceAuthenticationError",
        True,
    )
    assert "INVALID_SESSION_ID" in refused.value.message
    unset = salesforce.settings(salesforce_instance_url=None)
    with pytest.raises(ApplicationError) as missing:
        await SalesforceActivities.from_settings(unset).sync_order(sync_input())
    assert (missing.value.type, missing.value.non_retryable) == ("SalesforceNotConfigured", True)
    assert "ORDERCLOCK_SALESFORCE_INSTANCE_URL" in missing.value.message
    assert salesforce.standin.records("Opportunity") == []


async def test_the_configured_ca_bundle_is_used_not_the_environments(
    salesforce: SalesforceServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # REQUESTS_CA_BUNDLE would win over session.verify if the session read the environment.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(salesforce.certs.ca_bundle))
    untrusted = salesforce.settings(salesforce_ca_bundle=None)
    with pytest.raises(ApplicationError) as failed:
        await SalesforceActivities.from_settings(untrusted).sync_order(sync_input())
    assert "CERTIFICATE_VERIFY_FAILED" in failed.value.message
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "missing.pem"))
    result = await SalesforceActivities.from_settings(salesforce.settings()).sync_order(
        sync_input()
    )
    assert result.record_type == "Order"
