"""``orderclock orders list/show/act``: support's command line over the HTTP API.

The commands speak only HTTP, like any other client, so they work against a remote
deployment and go through the same role checks as every caller. Exit codes: 1 when the
API answered with an error, 2 for a usage error, 3 when the API cannot be reached.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import quote, urlsplit

import httpx
import typer

from flows.catalog import FLOW_NAMES, FLOWS
from flows.spec import FlowSpec
from models.actions import ENGINE_ACTION_PAYLOADS
from models.clock import is_valid_zone, readable_span, readable_time
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

    def __init__(self, base_url: str, api_key: str | None, key_source: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # Where the key came from, for the message when the API refuses it.
        self.key_source = key_source
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
        fail(error_message(response, self.base_url, order_id, self.key_source), EXIT_API_ERROR)


def fail(message: str, code: int) -> NoReturn:
    """Print ``message`` to stderr and exit with ``code``."""
    typer.echo(f"orderclock: {message}", err=True)
    raise typer.Exit(code)


def error_message(
    response: httpx.Response, base_url: str, order_id: str | None, key_source: str | None = None
) -> str:
    """The one line a person reads for an error answer of the API."""
    detail = _detail(response)
    status = response.status_code
    if status == 401:
        # A person at a terminal sends no headers: say which option or variable to set.
        refused = f" ({key_source} was refused: {detail})" if key_source else ""
        return f"unauthorised: pass --api-key or set {API_KEY_ENV}{refused}"
    if status == 403:
        return f"forbidden: {detail}"
    if status == 404:
        # The API also answers 404 for an action the flow does not have.
        if order_id is not None and detail.startswith("order "):
            return f"order {order_id} not found"
        return f"not found: {detail}"
    if status == 409:
        return f"not allowed: {detail}"
    if status in (400, 413, 422):
        return f"invalid request: {detail}"
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


@dataclass(frozen=True)
class Connection:
    """The group's ``--api``/``--api-key`` (or their variables), before a command's own."""

    api: str
    api_key: str | None


def _client(ctx: typer.Context, api: str | None = None, api_key: str | None = None) -> ApiClient:
    """The API client for a command: its own --api/--api-key over the group's."""
    group = ctx.obj
    assert isinstance(group, Connection)
    base_url = api or group.api
    if not base_url.startswith(("http://", "https://")):
        fail(f"--api must be an http:// or https:// URL, not {base_url!r}", EXIT_USAGE)
    key = api_key or group.api_key
    if key:
        return ApiClient(base_url, key, f"the key from --api-key or {API_KEY_ENV}")
    found = dev_api_key(base_url)
    if found is not None:
        return ApiClient(base_url, found[0], f"the development key in {found[1]}")
    return ApiClient(base_url, None)


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def dev_api_key(base_url: str, state_dir: Path | None = None) -> tuple[str, Path] | None:
    """The key ``orderclock dev`` wrote, when the API is on this machine and the file exists.

    Only for a loopback API: the development key must not travel to another host.
    """
    from cli.support import DevPaths
    from config.settings import STATE_DIR

    if urlsplit(base_url).hostname not in LOOPBACK_HOSTS:
        return None
    path = DevPaths(state_dir or STATE_DIR).dev_api_key
    try:
        key = path.read_text().strip()
    except OSError:
        return None
    return (key, path) if key else None


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


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _local(moment: datetime, zone: str | None) -> str:
    """The time in the order's zone with the zone named: ``Sat 5 Dec 2026, 06:09 CET``."""
    return readable_time(moment, zone if zone and is_valid_zone(zone) else None)


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
# The same two options after the command (``orders list --api URL``), where people write them.
CommandApiOption = Annotated[
    str | None,
    typer.Option("--api", help="The orderclock API's base URL.", show_default=False),
]
CommandApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key", help="API key, sent as a bearer token.", show_default=False),
]


@orders_app.callback()
def orders_main(
    ctx: typer.Context, api: ApiOption = DEFAULT_API_URL, api_key: ApiKeyOption = None
) -> None:
    """Support's view of orders, over the HTTP API.

    Without --api-key or ORDERCLOCK_API_KEY, a local API gets the development key that
    `orderclock dev` keeps in .orderclock/dev-api-key.
    """
    ctx.obj = Connection(api, api_key or None)


def flow_specs() -> dict[str, FlowSpec]:
    """Every flow's spec (default policy: states do not depend on it)."""
    return {name: FLOWS[name].spec(None) for name in FLOW_NAMES}


