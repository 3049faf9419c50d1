"""``orderclock orders list/show/act`` as real processes against the API of the local stack."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cli.orders import dev_api_key, flow_specs, pending_line
from tests.fixtures.devstack import (
    DevStack,
    clean_environment,
    free_ports,
    orderclock_command,
    run_cli,
)
from tests.support.prepaid_service import prepaid_body


def orders_cli(
    api: str,
    *args: str,
    env: dict[str, str] | None = None,
    api_key: str | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``orderclock orders --api API ...``: in this process, or in ``cwd`` (whose
    .orderclock/ it may read) as a real one."""
    key = ["--api-key", api_key] if api_key is not None else []
    if cwd is None:
        return run_cli("orders", "--api", api, *key, *args, env=env)
    return subprocess.run(
        [*orderclock_command(), "orders", "--api", api, *key, *args],
        env=clean_environment() if env is None else env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def stack_cli(devstack: DevStack, *args: str) -> subprocess.CompletedProcess[str]:
    """``orderclock orders`` against the local stack, with its development key."""
    return orders_cli(devstack.api_base_url, *args, api_key=devstack.api_key)


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert "Traceback" not in result.stdout, result.stdout


def order_body(order_id: str, customer_id: str, start: datetime) -> dict[str, Any]:
    return prepaid_body(
        order_id, start, customer_id=customer_id, provider_id="pro-e2e", amount=8500
    )


@pytest.fixture
def new_order(devstack: DevStack) -> tuple[str, str]:
    """A fresh prepaid order three days ahead: (order id, customer id)."""
    order_id = f"cli-{uuid.uuid4().hex[:10]}"
    customer_id = f"cus-{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC) + timedelta(days=3)
    response = httpx.post(
        f"{devstack.api_base_url}/orders",
        json=order_body(order_id, customer_id, start),
        headers=devstack.auth_headers,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return order_id, customer_id


def listed(devstack: DevStack, customer_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``list --customer``, once the read model has the order (it is written asynchronously)."""
    deadline = time.monotonic() + 30
    while True:
        page = httpx.get(
            f"{devstack.api_base_url}/orders",
            params={"customer_id": customer_id},
            headers=devstack.auth_headers,
            timeout=30,
        )
        assert page.status_code == 200, page.text
        if page.json()["total"] > 0:
            break
        assert time.monotonic() < deadline, f"no order of {customer_id} listed within 30 s"
        time.sleep(0.1)
    return stack_cli(devstack, "list", "--customer", customer_id, *args)


def test_list_shows_status_amount_and_time_to_deadline(
    devstack: DevStack, new_order: tuple[str, str]
) -> None:
    order_id, customer_id = new_order
    result = listed(devstack, customer_id)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ORDER", "FLOW", "STATUS", "CUSTOMER", "AMOUNT", "NEXT", "DEADLINE"]
    row = next(line for line in lines if line.startswith(order_id))
    assert "prepaid_service" in row
    assert "confirmation" in row
    assert customer_id in row
    assert "85.00 EUR" in row
    # Confirmation is due 24 h after creation.
    assert "confirmation in 23 h " in row, row
    assert lines[-1] == "1-1 of 1 orders"

    other = stack_cli(devstack, "list", "--customer", customer_id, "--status", "paid")
    assert other.returncode == 0, other.stderr
    assert order_id not in other.stdout
    assert other.stdout.strip() == "no orders match (0 in all with these filters)"


def test_list_json_is_the_api_page(devstack: DevStack, new_order: tuple[str, str]) -> None:
    order_id, customer_id = new_order
    listed(devstack, customer_id)
    result = stack_cli(devstack, "list", "--customer", customer_id, "--json")
    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert page["total"] == 1
    assert [item["order_id"] for item in page["items"]] == [order_id]
    assert page["items"][0]["next_deadline_name"] == "confirmation"


def test_show_act_and_history(devstack: DevStack, new_order: tuple[str, str]) -> None:
    order_id, customer_id = new_order

    shown = stack_cli(devstack, "show", order_id)
    assert shown.returncode == 0, shown.stderr
    assert "status    confirmation" in shown.stdout
    assert "total 85.00 EUR" in shown.stdout
    allowed = shown.stdout.split("\nallowed actions\n", 1)[1].split("\n\n", 1)[0]
    provider_line = next(line for line in allowed.splitlines() if line.split()[0] == "provider")
    assert "confirm" in provider_line.split(maxsplit=1)[1].split(", ")
    assert "confirmation in 23 h" in shown.stdout
    assert "UTC   " in shown.stdout
    assert "(Europe/Berlin)" in shown.stdout
    assert "state     active" in shown.stdout
    assert "item      1 x Massage at 85.00 EUR = 85.00 EUR" in shown.stdout
    history = shown.stdout.split("\nhistory\n", 1)[1]
    assert "-> confirmation" in history

    # The customer cannot confirm for the provider: the API's 409, readable.
    refused = stack_cli(
        devstack, "act", order_id, "confirm", "--role", "customer", "--actor-id", customer_id
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("orderclock: not allowed: "), refused.stderr
    # Another order's customer: the API's 403, readable.
    foreign = stack_cli(
        devstack, "act", order_id, "confirm", "--role", "customer", "--actor-id", "x"
    )
    assert foreign.returncode == 1
    assert foreign.stderr.startswith("orderclock: forbidden: "), foreign.stderr
    assert refused.stdout == ""
    no_traceback(refused)

    confirmed = stack_cli(
        devstack, "act", order_id, "confirm", "--role", "provider", "--actor-id", "pro-e2e"
    )
    assert confirmed.returncode == 0, confirmed.stderr
    assert f"order {order_id}: confirm done, confirmation -> payment" in confirmed.stdout
    assert "next deadline: payment" in confirmed.stdout

    cancelled = stack_cli(
        devstack, "act", order_id, "cancel", "--role", "support", "--reason", "x", "--json"
    )
    assert cancelled.returncode == 0, cancelled.stderr
    view = json.loads(cancelled.stdout)
    assert view["status"] == "cancelled"
    assert view["history"][-1]["reason"] == "x"
    assert view["history"][-1]["actor"]["role"] == "support"

    shown = stack_cli(devstack, "show", order_id)
    assert shown.returncode == 0, shown.stderr
    history = shown.stdout.split("\nhistory\n", 1)[1]
    assert "provider:pro-e2e" in history
    assert "confirm" in history and "confirmation -> payment" in history
    cancel_line = next(line for line in history.splitlines() if "payment -> cancelled" in line)
    assert "support" in cancel_line and "cancel" in cancel_line
    assert cancel_line.rstrip().endswith(" x")
    assert "emails" in shown.stdout

    as_json = stack_cli(devstack, "show", order_id, "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["status"] == "cancelled"

    again = stack_cli(devstack, "act", order_id, "cancel", "--role", "support", "--reason", "x")
    assert again.returncode == 1
    assert "not allowed: " in again.stderr
    no_traceback(again)


def test_unknown_order_is_not_found(devstack: DevStack) -> None:
    missing = f"cli-missing-{uuid.uuid4().hex[:8]}"
    for args in (
        ["show", missing],
        ["act", missing, "cancel", "--role", "support", "--reason", "x"],
    ):
        result = stack_cli(devstack, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.strip() == f"orderclock: order {missing} not found"
        no_traceback(result)


def test_bad_payload_json_is_a_usage_error(devstack: DevStack, new_order: tuple[str, str]) -> None:
    order_id, _ = new_order
    for payload in ("{not json", "[1, 2]"):
        result = stack_cli(
            devstack,
            "act",
            order_id,
            "cancel",
            "--role",
            "support",
            "--payload",
            payload,
        )
        assert result.returncode == 2, result.stderr
        assert "--payload" in result.stderr
        no_traceback(result)
    # Nothing reached the order.
    view = httpx.get(
        f"{devstack.api_base_url}/orders/{order_id}", headers=devstack.auth_headers, timeout=30
    ).json()
    assert view["status"] == "confirmation"


def test_unreachable_api() -> None:
    (port,) = free_ports(1)
    url = f"http://127.0.0.1:{port}"
    for args in (["list"], ["show", "A-1"], ["act", "A-1", "cancel", "--role", "support"]):
        result = orders_cli(url, *args)
        assert result.returncode == 3, (args, result.stderr)
        assert result.stderr.startswith(f"orderclock: API unreachable at {url}"), result.stderr
        no_traceback(result)


class _Recorder(BaseHTTPRequestHandler):
    """A stand-in API: records the Authorization header, answers by path."""

    seen: list[str | None] = []
    paths: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.paths.append(self.path)
        if self.path.startswith("/orders/unauthorised"):
            self._answer(401, {"detail": "missing API key: send Authorization: Bearer <key>"})
        elif self.path.startswith("/orders/broken"):
            self._answer(503, {"detail": "Temporal is unavailable: cannot connect"})
        elif self.path.startswith("/orders/secret"):
            self._answer(403, {"detail": "support may not read this order"})
        else:
            self._answer(200, {"items": [], "total": 0, "limit": 50, "offset": 0})

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def fake_api() -> Iterator[str]:
    _Recorder.seen = []
    _Recorder.paths = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_api_key_is_a_bearer_token_and_errors_are_named(fake_api: str, tmp_path: Path) -> None:
    env = clean_environment() | {"ORDERCLOCK_API_KEY": "key-from-env"}
    # In an empty folder: no development key to find.
    assert orders_cli(fake_api, "list", env=env, cwd=tmp_path).returncode == 0
    assert orders_cli(fake_api, "--api-key", "k1", "list", cwd=tmp_path).returncode == 0
    assert orders_cli(fake_api, "list", cwd=tmp_path).returncode == 0
    assert _Recorder.seen == ["Bearer key-from-env", "Bearer k1", None]

    unauthorised = orders_cli(fake_api, "show", "unauthorised", cwd=tmp_path)
    assert unauthorised.returncode == 1
    assert unauthorised.stderr.strip() == (
        "orderclock: unauthorised: pass --api-key or set ORDERCLOCK_API_KEY"
    )

    broken = orders_cli(fake_api, "show", "broken")
    assert broken.returncode == 1
    assert broken.stderr.startswith(f"orderclock: API unreachable at {fake_api}"), broken.stderr
    assert "Temporal is unavailable" in broken.stderr

    forbidden = orders_cli(fake_api, "show", "secret")
    assert forbidden.returncode == 1
    assert forbidden.stderr.strip() == "orderclock: forbidden: support may not read this order"


def test_api_url_from_environment(fake_api: str) -> None:
    env = clean_environment() | {"ORDERCLOCK_API_URL": fake_api}
    result = subprocess.run(
        [*orderclock_command(), "orders", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no orders match (0 in all with these filters)"


def test_pending_line_names_attempt_failure_and_next_try() -> None:
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    pending = {
        "activity": "charge 85.00 EUR",
        "activity_type": "charge_payment",
        "state": "scheduled",
        "attempt": 4,
        "maximum_attempts": None,
        "last_failure": "APIConnectionError: connection refused",
        "next_attempt_at": (now + timedelta(seconds=8)).isoformat(),
    }
    assert pending_line(pending, now) == (
        "charge 85.00 EUR: attempt 4, last failure: APIConnectionError: connection refused, "
        "next attempt in 8 s"
    )
    assert pending_line({**pending, "maximum_attempts": 6, "next_attempt_at": None}, now) == (
        "charge 85.00 EUR: attempt 4 of 6, last failure: APIConnectionError: connection refused"
    )


def test_a_tenant_key_sees_and_acts_on_its_tenants_orders_only(
    devstack: DevStack, new_order: tuple[str, str]
) -> None:
    """``keys create --tenant`` on the stack's database, then ``orders`` with that key."""
    order_id, customer_id = new_order  # made with the stack's key, which has no tenant
    listed(devstack, customer_id)  # the read model has it
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    made = subprocess.run(
        [
            *orderclock_command(),
            *("keys", "create", "--role", "service", "--name", f"svc-{tenant}"),
            *("--tenant", tenant),
        ],
        env=clean_environment()
        | {"ORDERCLOCK_DATABASE_URL": f"sqlite:///{devstack.paths.orders_db}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()

    def as_tenant(*args: str) -> subprocess.CompletedProcess[str]:
        return orders_cli(devstack.api_base_url, *args, api_key=key)

    # Another tenant's order, exactly as one that does not exist.
    for args in (
        ["show", order_id],
        [
            "act",
            order_id,
            "cancel",
            "--role",
            "customer",
            "--actor-id",
            customer_id,
            "--reason",
            "x",
        ],
    ):
        hidden = as_tenant(*args)
        assert hidden.returncode == 1, (args, hidden.stderr)
        assert hidden.stderr.strip() == f"orderclock: order {order_id} not found"
        no_traceback(hidden)
    listing = as_tenant("list", "--customer", customer_id).stdout.strip()
    assert listing == "no orders match (0 in all with these filters)"

    own_id = f"cli-{uuid.uuid4().hex[:10]}"
    start = datetime.now(UTC) + timedelta(days=3)
    created = httpx.post(
        f"{devstack.api_base_url}/orders",
        json=order_body(own_id, customer_id, start),
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    shown = as_tenant("show", own_id)
    assert shown.returncode == 0, shown.stderr
    assert f"tenant {tenant}" in shown.stdout.splitlines()[0]


def test_the_development_key_is_found_for_a_local_api(fake_api: str, tmp_path: Path) -> None:
    # What `orderclock dev` leaves in the folder it runs in.
    (tmp_path / ".orderclock").mkdir()
    (tmp_path / ".orderclock" / "dev-api-key").write_text("oc_dev_key\n")
    assert orders_cli(fake_api, "list", cwd=tmp_path).returncode == 0
    assert orders_cli(fake_api, "list", api_key="given", cwd=tmp_path).returncode == 0
    assert _Recorder.seen == ["Bearer oc_dev_key", "Bearer given"]
    refused = orders_cli(fake_api, "show", "unauthorised", cwd=tmp_path)
    assert refused.stderr.startswith(
        "orderclock: unauthorised: pass --api-key or set ORDERCLOCK_API_KEY "
        "(the development key in .orderclock/dev-api-key was refused: missing API key"
    ), refused.stderr


def test_dev_key_stays_on_this_machine(tmp_path: Path) -> None:
    (tmp_path / "dev-api-key").write_text("oc_dev_key\n")
    assert dev_api_key("http://127.0.0.1:8000", tmp_path) == (
        "oc_dev_key",
        tmp_path / "dev-api-key",
    )
    assert dev_api_key("http://localhost:8000", tmp_path) is not None
    assert dev_api_key("https://orders.example.com", tmp_path) is None


def test_api_options_work_after_the_command_too(fake_api: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*orderclock_command(), "orders", "list", "--api", fake_api, "--api-key", "k2"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert _Recorder.seen == ["Bearer k2"]


def test_list_filters_are_checked_against_the_flows_and_sent(fake_api: str, tmp_path: Path) -> None:
    bogus = orders_cli(fake_api, "list", "--status", "bogus", cwd=tmp_path)
    assert bogus.returncode == 2
    assert bogus.stderr.startswith("orderclock: unknown status 'bogus'; the flows' states are ")
    # The states come from the flows' declarations, not a list of the CLI's own.
    dealer_states = [state.name for state in flow_specs()["dealer_order"].states]
    wrong = orders_cli(
        fake_api, "list", "--flow", "dealer_order", "--status", "confirmation", cwd=tmp_path
    )
    assert wrong.returncode == 2
    assert wrong.stderr.strip() == (
        "orderclock: unknown status 'confirmation'; the states of dealer_order are "
        + ", ".join(dealer_states)
    )
    unknown_flow = orders_cli(fake_api, "list", "--flow", "pizza", cwd=tmp_path)
    assert unknown_flow.returncode == 2 and "unknown flow 'pizza'" in unknown_flow.stderr
    assert _Recorder.paths == [], "a refused filter reached the API"

    result = orders_cli(
        fake_api,
        "list",
        "--flow",
        "dealer_order",
        "--status",
        "shipped",
        "--provider",
        "dlr-1",
        "--needs-attention",
        "--archived",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "no orders match (0 in all with these filters)"
    (path,) = _Recorder.paths
    query = parse_qs(urlsplit(path).query)
    assert query["flow"] == ["dealer_order"]
    assert query["status"] == ["shipped"]
    assert query["provider_id"] == ["dlr-1"]
    assert query["needs_attention"] == ["true"]
    assert query["archived"] == ["true"]
