"""Fixtures of the workflow tests: each flow's harness on a time-skipping server of its own.

The harnesses themselves (and every helper the tests import) are in tests/support/: the
shared one in harness.py, each flow's in ``<flow>.py``. A fixture here starts a worker of
every flow with fake activities on the test's task queue and yields the flow's harness.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.account_order import AccountHarness
from tests.support.charge_box_installation import InstallationHarness, installation_harness
from tests.support.dealer_order import DealerHarness, dealer_harness
from tests.support.fakes import FakeActivities, FakeSalesforce
from tests.support.harness import flow_worker
from tests.support.prepaid_service import PrepaidHarness
from tests.support.shop_order import ShopHarness


@pytest.fixture
async def harness(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[PrepaidHarness]:
    """The prepaid service flow's harness."""
    fakes = FakeActivities()
    async with flow_worker(own_time_env, task_queue, fakes.all()):
        yield PrepaidHarness(own_time_env, task_queue, fakes)


@pytest.fixture
async def account(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[AccountHarness]:
    """The account order flow's harness."""
    fakes = FakeActivities()
    async with flow_worker(own_time_env, task_queue, fakes.all()):
        yield AccountHarness(own_time_env, task_queue, fakes)


@pytest.fixture
async def shop(own_time_env: WorkflowEnvironment, task_queue: str) -> AsyncIterator[ShopHarness]:
    """The shop flow's harness, with fakes and the fake Salesforce."""
    fakes, sf = FakeActivities(), FakeSalesforce()
    async with flow_worker(own_time_env, task_queue, [*fakes.all(), sf.sync_order]):
        yield ShopHarness(own_time_env, task_queue, fakes, sf)


@pytest.fixture
def dealer_fakes() -> FakeActivities:
    """The dealer harness's fakes (a module that needs other ones overrides this fixture)."""
    return FakeActivities()


@pytest.fixture
async def dealer(
    own_time_env: WorkflowEnvironment, task_queue: str, dealer_fakes: FakeActivities
) -> AsyncIterator[DealerHarness]:
    """The dealer order flow's harness, on ``dealer_fakes``."""
    async with dealer_harness(own_time_env, task_queue, dealer_fakes) as harness:
        yield harness


@pytest.fixture
async def installation(
    own_time_env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[InstallationHarness]:
    """The charge box installation flow's harness, with its switchable payment provider."""
    async with installation_harness(own_time_env, task_queue) as harness:
        yield harness
