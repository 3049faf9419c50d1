"""The console's pages under ``/console``: server-rendered, htmx for refresh and dialogs.

Every page reads what the JSON API reads (``db.queries``, ``api.gateway``) and every step
goes through the API's own path (``api.auth.require_actor``, ``ActionBody.request`` with the
key's name, ``gateway.run_action``), so the order's history names the person's key.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.service import RPCError

from api import gateway
from api.auth import ACTING_ROLES, may_see, require_actor, require_sees, shown_to
from api.console import forms, present
from api.console.session import (
    CONSOLE_ROLES,
    CSRF_FIELD,
    SERVICE_REFUSED,
    ConsoleUser,
    SignInNeeded,
    check_origin,
    check_post,
    clear_cookie,
    console_secret,
    new_session,
    set_cookie,
    signed_in,
)
from api.deps import (
    UNKNOWN_KEY,
    EngineDep,
    SettingsDep,
    TemporalClientDep,
    TimeoutsDep,
    caller_of_key_hash,
)
from api.errors import (
    ApiError,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Unprocessable,
    is_connect_failure,
)
from api.routes import accounts
from db.accounts import find_by_email, get_account
from db.billing import invoices_of
from db.keys import KEY_PREFIX, KeyRole, hash_key
from db.queries import (
    EmailIssue,
    OrderSort,
    email_issues,
    get_order_view,
    list_orders,
    status_counts,
    views_of,
)
from flows.catalog import FLOW_NAMES
from flows.spec import refundable
from models.common import Role
from models.money import minor_unit_exponent
from models.orders import ActionBody, OrderView

HERE = Path(__file__).parent
PAGE_SIZE = 25
MAX_PAGE = 1_000_000
# Seconds between refreshes: quicker while the order has something in flight.
REFRESH_SECONDS = 15
REFRESH_BUSY_SECONDS = 3
QUEUE_LIMIT = 100

templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(
    money=present.money,
    humanize=present.humanize,
    utc=present.utc,
    in_zone=present.in_zone,
    countdown=present.countdown,
    status_label=present.status_label,
    flow_titles=present.FLOW_TITLES,
    csrf_field=CSRF_FIELD,
)


def _now() -> datetime:
    return datetime.now(UTC)


def _is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _redirect(request: Request, url: str) -> Response:
    """A redirect the browser follows whether the request came from htmx or a plain form."""
    if _is_htmx(request):
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def sign_in_url(reason: str | None, next_url: str | None = None) -> str:
    query = {k: v for k, v in (("reason", reason), ("next", next_url)) if v}
    return "/console/login" + (f"?{urlencode(query)}" if query else "")


def unavailable(exc: Exception) -> ApiError | None:
    """A backing service's failure as the 503 the console shows (None: not one of those).

    The JSON API's handlers (api/errors.py) answer these as JSON; a page says it in words.
    """
    if isinstance(exc, RPCError) or is_connect_failure(exc):
        return Unavailable("Temporal is unavailable right now; retry in a moment")
    if isinstance(exc, SQLAlchemyError):
        return Unavailable("the order database is unavailable right now; retry in a moment")
    return None


class ConsoleRoute(APIRoute):
    """A console page: no session sends the browser to sign in; an API error is a page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except SignInNeeded as need:
                next_url = request.url.path if request.method == "GET" else None
                response = _redirect(request, sign_in_url(need.reason, next_url))
                clear_cookie(response)
                return response
            except (ApiError, RPCError, RuntimeError, SQLAlchemyError) as exc:
                err = exc if isinstance(exc, ApiError) else unavailable(exc)
                if err is None:
                    raise
                return render(
                    request,
                    "error.html",
                    {"title": f"Error {err.status_code}", "error": err},
                    status=err.status_code,
                )

        return page


router = APIRouter(prefix="/console", route_class=ConsoleRoute, include_in_schema=False)
User = Annotated[ConsoleUser, Depends(signed_in)]


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    user: ConsoleUser | None = getattr(request.state, "console_user", None)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = templates.TemplateResponse(
        request,
        template,
        {"user": user, "flows": FLOW_NAMES, "now": _now(), "refresh_url": here, **context},
        status_code=status,
    )
    return response


