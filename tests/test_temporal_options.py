"""Connection options for Temporal Cloud and TLS clusters, from the settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from config.settings import Settings
from config.temporal import client_options


def settings(**values: object) -> Settings:
    return Settings(stripe_api_key="sk_test_x", stripe_webhook_secret="whsec_x", **values)  # type: ignore[arg-type]


def test_dev_server_has_no_tls_and_no_key() -> None:
    options = client_options(settings())
    assert options["tls"] is False
    assert options["api_key"] is None
    assert options["namespace"] == "default"


def test_api_key_implies_tls() -> None:
    options = client_options(settings(temporal_api_key="key-123", temporal_namespace="ns.acct"))
    assert options["tls"] is True
    assert options["api_key"] == "key-123"
    assert options["namespace"] == "ns.acct"


def test_mtls_reads_the_certificate_files(tmp_path: Path) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_bytes(b"CERT")
    key.write_bytes(b"KEY")
    options = client_options(
        settings(temporal_tls_client_cert_path=cert, temporal_tls_client_key_path=key)
    )
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key) == (b"CERT", b"KEY")


def test_half_an_mtls_pair_is_refused(tmp_path: Path) -> None:
    cert = tmp_path / "client.pem"
    cert.write_bytes(b"CERT")
    with pytest.raises(ValueError, match="go together"):
        client_options(settings(temporal_tls_client_cert_path=cert))
