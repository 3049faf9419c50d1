"""Search attributes every order carries, for the Temporal Web UI and list filters."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

ORDER_STATUS = SearchAttributeKey.for_keyword("OrderStatus")
ORDER_FLOW = SearchAttributeKey.for_keyword("OrderFlow")
ORDER_CUSTOMER = SearchAttributeKey.for_keyword("OrderCustomer")
ORDER_DEADLINE = SearchAttributeKey.for_datetime("OrderDeadline")
ORDER_NEEDS_ATTENTION = SearchAttributeKey.for_bool("OrderNeedsAttention")

ALL = (ORDER_STATUS, ORDER_FLOW, ORDER_CUSTOMER, ORDER_DEADLINE, ORDER_NEEDS_ATTENTION)


def cli_flags() -> list[str]:
    """``--search-attribute Name=Type`` flags for ``temporal server start-dev``."""
    names = {1: "Text", 2: "Keyword", 3: "Int", 4: "Double", 5: "Bool", 6: "Datetime"}
    flags: list[str] = []
    for key in ALL:
        flags += ["--search-attribute", f"{key.name}={names[int(key.indexed_value_type)]}"]
    return flags
