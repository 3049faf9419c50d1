"""Where ``orderclock dev`` listens: one loopback host, one port per part of the stack.

The ports' defaults here are also the ``orderclock dev`` options' defaults
(``devstack.command``), so this module stays free of anything heavier than the standard
library: every ``orderclock`` command loads it.
"""

from __future__ import annotations

from dataclasses import dataclass

HOST = "127.0.0.1"


@dataclass(frozen=True)
class DevPorts:
    """The ports the local stack listens on, all on 127.0.0.1."""

    temporal: int = 7233
    ui: int = 8233
    api: int = 8000
    stripe: int = 8420
    smtp: int = 8025
    salesforce: int = 8430

    def labelled(self) -> list[tuple[int, str, str]]:
        """(port, service, flag) for each port, for messages that name both."""
        return [
            (self.temporal, "the Temporal gRPC service", "--temporal-port"),
            (self.ui, "the Temporal Web UI", "--ui-port"),
            (self.api, "the orderclock API", "--api-port"),
            (self.stripe, "the local Stripe server", "--stripe-port"),
            (self.smtp, "the SMTP sink", "--smtp-port"),
            (self.salesforce, "the local Salesforce", "--salesforce-port"),
        ]
