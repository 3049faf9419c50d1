"""Every flow has a test sample, and every sample fits its flow."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.catalog import FLOWS, flow_spec
from tests.support.samples import FLOW_SAMPLES
from workflows.registry import WORKFLOWS


def test_every_flow_has_a_sample_and_a_workflow() -> None:
    assert set(FLOW_SAMPLES) == set(FLOWS) == set(WORKFLOWS)


@pytest.mark.parametrize("flow", sorted(FLOW_SAMPLES))
def test_sample_payloads_fit_every_action(flow: str) -> None:
    sample = FLOW_SAMPLES[flow]
    spec = flow_spec(flow)
    assert spec is not None
    request = sample.make_request(datetime.now(UTC))
    assert getattr(request, "flow") == flow  # noqa: B009
    for action in spec.actions:
        action.payload.model_validate(sample.payloads[action.name])
