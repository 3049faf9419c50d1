"""docs/flows.md is what ``flows.docs`` renders from the flows' declarations."""

from __future__ import annotations

from datetime import timedelta

from flows.catalog import FLOWS
from flows.docs import PAGE, REGENERATE, duration, main, render
from models.actions import RESEND_EMAIL


def test_docs_flows_md_is_generated_from_the_declarations() -> None:
    assert PAGE.exists(), f"docs/flows.md is missing; generate it: {REGENERATE}"
    assert PAGE.read_text() == render(), (
        f"docs/flows.md differs from the flows' declarations; regenerate it: {REGENERATE}"
    )


def test_every_flow_action_and_deadline_is_on_the_page() -> None:
    page = render()
    for entry in FLOWS.values():
        spec = entry.spec(None)
        assert f"(`{spec.name}`)" in page
        assert spec.mermaid() in page
        for action in spec.actions:
            assert action.name == RESEND_EMAIL or f"| `{action.name}` |" in page
        for deadline in spec.deadlines:
            assert (
                f"| `{deadline.name}` | `{deadline.state}` | {duration(deadline.default)} |" in page
            )


def test_check_answers_by_exit_status() -> None:
    assert main(["--check"]) == 0
    assert main(["--bogus"]) == 2


def test_durations_read_as_windows() -> None:
    assert duration(timedelta(0)) == "—"
    assert duration(timedelta(minutes=10)) == "10 min"
    assert duration(timedelta(hours=12)) == "12 h"
    assert duration(timedelta(days=1)) == "1 day"
    assert duration(timedelta(days=6, hours=12)) == "6 days 12 h"