def check_filters(flow: str | None, status: str | None) -> None:
    """Exit 2 naming the choices when ``--flow`` or ``--status`` is not one the flows have."""
    specs = flow_specs()
    if flow is not None and flow not in specs:
        fail(f"unknown flow {flow!r}; the flows are {', '.join(specs)}", EXIT_USAGE)
    if status is None:
        return
    chosen = [specs[flow]] if flow is not None else list(specs.values())
    states = list(dict.fromkeys(state.name for spec in chosen for state in spec.states))
    if status not in states:
        whose = f"the states of {flow} are" if flow is not None else "the flows' states are"
        fail(f"unknown status {status!r}; {whose} {', '.join(states)}", EXIT_USAGE)


@orders_app.command("list")
def list_orders(
    ctx: typer.Context,
    flow: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
    status: Annotated[
        str | None, typer.Option(help="Only this status (a state of the flow).")
    ] = None,
    customer: Annotated[str | None, typer.Option(help="Only this customer id.")] = None,
    provider: Annotated[
        str | None, typer.Option(help="Only this provider id (partner, dealer).")
    ] = None,
    needs_attention: Annotated[
        bool | None,
        typer.Option(
            "--needs-attention/--no-needs-attention",
            help="Only orders flagged for support (or only unflagged ones).",
            show_default=False,
        ),
    ] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="Only archived orders (hidden otherwise).")
    ] = False,
    limit: Annotated[int, typer.Option(min=1, max=200, help="Rows per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Rows to skip.")] = 0,
    as_json: JsonOption = False,
    api: CommandApiOption = None,
    api_key: CommandApiKeyOption = None,
) -> None:
    """Orders with their status and the time left to their next deadline."""
    check_filters(flow, status)
    params: dict[str, Any] = {"limit": limit, "offset": offset}
    for name, value in (
        ("flow", flow),
        ("status", status),
        ("customer_id", customer),
        ("provider_id", provider),
        ("needs_attention", needs_attention),
    ):
        if value is not None:
            params[name] = value
    if archived:
        params["archived"] = True
    response = _client(ctx, api, api_key).request("GET", "/orders", params=params)
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
            deadline = f"{name} {readable_span(due, now)} ({_utc(due)})"
        rows.append(
            [
                item["order_id"],
                item["flow"],
                list_status(item),
                item["customer_id"],
                format_amount(item["amount_total"], item["currency"]),
                deadline,
            ]
        )
    headers = ["ORDER", "FLOW", "STATUS", "CUSTOMER", "AMOUNT", "NEXT DEADLINE"]
    if rows:
        typer.echo(table(headers, rows))
    if rows:
        typer.echo(f"{page['offset'] + 1}-{page['offset'] + len(rows)} of {page['total']} orders")
    else:
        typer.echo(f"no orders match ({page['total']} in all with these filters)")


def list_status(item: dict[str, Any]) -> str:
    """The status as the list shows it: ``(closed)`` only when nothing is left to happen,
    ``(final)`` for a final status whose deadline still runs; ``!`` needs attention."""
    status = str(item["status"])
    if item.get("closed_at"):
        status += " (final)" if item.get("next_deadline_at") else " (closed)"
    return status + (" !" if item.get("needs_attention") else "")


@orders_app.command("show")
def show_order(
    ctx: typer.Context,
    order_id: Annotated[str, typer.Argument(help="The order's id.")],
    as_json: JsonOption = False,
    api: CommandApiOption = None,
    api_key: CommandApiKeyOption = None,
) -> None:
    """One order: status, amounts, allowed actions, deadline, payments, emails, history."""
    client = _client(ctx, api, api_key)
    response = client.request("GET", _order_path(order_id), order_id=order_id)
    if as_json:
        _print_json(response)
        return
    typer.echo(render_view(response.json(), datetime.now(UTC)))


# The view's per-flow parts (models/orders.py, OrderView), shown as labelled fields.
FLOW_DETAIL_FIELDS = ("installation", "shop", "dealer", "account")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
LABEL_WIDTH = 24