async def _page(
    request: Request, user: ConsoleUser, template: str, context: dict[str, Any], status: int = 200
) -> HTMLResponse:
    response = render(request, template, context, status=status)
    # Re-issued with each page: the idle clock starts again.
    await set_cookie(request, response, user.session)
    return response


# ----- signing in and out --------------------------------------------------------------


@router.get("/login")
async def login_form(request: Request, reason: str = "", next: str = "") -> HTMLResponse:
    """The sign-in page (a personal support or admin API key)."""
    await console_secret(request)  # 503 up front when the console is not configured
    return render(request, "login.html", {"title": "Sign in", "reason": reason, "next": next})


def _safe_next(next_url: str) -> str:
    # Only a console path: never an open redirect to another site.
    if next_url.startswith("/console") and not next_url.startswith("//"):
        return next_url
    return "/console"


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the key and start a session; a service key is refused with the reason."""
    await console_secret(request)
    await check_origin(request)
    form = await request.form()
    key = str(form.get("key", "")).strip()
    next_url = _safe_next(str(form.get("next", "")))

    def refused(reason: str, status: int, headers: dict[str, str] | None = None) -> HTMLResponse:
        response = render(
            request,
            "login.html",
            {"title": "Sign in", "error": reason, "next": next_url},
            status=status,
        )
        response.headers.update(headers or {})
        return response

    if not key.startswith(KEY_PREFIX):
        return refused(f"that is not an orderclock API key (they start with {KEY_PREFIX})", 401)
    try:
        caller = await caller_of_key_hash(request, hash_key(key))
    except Unauthorized:
        return refused(UNKNOWN_KEY, 401)
    except TooManyRequests as blocked:
        # The API's wrong-key guard: sign-ins are key guesses from the same address too.
        return refused(str(blocked.detail), 429, blocked.headers)
    if caller.role not in CONSOLE_ROLES:
        return refused(f"key {caller.name!r} is a {caller.role} key: {SERVICE_REFUSED}", 403)
    response = RedirectResponse(next_url, status_code=303)
    await set_cookie(request, response, new_session(hash_key(key)))
    return response


@router.post("/logout")
async def logout(request: Request, user: User) -> Response:
    """End the session (the cookie is removed; the key itself stays valid)."""
    form = await request.form()
    await check_post(request, user, _text(form.get(CSRF_FIELD)))
    response = RedirectResponse(sign_in_url("you have signed out"), status_code=303)
    clear_cookie(response)
    return response


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# ----- needs attention -------------------------------------------------------------------


@dataclass
class QueueRow:
    """One order of the needs-attention queue and why it is there."""

    view: OrderView
    reasons: list[str] = field(default_factory=list)
    emails: list[EmailIssue] = field(default_factory=list)
    past_due: bool = False


def _queue(
    engine: Any, horizon_end: datetime, now: datetime, tenant: str | None
) -> tuple[list[QueueRow], int]:
    with Session(engine) as session:
        flagged, _ = list_orders(
            session,
            needs_attention=True,
            archived=None,
            sort=OrderSort.next_deadline,
            limit=QUEUE_LIMIT,
            tenant=tenant,
        )
        due, _ = list_orders(
            session,
            due_before=horizon_end,
            archived=None,
            sort=OrderSort.next_deadline,
            limit=QUEUE_LIMIT,
            tenant=tenant,
        )
        issues, issue_total = email_issues(session, limit=QUEUE_LIMIT, tenant=tenant)
        ids = list(
            dict.fromkeys([o.order_id for o in flagged + due] + [i.order_id for i in issues])
        )
        views = views_of(session, ids)
    rows = {order_id: QueueRow(view) for order_id, view in views.items()}
    for order in flagged:
        if order.order_id in rows:
            rows[order.order_id].reasons.append(
                f"flagged: {order.attention_reason or 'no reason given'}"
            )
    for issue in issues:
        if issue.order_id in rows:
            rows[issue.order_id].emails.append(issue)
    for row in rows.values():
        deadline = row.view.next_deadline
        row.past_due = deadline is not None and deadline.due_at <= now
    far = datetime.max.replace(tzinfo=UTC)
    ordered = sorted(
        rows.values(),
        key=lambda r: (
            r.view.next_deadline.due_at if r.view.next_deadline else far,
            r.view.order_id,
        ),
    )
    return ordered, issue_total


@router.get("")
async def home(request: Request, user: User, engine: EngineDep, settings: SettingsDep) -> Response:
    """Needs attention: flagged orders, deadlines within the horizon or past due, and emails
    that failed or were skipped, in one queue sorted by next deadline."""
    now = _now()
    horizon = settings.console_attention_horizon
    rows, issue_total = await run_in_threadpool(
        _queue, engine, now + horizon, now, user.caller.tenant
    )
    return await _page(
        request,
        user,
        "home.html",
        {
            "title": "Needs attention",
            "rows": rows,
            "issue_total": issue_total,
            "horizon_hours": f"{horizon.total_seconds() / 3600:g}",
            "refresh": REFRESH_SECONDS,
        },
    )


@router.get("/search")
async def search(request: Request, user: User, engine: EngineDep, q: str = "") -> Response:
    """Jump to an order by id, or to a customer by email."""
    query = q.strip()
    if not query:
        return _redirect(request, "/console")

    def find() -> str | None:
        with Session(engine) as session:
            view = get_order_view(session, query)
            if view is not None and may_see(user.caller, view.tenant):
                return f"/console/orders/{query}"
            if "@" in query:
                orders, _ = list_orders(
                    session,
                    customer_email=query,
                    archived=None,
                    limit=1,
                    tenant=user.caller.tenant,
                )
                if orders:
                    return f"/console/customers/{orders[0].customer_id}"
                account = find_by_email(session, query)
                if account is not None and may_see(user.caller, account.tenant):
                    return f"/console/customers/{account.id}"
        return None

    found = await run_in_threadpool(find)
    if found is None:
        raise NotFound(f"no order with the id {query!r} and no customer with that email")
    return _redirect(request, found)


# ----- flow tabs -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tab:
    name: str
    label: str
    count: int
    terminal: bool


def _tabs(flow: str, counts: dict[str, int]) -> list[Tab]:
    spec = present.spec_of(flow)
    tabs = [Tab(s.name, s.label, counts.get(s.name, 0), s.terminal) for s in spec.states]
    if spec.action("archive") is not None:
        tabs.append(Tab("archived", "Archived", counts.get("archived", 0), True))
    return tabs


@router.get("/flows/{flow}")
async def flow_list(
    request: Request,
    user: User,
    engine: EngineDep,
    flow: str,
    status: str = "",
    attention: str = "",
    page: str = "1",
) -> Response:
    """One flow's orders by status tab, with counts; filters and page in the URL."""
    if flow not in FLOW_NAMES:
        raise NotFound(f"unknown flow {flow!r}; known flows: {', '.join(FLOW_NAMES)}")
    spec = present.spec_of(flow)
    status = status or spec.initial
    archived = status == "archived"
    tab_state = None if archived else next((s for s in spec.states if s.name == status), None)
    if tab_state is None and not archived:
        raise NotFound(f"flow {flow} has no status {status!r}")
    # A hand-edited URL with a page that is no number gets the first page, not an error.
    page_number = min(max(int(page), 1), MAX_PAGE) if page.isdigit() else 1
    sort = OrderSort.next_deadline if tab_state and not tab_state.terminal else OrderSort.created

    def read() -> tuple[dict[str, int], list[OrderView], int]:
        with Session(engine) as session:
            counts = status_counts(session, flow, tenant=user.caller.tenant)
            orders, total = list_orders(
                session,
                flow=flow,
                status=None if archived else status,
                archived=archived,
                needs_attention=True if attention == "1" else None,
                sort=sort,
                limit=PAGE_SIZE,
                offset=(page_number - 1) * PAGE_SIZE,
                tenant=user.caller.tenant,
            )
            views = views_of(session, [o.order_id for o in orders])
        return counts, [views[o.order_id] for o in orders if o.order_id in views], total

    counts, views, total = await run_in_threadpool(read)
    return await _page(
        request,
        user,
        "flow.html",
        {
            "title": spec.title,
            "spec": spec,
            "flow": flow,
            "tabs": _tabs(flow, counts),
            "status": status,
            "attention": attention == "1",
            "views": views,
            "steps": {v.order_id: present.next_steps(v, user.caller) for v in views},
            "page": page_number,
            "pages": max(1, math.ceil(total / PAGE_SIZE)),
            "total": total,
            "refresh": REFRESH_SECONDS,
        },
    )


