"""docs/flows.md is what ``flows.docs`` renders from the flows' declarations."""

from __future__ import annotations

from datetime import timedelta

from flows.catalog import FLOWS
from flows.docs import PAGE, REGENERATE, main, render, window
from flows.spec import business_days, span
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
            assert f"| `{deadline.name}` | `{deadline.state}` | {window(deadline)} |" in page


def test_check_answers_by_exit_status() -> None:
    assert main(["--check"]) == 0
    assert main(["--bogus"]) == 2


def test_windows_read_as_the_diagram_names_them() -> None:
    assert span(timedelta(minutes=10)) == "10 min"
    assert span(timedelta(hours=12)) == "12 h"
    assert span(timedelta(days=1)) == "24 h"
    assert span(timedelta(days=5)) == "5 days"
    assert span(timedelta(days=6, hours=12)) == "156 h"
    assert business_days(1) == "1 business day"
    assert business_days(2) == "2 business days"
    prepaid = FLOWS["prepaid_service"].spec(None)
    appointment, payment = prepaid.deadline("appointment_start"), prepaid.deadline("payment")
    assert appointment is not None and payment is not None
    assert (window(appointment), window(payment)) == ("—", "12 h")
