"""A flow's declaration follows its policy: change a window in one place, the policy, and
the deadline, its label in the state diagram and ``GET /flows`` follow.

Every timedelta of every flow's default policy is doubled and every whole number (business
days) raised by one; each deadline whose window the default diagram names must then be
named with its new window, and its old one must be gone.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from flows.catalog import FLOWS


def changed(policy: BaseModel) -> BaseModel:
    """``policy`` with every window doubled and every count of days raised by one."""
    update: dict[str, object] = {}
    for name, value in policy:
        if isinstance(value, timedelta) and value > timedelta(0):
            update[name] = value * 2
        elif isinstance(value, int) and not isinstance(value, bool):
            update[name] = value + 1
    return type(policy).model_validate({**policy.model_dump(), **update})


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_windows_and_their_labels_follow_the_policy(flow: str) -> None:
    entry = FLOWS[flow]
    before = entry.spec(None)
    after = entry.spec(changed(entry.policy()))
    named = [d for d in before.deadlines if d.default > timedelta(0)]
    assert named, f"{flow} declares no deadline with a window"
    for deadline in named:
        new = after.deadline(deadline.name)
        assert new is not None
        assert new.window != deadline.window, f"{flow}.{deadline.name} ignores its policy"
        if f" {deadline.window}" in before.mermaid():
            others = {d.window for d in after.deadlines}
            assert f" {new.window}" in after.mermaid(), (flow, deadline.name)
            if deadline.window not in others:
                assert f" {deadline.window}" not in after.mermaid(), (flow, deadline.name)


def test_the_dealers_review_window_reads_in_business_days() -> None:
    dealer = FLOWS["dealer_order"]
    one = dealer.spec(None).deadline("confirmation")
    two = dealer.spec(dealer.policy(confirm_business_days=2)).deadline("confirmation")
    assert one is not None and two is not None
    assert (one.window, two.window) == ("1 business day", "2 business days")
    assert (
        "accept / confirm / 2 business days"
        in dealer.spec(dealer.policy(confirm_business_days=2)).mermaid()
    )