# ----- the order page --------------------------------------------------------------------


async def _order_context(
    request: Request,
    user: ConsoleUser,
    order_id: str,
    client: Any,
    engine: Any,
    timeouts: Any,
    settings: Any,
) -> dict[str, Any]:
    detail = await gateway.read_order(client, engine, order_id, timeouts=timeouts)
    require_sees(user.caller, detail.tenant, order_id)
    detail = shown_to(user.caller, detail)
    view = OrderView.model_validate(detail.model_dump(exclude={"pending"}))
    zone = present.order_zone(view)
    offers = present.offers(view, user.caller)
    web_ui = None
    if user.caller.role == KeyRole.admin and settings.temporal_web_ui_url:
        web_ui = (
            f"{settings.temporal_web_ui_url.rstrip('/')}/namespaces/"
            f"{settings.temporal_namespace}/workflows/order-{order_id}"
        )
    invoices = []
    if view.account is not None:
        invoices = await run_in_threadpool(_invoices, engine, order_id)
    return {
        "title": f"Order {order_id}",
        "view": view,
        "pending": detail.pending,
        "zone": zone,
        "offers": offers,
        "forms": {o.key: forms.fields_of(o.action.payload_schema) for o in offers},
        "timeline": present.timeline(view),
        "block": present.details(present.flow_block(view)),
        "web_ui": web_ui,
        "invoices": invoices,
        "email_pairs": [(order_id, n) for n in reversed(view.notifications)],
        "may_resend": present.may_resend(view, user.caller),
        "refundable": refundable(view),
        # The money inputs take major units (85.00), the payload minor units (8500).
        "money_step": 10 ** -minor_unit_exponent(view.currency),
        "refundable_major": refundable(view) / 10 ** minor_unit_exponent(view.currency),
        "refresh": REFRESH_BUSY_SECONDS if detail.pending else REFRESH_SECONDS,
    }


