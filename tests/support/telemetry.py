"""Helpers of the telemetry tests: free ports and Prometheus samples."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures.ports import reserve_port


def free_port() -> int:
    """A TCP port on 127.0.0.1 reserved for this test process (tests/fixtures/ports.py)."""
    return reserve_port()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a Prometheus text page, by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(text: str, name: str, **labels: str) -> float:
    """One sample's value (0 when the page does not have it)."""
    return samples(text).get((name, frozenset(labels.items())), 0.0)
