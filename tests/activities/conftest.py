"""Fixtures of the activity tests (their helpers are in the test modules that own them)."""

from __future__ import annotations

import uuid

import pytest
from temporalio.testing import ActivityEnvironment


@pytest.fixture
def env() -> ActivityEnvironment:
    """An activity environment to run one activity in."""
    return ActivityEnvironment()


@pytest.fixture
def order_id() -> str:
    """A fresh order id (payment tests key their idempotency on it)."""
    return f"ord-{uuid.uuid4().hex[:12]}"