@dataclass(frozen=True)
class Readable:
    """How one order's values read: its currency, its zone and the moment of reading."""

    currency: str
    zone: str | None
    now: datetime

    def money(self, amount: int) -> str:
        return format_amount(amount, self.currency)

    def time(self, moment: datetime) -> str:
        return f"{_local(moment, self.zone)} ({readable_span(moment, self.now)})"

    def value(self, key: str, value: Any) -> str:
        """A scalar as a person reads it: money by its field's name, times in the zone."""
        if isinstance(value, bool):
            return "yes" if value else "no"
        if isinstance(value, int) and "amount" in key:
            return self.money(value)
        if isinstance(value, str) and _ISO_TIME.match(value):
            moment = _parse_time(value)
            if moment is not None:
                return self.time(moment)
        return str(value)

    def fields(self, details: dict[str, Any], indent: str = "  ") -> list[str]:
        """Every set field as ``label  value``; nested parts indented below their label."""
        lines: list[str] = []
        for key, value in details.items():
            # The *_local twins repeat a time the zone-aware rendering already shows; the
            # *_labels name the keys of their twin (an account line's configuration).
            empty = value is None or value == [] or value == {}
            if empty or key.endswith(("_local", "_labels")):
                continue
            label = key.replace("_", " ")
            if isinstance(value, dict):
                names: dict[str, Any] = details.get(f"{key}_labels") or {}
                lines.append(f"{indent}{label}")
                relabelled = {str(names.get(k, k)): v for k, v in value.items()}
                lines += self.fields(relabelled, indent + "  ")
            elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
                for n, item in enumerate(value, 1):
                    lines.append(f"{indent}{label} {n}")
                    lines += self.fields(item, indent + "  ")
            else:
                shown = value if isinstance(value, list) else [value]
                text = ", ".join(self.value(key, v) for v in shown)
                lines.append(f"{indent}{label:<{LABEL_WIDTH - len(indent) + 2}} {text}")
        return lines


def order_zone(view: dict[str, Any]) -> str | None:
    """The zone the order happens in: its appointment's, its installation's, its dealer's."""
    for zone in (
        (view.get("appointment") or {}).get("time_zone"),
        (view.get("installation") or {}).get("time_zone"),
        ((view.get("dealer") or {}).get("dealer") or {}).get("time_zone"),
    ):
        if zone:
            return str(zone)
    return None


def lifecycle(view: dict[str, Any], readable: Readable) -> str:
    """Whether the order is still running, finished with something left, or closed.

    A final status (``closed_at``) is not the end while a flow action is still allowed or a
    deadline still runs: a shipped dealer order can be refunded until it is archived.
    """
    engine_only = set(ENGINE_ACTION_PAYLOADS)
    open_actions = sorted(
        {a for actions in (view.get("allowed_actions") or {}).values() for a in actions}
        - engine_only
    )
    deadline = view.get("next_deadline")
    closed_at = _parse_time(view.get("closed_at"))
    if closed_at is None:
        return "active"
    if not open_actions and not deadline:
        return f"closed {readable.time(closed_at)}"
    still = [f"actions {', '.join(open_actions)}"] if open_actions else []
    due = _parse_time(deadline["due_at"]) if deadline else None
    if deadline and due is not None:
        still.append(f"{deadline['name']} {readable_span(due, readable.now)}")
    return f"final status since {readable.time(closed_at)}; still open: {'; '.join(still)}"


def render_view(view: dict[str, Any], now: datetime) -> str:
    """An ``OrderView`` as text for a person."""
    zone = order_zone(view)
    readable = Readable(view["currency"], zone, now)
    money = readable.money

    lines = [
        f"order     {view['order_id']} ({view['flow']})"
        + (f"   tenant {view['tenant']}" if view.get("tenant") else ""),
        f"status    {view['status']}   stage {view['stage']}"
        + (f"   awaiting {view['awaiting']}" if view.get("awaiting") else ""),
        f"state     {lifecycle(view, readable)}",
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
    if zone:
        lines.append(f"zone      {zone} (times below are local to it)")
    for item in view.get("items") or []:
        quantity = item.get("quantity", 1)
        lines.append(
            f"item      {quantity} x {item['name']} at {money(item['unit_amount'])}"
            f" = {money(quantity * item['unit_amount'])}"
        )
    appointment = view.get("appointment")
    if appointment:
        start = _parse_time(appointment["start"])
        if start is not None:
            lines.append(
                f"appointment {readable.time(start)}, {appointment['duration_minutes']} min"
            )
    if view.get("archived"):
        lines.append("archived  yes")
    for block in FLOW_DETAIL_FIELDS:
        details = view.get(block)
        if isinstance(details, dict):
            lines += ["", f"{block} details", *readable.fields(details)]

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
        lines.append(
            f"  {deadline['name']} {readable_span(due, now)}, then {deadline['on_expiry']}"
        )
        if zone:
            lines.append(f"  local {_local(due, zone)} ({zone})")
        lines.append(f"  UTC   {_utc(due)}")
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
        line += f", next attempt {readable_span(following, now)}"
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
    api: CommandApiOption = None,
    api_key: CommandApiKeyOption = None,
) -> None:
    """Take an action on an order, as customer, provider or support."""
    body = {
        "actor": {"role": role.value, "id": actor_id},
        "payload": build_payload(reason, payload),
    }
    path = f"{_order_path(order_id)}/actions/{quote(action, safe='')}"
    response = _client(ctx, api, api_key).request("POST", path, order_id=order_id, body=body)
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
            f"next deadline: {deadline['name']} {readable_span(due, datetime.now(UTC))} "
            f"({_utc(due)})"
        )