def _invoices(engine: Any, order_id: str) -> list[Any]:
    with Session(engine) as session:
        return list(invoices_of(session, order_id))


@router.get("/orders/{order_id}")
async def order_page(
    request: Request,
    user: User,
    order_id: str,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
    settings: SettingsDep,
    action: str = "",
    done: str = "",
) -> Response:
    """An order: badges, deadline card, in-progress banner, its block, actions, timeline."""
    context = await _order_context(request, user, order_id, client, engine, timeouts, settings)
    return await _page(
        request, user, "order.html", {**context, "open_action": action, "done": done}
    )


@router.post("/orders/{order_id}/actions/{offer}")
async def act(
    request: Request,
    user: User,
    order_id: str,
    offer: str,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
    settings: SettingsDep,
) -> Response:
    """Take one offered action (``<action>--<role>``) as the signed-in key, as the API does."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    action, _, role_name = offer.partition("--")
    error: ApiError | None = None
    try:
        await check_post(request, user, form.get(CSRF_FIELD))
        try:
            role = Role(role_name or "support")
        except ValueError:
            raise NotFound(f"no action {offer!r}") from None
        view = await gateway.read_view(client, engine, order_id, timeouts=timeouts)
        require_sees(user.caller, view.tenant, order_id)
        action_spec = present.spec_of(view.flow).action(action)
        if action_spec is None:
            raise NotFound(f"flow {view.flow} has no action {action!r}")
        payload = forms.payload_from_form(
            action_spec.payload_schema,
            form,
            currency=view.currency,
            zone=present.order_zone(view),
        )
        money_moved = action_spec.money_moved(view)
        if money_moved and form.get("confirm") != "yes":
            raise Unprocessable(f"confirm first: {money_moved}")
        try:
            body = ActionBody.model_validate(
                {"actor": present.actor_for(view, role), "payload": payload}
            )
        except ValidationError as err:
            raise Unprocessable(str(err.errors()[0]["msg"])) from None
        require_actor(user.caller, body.actor)
        await gateway.run_action(
            client, order_id, action, body.request(key_name=user.caller.name), timeouts=timeouts
        )
    except ApiError as err:
        error = err
    except (RPCError, RuntimeError, SQLAlchemyError) as exc:
        error = unavailable(exc)
        if error is None:
            raise
    if error is None:
        return _redirect(request, f"/console/orders/{order_id}?done={action}")
    if _is_htmx(request):
        # In place, in the dialog that sent it: the API's reason as it said it.
        return render(
            request,
            "action_error.html",
            {"error": error, "unavailable": error.status_code == 503},
            status=error.status_code,
        )
    context = await _order_context(request, user, order_id, client, engine, timeouts, settings)
    return await _page(
        request,
        user,
        "order.html",
        {
            **context,
            "open_action": offer,
            "action_error": error,
            "form": form,
            "refresh_url": f"/console/orders/{order_id}",
        },
        status=error.status_code,
    )


@router.get("/orders/{order_id}/receipt")
async def order_receipt(
    request: Request,
    user: User,
    order_id: str,
    client: TemporalClientDep,
    engine: EngineDep,
    timeouts: TimeoutsDep,
    format: str = "html",
) -> Response:
    """A completed account order's receipt (HTML or PDF), as ``GET /orders/{id}/receipt``."""
    if format not in ("html", "pdf"):
        raise Unprocessable("format is html or pdf")
    return await accounts.receipt(order_id, user.caller, client, engine, timeouts, format)


