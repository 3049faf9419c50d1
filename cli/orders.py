"""``orderclock orders list/show/act``: support's command line over the HTTP API.

The commands speak only HTTP, like any other client, so they work against a remote
deployment and go through the same role checks as every caller. Exit codes: 1 when the
API answered with an error, 2 for a usage error, 3 when the API cannot be reached.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, NoReturn
from urllib.parse import quote
from zoneinfo import ZoneInfo

import httpx
import typer

from models.money import format_amount

DEFAULT_API_URL = "http://127.0.0.1:8000"
API_URL_ENV = "ORDERCLOCK_API_URL"
API_KEY_ENV = "ORDERCLOCK_API_KEY"
TIMEOUT_SECONDS = 30.0

EXIT_API_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

orders_app = typer.Typer(
    help="List, show and act on orders through the HTTP API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class ActingRole(StrEnum):
    """Roles a client may act as (``system`` is orderclock's own)."""

    customer = "customer"
    provider = "provider"
    support = "support"


class ApiClient:
    """A small synchronous client of the orderclock API that turns failures into exits."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._http = httpx.Client(base_url=self.base_url, headers=headers, timeout=TIMEOUT_SECONDS)

    def request(
        self,
        method: str,
        path: str,
        *,
        order_id: str | None = None,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """Send one request; a successful response, or a message on stderr and an exit."""
        try:
            response = self._http.request(method, path, params=params, json=body)
        except httpx.TransportError as error:
            fail(
                f"API unreachable at {self.base_url}: {error or type(error).__name__}",
                EXIT_UNREACHABLE,
            )
        if response.is_success:
            return response
        fail(error_message(response, self.base_url, order_id), EXIT_API_ERROR)


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    typer.echo(f"orderclock: {message}", err=True)
    raise typer.Exit(code)


def error_message(response: httpx.Response, base_url: str, order_id: str | None) -> str:
    """The one line a person reads for an error answer of the API."""
    detail = _detail(response)
    status = response.status_code
    if status == 404:
        # The API also answers 404 for an action the flow does not have.
        if order_id is not None and detail.startswith("order "):
            return f"order {order_id} not found"
        return f"not found: {detail}"
    if status == 409:
        return f"not allowed: {detail}"
    if status in (400, 413, 422):
        return f"invalid request: {detail}"
    if status in (401, 403):
        return f"forbidden: {detail}"
    if status == 429:
        return f"busy: {detail}"
    if status >= 500:
        return f"API unreachable at {base_url} (HTTP {status}: {detail})"
    return f"HTTP {status}: {detail}"


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        # FastAPI's own validation errors: a list of {loc, msg}.
        return "; ".join(_validation_line(item) for item in detail)
    return json.dumps(body)


def _validation_line(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    loc = ".".join(str(part) for part in item.get("loc", []) if part != "body")
    return f"{loc}: {item.get('msg', '')}" if loc else str(item.get("msg", ""))


def _client(ctx: typer.Context) -> ApiClient:
    client = ctx.obj
    assert isinstance(client, ApiClient)
    return client


def _order_path(order_id: str) -> str:
    return f"/orders/{quote(order_id, safe='')}"


def _print_json(response: httpx.Response) -> None:
    sys.stdout.write(response.text)
    if not response.text.endswith("\n"):
        sys.stdout.write("\n")


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def time_left(due: datetime, now: datetime) -> str:
    """``"in 3h 12m"`` or ``"overdue 5m"``: the two largest units of the distance to ``due``."""
    delta = due - now
    overdue = delta < timedelta(0)
    seconds = int(abs(delta).total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    units = [(days, "d"), (hours, "h"), (minutes, "m")]
    parts = [f"{value}{unit}" for value, unit in units if value]
    # Whole units from the largest present down, so "2d 0h" never hides as "2d".
    text = " ".join(parts[:2]) if parts else f"{secs}s"
    return f"overdue {text}" if overdue else f"in {text}"


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(moment: datetime, zone: str | None) -> str:
    if zone:
        try:
            return moment.astimezone(ZoneInfo(zone)).strftime(f"%Y-%m-%d %H:%M:%S %Z ({zone})")
        except (KeyError, ValueError):
            pass  # an unknown zone: the offset the API gave is still right
    return moment.strftime("%Y-%m-%d %H:%M:%S %z")


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain left-aligned columns (no wrapping, so scripts and narrow terminals agree)."""
    widths = [len(header) for header in headers]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = [headers, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


ApiOption = Annotated[
    str,
    typer.Option(
        "--api",
        envvar=API_URL_ENV,
        help="The orderclock API's base URL.",
        show_default=True,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=API_KEY_ENV,
        help="API key, sent as a bearer token.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's JSON answer as-is, for scripts.")
]


@orders_app.callback()
def orders_main(
    ctx: typer.Context, api: ApiOption = DEFAULT_API_URL, api_key: ApiKeyOption = None
) -> None:
    """Support's view of orders, over the HTTP API."""
    if not api.startswith(("http://", "https://")):
        fail(f"--api must be an http:// or https:// URL, not {api!r}", EXIT_USAGE)
    ctx.obj = ApiClient(api, api_key or None)


@orders_app.command("list")
def list_orders(
    ctx: typer.Context,
    flow: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer id.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Orders with their status and the time left to their next deadline."""
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (("flow", flow), ("status", status), ("customer_id", customer)):
        if value is not None:
            params[name] = value
    response = _client(ctx).request("GET", "/orders", params=params)
    if as_json:
        _print_json(response)
        return
    page = response.json()
    now = datetime.now(UTC)
    rows = []
    for item in page["items"]:
        due = _parse_time(item.get("next_deadline_at"))
        deadline = "-"
        if due is not None:
            name = item.get("next_deadline_name") or "deadline"
            deadline = f"{name} {_utc(due)} ({time_left(due, now)})"
        rows.append(
            [
                item["order_id"],
                item["flow"],
                item["status"] + (" !" if item.get("needs_attention") else ""),
                item["customer_id"],
                format_amount(item["amount_total"], item["currency"]),
                deadline,
            ]
        )
    headers = ["ORDER", "FLOW", "STATUS", "CUSTOMER", "AMOUNT", "NEXT DEADLINE"]
    if rows:
        typer.echo(table(headers, rows))
    shown = f"{page['offset'] + 1}-{page['offset'] + len(rows)}" if rows else "none"
    typer.echo(f"{shown} of {page['total']} orders")


@orders_app.command("show")
def show_order(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    as_json: JsonOption = False,
) -> None:
    """One order: status, amounts, allowed actions, deadline, payments, emails, history."""
    response = _client(ctx).request("GET", _order_path(order_id), order_id=order_id)
    if as_json:
        _print_json(response)
        return
    typer.echo(render_view(response.json(), datetime.now(UTC)))


# The view's per-flow parts (models/orders.py, OrderView), shown as "key  value" lines.
FLOW_DETAIL_FIELDS = ("installation", "shop", "dealer", "account")


def _detail_lines(details: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in details.items():
        if value is None or value == [] or value == {}:
            continue
        if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
            text = ", ".join(str(v) for v in value)
        elif isinstance(value, dict | list):
            text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
        else:
            text = str(value)
        lines.append(f"{key:<24} {text}")
    return lines


def render_view(view: dict[str, Any], now: datetime) -> str:
    """An ``OrderView`` as text for a person."""
    currency = view["currency"]
    zone = (view.get("appointment") or {}).get("time_zone")

    def money(amount: int) -> str:
        return format_amount(amount, currency)

    lines = [
        f"order     {view['order_id']} ({view['flow']})"
        + (f"   tenant {view['tenant']}" if view.get("tenant") else ""),
        f"status    {view['status']}   stage {view['stage']}"
        + (f"   awaiting {view['awaiting']}" if view.get("awaiting") else ""),
    ]
    if view.get("needs_attention"):
        lines.append(f"attention {view.get('attention_reason') or 'needs attention'}")
    customer, provider = view["customer"], view.get("provider")
    lines.append(f"customer  {customer['id']} {customer['name']} <{customer['email']}>")
    if provider:
        lines.append(f"provider  {provider['id']} {provider['name']} <{provider['email']}>")
    lines += [
        f"amounts   total {money(view['amount_total'])}   paid {money(view.get('amount_paid', 0))}"
        f"   held {money(view.get('amount_held', 0))}"
        f"   refunded {money(view.get('amount_refunded', 0))}",
    ]
    appointment = view.get("appointment")
    if appointment:
        start = _parse_time(appointment["start"])
        if start is not None:
            lines.append(
                f"appointment {_local(start, zone)}, {appointment['duration_minutes']} min"
            )
    if view.get("closed_at"):
        lines.append(f"closed    {view['closed_at']}")
    if view.get("archived"):
        lines.append("archived  yes")
    for block in FLOW_DETAIL_FIELDS:
        details = view.get(block)
        if isinstance(details, dict):
            lines += ["", f"{block} details", *(f"  {line}" for line in _detail_lines(details))]

    lines += ["", "allowed actions"]
    allowed = view.get("allowed_actions") or {}
    if any(allowed.values()):
        for role, actions in allowed.items():
            if actions:
                lines.append(f"  {role:<9} {', '.join(actions)}")
    else:
        lines.append("  none")

    deadline = view.get("next_deadline")
    lines += ["", "next deadline"]
    if deadline:
        due = _parse_time(deadline["due_at"])
        assert due is not None
        # Without a zone name (flows without an appointment) the API's local offset serves.
        local = _parse_time(deadline.get("due_at_local") or deadline["due_at"]) or due
        lines += [
            f"  {deadline['name']} {time_left(due, now)}, then {deadline['on_expiry']}",
            f"  UTC   {_utc(due)}",
            f"  local {_local(local, zone)}",
        ]
    else:
        lines.append("  none")

    payments = view.get("payments") or []
    lines += ["", "payments"]
    lines += (
        [
            "  " + line
            for line in table(
                ["TIME", "KIND", "AMOUNT", "OUTCOME", "KEY"],
                [
                    [
                        _short_time(p["at"]),
                        p["kind"],
                        format_amount(p["amount"], p["currency"]),
                        p["outcome"]
                        + (f" ({p['failure_reason']})" if p.get("failure_reason") else ""),
                        p["idempotency_key"],
                    ]
                    for p in payments
                ],
            ).splitlines()
        ]
        if payments
        else ["  none"]
    )
    if view.get("last_payment_error"):
        lines.append(f"  last error: {view['last_payment_error']}")

    pending = view.get("pending") or []
    if pending:
        lines += ["", "in progress (Temporal)"]
        lines += [f"  {pending_line(p, now)}" for p in pending]

    mails = view.get("notifications") or []
    lines += ["", "emails"]
    lines += (
        [
            "  " + line
            for line in table(
                ["TIME", "EVENT", "TO", "STATUS", "KEY"],
                [
                    [
                        _short_time(n["at"]),
                        n["event"],
                        f"{n['recipient_role']} {n['to']}",
                        n["status"] + (f" ({n['detail']})" if n.get("detail") else ""),
                        n["idempotency_key"],
                    ]
                    for n in mails
                ],
            ).splitlines()
        ]
        if mails
        else ["  none"]
    )

    history = view.get("history") or []
    lines += ["", "history"]
    lines += (
        [
            "  " + line
            for line in table(
                ["TIME", "ACTOR", "ACTION", "FROM -> TO", "REASON"],
                [
                    [
                        _short_time(t["at"]),
                        t["actor"]["role"]
                        + (f":{t['actor']['id']}" if t["actor"].get("id") else ""),
                        t["action"],
                        f"{t.get('from_status') or '-'} -> {t['to_status']}",
                        t.get("reason") or "",
                    ]
                    for t in history
                ],
            ).splitlines()
        ]
        if history
        else ["  none"]
    )
    return "\n".join(lines)


def pending_line(pending: dict[str, Any], now: datetime) -> str:
    """One side effect in flight: "charge 85.00 EUR: attempt 4, last failure: ..."."""
    line = f"{pending['activity']}: attempt {pending['attempt']}"
    if pending.get("maximum_attempts"):
        line += f" of {pending['maximum_attempts']}"
    if pending.get("last_failure"):
        line += f", last failure: {' '.join(pending['last_failure'].split())}"
    following = _parse_time(pending.get("next_attempt_at"))
    if following is not None:
        line += f", next attempt {time_left(following, now)}"
    return line


def _short_time(text: str) -> str:
    moment = _parse_time(text)
    return _utc(moment) if moment is not None else text


def build_payload(reason: str | None, payload_json: str | None) -> dict[str, Any]:
    """The action's payload: ``--payload`` (a JSON object) with ``--reason`` set over it."""
    payload: dict[str, Any] = {}
    if payload_json is not None:
        try:
            parsed = json.loads(payload_json)
        except json.JSONDecodeError as error:
            fail(f"--payload is not valid JSON: {error}", EXIT_USAGE)
        if not isinstance(parsed, dict):
            fail("--payload must be a JSON object, like '{\"amount\": 1000}'", EXIT_USAGE)
        payload.update(parsed)
    if reason is not None:
        payload["reason"] = reason
    return payload


@orders_app.command("act")
def act_on_order(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    action: Annotated[str, typer.Argument(help="The action: confirm, pay, cancel, ...")],
    role: Annotated[ActingRole, typer.Option(help="The role to act as.")],
    actor_id: Annotated[
        str | None, typer.Option(help="The actor's id (required for customer and provider).")
    ] = None,
    reason: Annotated[
        str | None, typer.Option(help="Sets payload.reason (cancel, open_claim, ...).")
    ] = None,
    payload: Annotated[
        str | None,
        typer.Option("--payload", help="A JSON object merged into the payload (before --reason)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Take an action on an order, as customer, provider or support."""
    body = {
        "actor": {"role": role.value, "id": actor_id},
        "payload": build_payload(reason, payload),
    }
    path = f"{_order_path(order_id)}/actions/{quote(action, safe='')}"
    response = _client(ctx).request("POST", path, order_id=order_id, body=body)
    if as_json:
        _print_json(response)
        return
    view = response.json()
    history = view.get("history") or []
    step = history[-1] if history else None
    moved = (
        f"{step['from_status'] or '-'} -> {step['to_status']}"
        if step and step["action"] == action
        else view["status"]
    )
    typer.echo(f"order {view['order_id']}: {action} done, {moved}")
    deadline = view.get("next_deadline")
    if deadline:
        due = _parse_time(deadline["due_at"])
        assert due is not None
        typer.echo(
            f"next deadline: {deadline['name']} {_utc(due)} ({time_left(due, datetime.now(UTC))})"
        )
