"""A backend team's client, generated from the live ``/openapi.json``, drives every flow.

``openapi-python-client`` generates the package ``orderclock_client`` from the document
the served API answers (once per session, with ``--fail-on-warning``);
``tests/api/client_script.py`` uses it as a backend service would: one order of every flow
from creation to its end, a 409, a 404 and a 422. The script must pass ``mypy --strict``
against the generated package, and run against the API served by uvicorn.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from flows.catalog import FLOW_NAMES

API_KEY = "ock_generated-client-admin-key"
PACKAGE = "orderclock_client"
SCRIPT = Path(__file__).with_name("client_script.py")
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Generated:
    """The generated package's parent directory and what the generator printed."""

    path: Path
    output: str


# The name the API is served under (the ``base_url`` fixture, tests/api/conftest.py).
SERVED_NAME = "generated-client"


@pytest.fixture(scope="module")
def generated(base_url: str, tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """The client generated from the served document, as the README says to."""
    root = tmp_path_factory.mktemp("generated-client")
    document = root / "openapi.json"
    document.write_bytes(httpx.get(f"{base_url}/openapi.json").raise_for_status().content)
    # No formatter hooks: the test judges the generator's own output.
    config = root / "config.yaml"
    config.write_text("post_hooks: []\n")
    done = subprocess.run(
        [
            BIN / "openapi-python-client",
            "generate",
            "--path",
            document,
            "--output-path",
            root / PACKAGE,
            "--meta",
            "none",
            "--config",
            config,
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return Generated(root, output)


def test_generation_is_clean(generated: Generated) -> None:
    # Warnings are what dropped POST /orders before (duplicate schema titles).
    assert "Warning" not in generated.output and "Unable" not in generated.output, generated.output
    # Nor are there models the generator had to name by position (``DealerDetailsReviewStepType0``).
    models = [p.stem for p in (generated.path / PACKAGE / "models").glob("*.py")]
    assert not [model for model in models if re.search(r"_type_\d+$", model)], models
    operations = {p.stem for p in (generated.path / PACKAGE / "api").rglob("*.py")}
    assert {"create_order", "act_on_order", "get_order", "list_orders"} <= operations


def test_script_passes_mypy_strict(generated: Generated) -> None:
    checked = subprocess.run(
        [BIN / "mypy", "--strict", "--no-incremental", "--config-file", os.devnull, SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=generated.path,
        env={**os.environ, "MYPYPATH": str(generated.path)},
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_script_drives_every_flow_to_its_end(generated: Generated, base_url: str) -> None:
    ran = subprocess.run(
        [sys.executable, SCRIPT, base_url, API_KEY],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "PYTHONPATH": str(generated.path)},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    *orders, last = ran.stdout.split("\n")[:-1]
    assert last == "done"
    ended = dict(line.split() for line in orders)
    assert sorted(order_id.split("-")[1] for order_id in ended) == sorted(FLOW_NAMES)

    # The API agrees: each order is in a final state of its flow.
    for order_id, status in ended.items():
        answer = httpx.get(
            f"{base_url}/orders/{order_id}", headers={"Authorization": f"Bearer {API_KEY}"}
        )
        assert answer.json()["status"] == status
