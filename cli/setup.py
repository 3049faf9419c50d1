"""``orderclock setup``: prepare a Temporal namespace for orderclock (a real cluster).

The dev server gets its search attributes on its command line; a real cluster (self-hosted
or Temporal Cloud through its own tooling) needs them registered once per namespace.
"""

from __future__ import annotations

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client

from models import search


class SetupError(Exception):
    """The namespace cannot be prepared as asked."""


async def register_search_attributes(address: str, namespace: str) -> list[str]:
    """Register the attributes that are missing; the names added (none if all exist).

    An attribute that exists with another type is an error: changing it would break the
    Web UI's filters for orders already running.
    """
    try:
        client = await Client.connect(address, namespace=namespace)
    except Exception as exc:  # the SDK raises a plain RuntimeError when unreachable
        raise SetupError(f"cannot reach Temporal at {address}: {exc}") from None
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    have = dict(existing.custom_attributes)
    missing: dict[str, IndexedValueType.ValueType] = {}
    for key in search.ALL:
        wanted = IndexedValueType.ValueType(int(key.indexed_value_type))
        if key.name not in have:
            missing[key.name] = wanted
        elif have[key.name] != wanted:
            actual = IndexedValueType.Name(have[key.name])
            raise SetupError(
                f"search attribute {key.name} exists in {namespace} as {actual}, "
                f"orderclock needs {IndexedValueType.Name(wanted)}"
            )
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)