# ----- customers and accounts ------------------------------------------------------------


@router.get("/customers/{customer_id}")
async def customer_page(
    request: Request, user: User, engine: EngineDep, customer_id: str
) -> Response:
    """A customer's orders and email log; for an account (seed 004) also its invoices."""

    def read() -> dict[str, Any]:
        with Session(engine) as session:
            orders, total = list_orders(
                session,
                customer_id=customer_id,
                archived=None,
                limit=100,
                tenant=user.caller.tenant,
            )
            views = views_of(session, [o.order_id for o in orders])
            account = get_account(session, customer_id)
            if account is not None and not may_see(user.caller, account.tenant):
                account = None
            invoices = [inv for o in orders for inv in invoices_of(session, o.order_id)]
        return {
            "views": [views[o.order_id] for o in orders if o.order_id in views],
            "total": total,
            "account": account,
            "invoices": invoices,
        }

    data = await run_in_threadpool(read)
    if not data["views"] and data["account"] is None:
        raise NotFound(f"no customer or account {customer_id!r}")
    emails = sorted(
        ((v.order_id, n) for v in data["views"] for n in v.notifications),
        key=lambda pair: pair[1].at,
        reverse=True,
    )
    first = data["views"][0] if data["views"] else None
    return await _page(
        request,
        user,
        "customer.html",
        {
            "title": f"Customer {customer_id}",
            "customer_id": customer_id,
            "customer": first.customer if first else None,
            "emails": emails,
            "email_pairs": emails,
            "may_resend": Role.support in ACTING_ROLES[user.caller.role],
            "refresh": REFRESH_SECONDS,
            **data,
        },
    )


__all__ = ["router", "templates"]
