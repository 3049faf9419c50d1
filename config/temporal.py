"""How every orderclock process connects to Temporal (dev server, cluster or Cloud)."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig

from codec import data_converter_for
from config.settings import Settings


def tls_config(settings: Settings) -> TLSConfig | bool:
    """mTLS from the certificate paths, plain TLS for an API key, else no TLS."""
    cert, key = settings.temporal_tls_client_cert_path, settings.temporal_tls_client_key_path
    if (cert is None) != (key is None):
        raise ValueError(
            "ORDERCLOCK_TEMPORAL_TLS_CLIENT_CERT_PATH and _KEY_PATH go together: set both"
        )
    ca = settings.temporal_tls_server_ca_path
    if cert or ca or settings.temporal_tls_server_name:
        return TLSConfig(
            client_cert=cert.read_bytes() if cert else None,
            client_private_key=key.read_bytes() if key else None,
            server_root_ca_cert=ca.read_bytes() if ca else None,
            domain=settings.temporal_tls_server_name,
        )
    return settings.temporal_tls or settings.temporal_api_key is not None


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``Client.connect`` from the settings."""
    api_key, keys = settings.temporal_api_key, settings.payload_keys
    return {
        "namespace": settings.temporal_namespace,
        # Every process on the namespace must share the keys, or it cannot read the orders.
        "data_converter": data_converter_for(keys.get_secret_value() if keys else None),
        "tls": tls_config(settings),
        "api_key": api_key.get_secret_value() if api_key else None,
    }


async def connect(settings: Settings, **overrides: Any) -> Client:
    """A client for ``settings.temporal_address`` with orderclock's converter and auth."""
    return await Client.connect(
        settings.temporal_address, **{**client_options(settings), **overrides}
    )
