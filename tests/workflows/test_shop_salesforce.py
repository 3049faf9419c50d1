"""The shop order with the real Salesforce activity against the HTTPS stand-in and its outage."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from activities.salesforce import SalesforceActivities
from tests.fixtures.salesforce import SalesforceServer
from tests.support.fakes import FakeActivities, FakeSalesforce
from tests.support.harness import flow_worker
from tests.support.shop_order import PO, ShopHarness

MIN = timedelta(minutes=1)


async def test_outage_flags_the_order_and_recovery_syncs_it_once(
    own_time_env: WorkflowEnvironment, task_queue: str, salesforce: SalesforceServer
) -> None:
    fakes = FakeActivities()
    real = SalesforceActivities.from_settings(salesforce.settings())
    async with flow_worker(own_time_env, task_queue, [*fakes.all(), real.sync_order]):
        shop = ShopHarness(own_time_env, task_queue, fakes, FakeSalesforce())
        salesforce.standin.outage = True
        order = await shop.start(payment=PO)
        await shop.settled(order, "order_placed")
        await shop.sleep(11 * MIN)
        view = await shop.view(order)
        assert view.status == "order_placed" and view.needs_attention
        assert view.shop is not None
        assert view.shop.salesforce.last_error == (
            "SalesforceUnavailable: Salesforce answered 503: SERVER_UNAVAILABLE: "
            "the stand-in is in an outage"
        )
        assert view.attention_reason is not None
        assert "SERVER_UNAVAILABLE" in view.attention_reason
        # Attempts at 0, 1, 3 and 7 minutes, each tried three times inside the activity.
        assert view.shop.salesforce.attempts == 4
        upserts = [r for r in salesforce.standin.requests if r[0] == "PATCH"]
        assert len(upserts) == 12

        salesforce.standin.outage = False
        await shop.sleep(5 * MIN)
        view = await shop.settled(order, "awaiting_payment")
        assert not view.needs_attention
        [opportunity] = salesforce.standin.records("Opportunity")
        assert opportunity["Orderclock_Id__c"] == view.order_id
        assert view.shop is not None
        assert view.shop.salesforce.opportunity_id == opportunity["Id"]
        [order_record] = salesforce.standin.records("Order")
        assert order_record["PoNumber"] == "PO-4711"
