"""The API's only way to the orders: Temporal (start, update, signal, query) and the read model.

Every Temporal failure that means something to a client is translated here into an
:class:`~api.errors.ApiError`; routes stay a few lines each.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import PendingActivityState, WorkflowExecutionStatus
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import ApplicationError, TemporalError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.auth import Caller, require_sees
from api.errors import (
    ActionFailed,
    ApiError,
    Conflict,
    ErrorCode,
    Forbidden,
    GatewayTimeout,
    NotFound,
    TooManyRequests,
    Unavailable,
    Unprocessable,
    is_connect_failure,
)
from api.schemas import OrderDetail, PendingActivity
from config.settings import Settings
from db.queries import get_order_view, recorded_tenant
from flows.catalog import flow_spec
from flows.shop_order.models import (
    SALESFORCE_CALLBACK_UPDATE,
    SalesforceCallback,
    SalesforceCallbackResult,
)
from models import errors, search
from models.common import Actor, Role, request_fingerprint
from models.ids import order_workflow_id
from models.orders import ActionRequest, CreateOrderRequest, OrderView, StartOrderInput, StripeEvent
from telemetry.logs import bind_order_id

log = logging.getLogger(__name__)
UpdateResult = TypeVar("UpdateResult", bound=BaseModel)
Found = TypeVar("Found")

VIEW_QUERY = "view"
STRIPE_EVENT_SIGNAL = "stripe_event"
API_ACTOR = Actor(role=Role.system, id="api")


@dataclass(frozen=True)
class Timeouts:
    """How long the API waits on Temporal before answering without it."""

    # A query needs a worker; without one the read model answers instead.
    query: timedelta = timedelta(seconds=10)
    # Any other call (start, signal, describe): the server alone answers these.
    rpc: timedelta = timedelta(seconds=10)
    # Longer than a payment's activity budget (2 min), so a slow card still answers;
    # past it the client gets a 504 and the action may still complete.
    action: timedelta = timedelta(seconds=150)


# The workflow's error types carry their HTTP status (models.errors.HTTP_STATUS).
_BY_STATUS: dict[int, type[ApiError]] = {
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    422: Unprocessable,
    503: Unavailable,
}
# The workflow's refusals whose code is not their status's default.
_CODES = {
    errors.NOT_ALLOWED: ErrorCode.not_allowed,
    errors.PAYMENT_DECLINED: ErrorCode.payment_declined,
}
_UPDATE_LIMIT_TEXT = "in-flight updates"
_RUNNING = WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING


def new_order_id() -> str:
    """A fresh order id (20 hex characters) for a request that did not bring one."""
    return uuid.uuid4().hex[:20]


def _handle(client: Client, order_id: str) -> WorkflowHandle[Any, OrderView]:
    try:
        workflow_id = order_workflow_id(order_id)
    except ValueError:
        # An id no order can have names no order: 404, not a validation error.
        raise NotFound(f"order {order_id!r} not found") from None
    # Every flow's workflow has the same surface (workflows/base.py), whatever its type.
    return client.get_workflow_handle(workflow_id, result_type=OrderView)


async def _closed_message(
    handle: WorkflowHandle[Any, OrderView], order_id: str, timeouts: Timeouts
) -> str:
    """``order X is closed: its payment deadline passed at ...``: how and when, never bare."""
    try:
        async with asyncio.timeout(timeouts.rpc.total_seconds()):
            # A closed order's result is its last view, read from its history's last event.
            view = await handle.result(rpc_timeout=timeouts.rpc)
    except (TemporalError, RPCError, TimeoutError) as err:
        log.warning("closed order %s: its last view could not be read: %r", order_id, err)
        return f"order {order_id} is closed"
    if view.closure:
        return f"order {order_id} is closed: {view.closure}"
    closed = f" since {view.closed_at:%Y-%m-%d %H:%M} UTC" if view.closed_at else ""
    return f"order {order_id} is closed ({view.stage}{closed})"


async def _exists(client: Client, workflow_id: str, timeouts: Timeouts) -> bool:
    """True if the workflow exists, running or closed."""
    return await _status(client, workflow_id, timeouts) is not None


async def _is_closed(client: Client, workflow_id: str, timeouts: Timeouts) -> bool:
    """True if the workflow exists and is no longer running (False if it does not exist)."""
    status = await _status(client, workflow_id, timeouts)
    return status is not None and status != _RUNNING


async def _status(
    client: Client, workflow_id: str, timeouts: Timeouts
) -> WorkflowExecutionStatus.ValueType | None:
    """The workflow's execution status, or None if it does not exist."""
    # The raw RPC, not handle.describe(): the SDK's decoding of search attributes fails on
    # an unset Datetime attribute as the time-skipping server reports it, and only the
    # status is needed here.
    request = DescribeWorkflowExecutionRequest(
        namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
    )
    try:
        response = await client.workflow_service.describe_workflow_execution(
            request, retry=True, timeout=timeouts.rpc
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return None
        raise
    return response.workflow_execution_info.status


def _from_read_model(
    engine: Engine, order_id: str, read: Callable[[Session, str], Found | None]
) -> Found | None:
    """What ``read`` finds of the order in the read model; None if missing or unreadable."""
    try:
        with Session(engine) as session:
            return read(session, order_id)
    except SQLAlchemyError as err:
        log.warning("order database unreadable while reading %s: %s", order_id, err)
        return None


async def database_view(engine: Engine, order_id: str) -> OrderView | None:
    """The read model's copy of an order's view, or None (missing or unreadable)."""
    return await run_in_threadpool(_from_read_model, engine, order_id, get_order_view)


async def read_view(
    client: Client, engine: Engine, order_id: str, *, timeouts: Timeouts
) -> OrderView:
    """The order's live view from its workflow, else the read model's copy.

    The query needs a worker; when none answers (or Temporal is down) the database's
    copy, written by the workflow's activities, is the best answer there is.
    """
    handle = _handle(client, order_id)
    try:
        view: OrderView = await handle.query(
            VIEW_QUERY, result_type=OrderView, rpc_timeout=timeouts.query
        )
        return view
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            # The workflow may be gone past its retention while the read model remains.
            stored = await database_view(engine, order_id)
            if stored is None:
                raise NotFound(f"order {order_id} not found") from None
            return stored
        reason = f"Temporal answered {err.status.name}: {err.message}"
    except WorkflowQueryFailedError as err:
        reason = f"the view query failed: {err.message}"
    except RuntimeError as err:
        if not is_connect_failure(err):
            raise
        reason = "Temporal is unreachable"
    log.warning("live view of order %s unavailable (%s); reading the database", order_id, reason)
    stored = await database_view(engine, order_id)
    if stored is None:
        raise Unavailable(
            f"the view of order {order_id} is unavailable ({reason}) and the order "
            "database has no copy yet; retry shortly",
            headers={"Retry-After": "5"},
        )
    return stored


async def require_visible(
    caller: Caller, client: Client, engine: Engine, order_id: str, *, timeouts: Timeouts
) -> None:
    """404 unless the caller's key may see the order (:func:`api.auth.may_see`).

    For a key without a tenant nothing is looked up. Otherwise the order's tenant comes
    from the read model, or from the live view when the read model has no row yet (an
    order created a moment ago); an order neither knows is a 404 as well.
    """
    if caller.tenant is None:
        return
    recorded = await run_in_threadpool(_from_read_model, engine, order_id, recorded_tenant)
    if recorded is not None:
        tenant = recorded[0]
    else:
        tenant = (await read_view(client, engine, order_id, timeouts=timeouts)).tenant
    require_sees(caller, tenant, order_id)


def initial_search_attributes(
    request: CreateOrderRequest, initial_status: str
) -> TypedSearchAttributes:
    """The search attributes an order starts with (the workflow keeps them up to date)."""
    return TypedSearchAttributes(
        [
            SearchAttributePair(search.ORDER_STATUS, initial_status),
            SearchAttributePair(search.ORDER_FLOW, request.flow),
            SearchAttributePair(search.ORDER_CUSTOMER, request.customer_ref()),
            SearchAttributePair(search.ORDER_NEEDS_ATTENTION, False),
        ]
    )


async def read_order(
    client: Client, engine: Engine, order_id: str, *, timeouts: Timeouts
) -> OrderDetail:
    """The order's view (:func:`read_view`) with its pending activities, asked together."""
    view, pending = await asyncio.gather(
        read_view(client, engine, order_id, timeouts=timeouts),
        pending_activities(client, order_id, timeouts=timeouts),
    )
    return OrderDetail.model_validate({**view.model_dump(), "pending": pending})


async def pending_activities(
    client: Client, order_id: str, *, timeouts: Timeouts
) -> list[PendingActivity] | None:
    """What Temporal knows of the order's activities in flight or waiting to retry.

    Support sees "charge 85.00 EUR, attempt 4, last failure: ..." while a payment
    provider is down. None when Temporal cannot be asked (the view still answers).
    """
    try:
        workflow_id = order_workflow_id(order_id)
        response = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            ),
            retry=True,
            timeout=timeouts.rpc,
        )
    except (ValueError, RPCError, RuntimeError) as err:
        log.info("pending activities of order %s unavailable: %s", order_id, err)
        return None
    infos = list(response.pending_activities)
    if not infos:
        return []
    summaries = await _activity_summaries(
        client, workflow_id, {info.activity_id for info in infos}, timeouts
    )
    return [_pending(info, summaries.get(info.activity_id)) for info in infos]


async def _activity_summaries(
    client: Client, workflow_id: str, activity_ids: set[str], timeouts: Timeouts
) -> dict[str, str]:
    """The summaries ("charge 85.00 EUR") the workflow gave these activities when it
    scheduled them: they are in the history only (encrypted like every payload)."""
    found: dict[str, str] = {}
    try:
        events = client.get_workflow_handle(workflow_id).fetch_history_events(
            rpc_timeout=timeouts.rpc
        )
        async for event in events:
            attributes = event.activity_task_scheduled_event_attributes
            if attributes.activity_id not in activity_ids:
                continue
            if event.user_metadata.HasField("summary"):
                (summary,) = await client.data_converter.decode(
                    [event.user_metadata.summary], [str]
                )
                found[attributes.activity_id] = str(summary)
    except Exception as err:  # a summary is a nicety: the activity type still names it
        log.info("activity summaries of %s unavailable: %r", workflow_id, err)
    return found


def _pending(info: PendingActivityInfo, summary: str | None) -> PendingActivity:
    state = PendingActivityState.Name(info.state).removeprefix("PENDING_ACTIVITY_STATE_")
    return PendingActivity(
        activity=summary or info.activity_type.name,
        activity_type=info.activity_type.name,
        state=state.lower(),
        attempt=info.attempt,
        maximum_attempts=info.maximum_attempts or None,
        last_failure=info.last_failure.message if info.HasField("last_failure") else None,
        last_attempt_at=_time(
            info.last_attempt_complete_time, info.HasField("last_attempt_complete_time")
        ),
        next_attempt_at=_time(
            info.next_attempt_schedule_time, info.HasField("next_attempt_schedule_time")
        ),
    )


def _time(stamp: Timestamp, present: bool) -> datetime | None:
    return stamp.ToDatetime(tzinfo=UTC) if present else None


async def start_order(
    client: Client,
    engine: Engine,
    settings: Settings,
    request: CreateOrderRequest,
    *,
    timeouts: Timeouts,
    created_by: Actor = API_ACTOR,
    start_fields: dict[str, Any] | None = None,
    tenant: str | None = None,
) -> tuple[OrderView, bool]:
    """Start the order's workflow, or find the one already started; True if it is new.

    A repeated request with the same id, body and tenant returns the existing order; the
    same id with another body or of another tenant is a conflict. ``start_fields`` are the
    flow's own fields of the start input (an account order's account).
    """
    order_id = request.order_id or new_order_id()
    bind_order_id(order_id)  # the id is in the body, not the path: name it on the log lines
    request = request.model_copy(update={"order_id": order_id})
    fingerprint = request_fingerprint(request)
    policy = settings.policy_for(request.flow)
    received_at = datetime.now(UTC)
    refusal = request.refusal(policy, received_at)
    # A refusal that depends on the time (an appointment now in the past) must not turn
    # the repeat of an accepted start into a 422: the existing order answers instead.
    exists = refusal is not None and await _exists(client, order_workflow_id(order_id), timeouts)
    if refusal is not None and not exists:
        raise Unprocessable(refusal)
    spec = flow_spec(request.flow, policy)
    assert spec is not None, f"{request.flow} is in CreateOrderRequest but not in the catalog"
    start = StartOrderInput(
        order_id=order_id,
        request=request,
        request_fingerprint=fingerprint,
        policy=policy.model_dump(mode="json"),
        created_by=created_by,
        received_at=received_at,
        activities=settings.activities,
        tenant=tenant,
        **request.pinned(received_at),
        **(start_fields or {}),
    )
    attributes = initial_search_attributes(request, spec.initial)
    created = not exists
    try:
        if exists:
            raise WorkflowAlreadyStartedError(order_workflow_id(order_id), request.flow)
        # The workflow type is the flow's name (workflows/registry.py).
        await client.start_workflow(
            request.flow,
            start,
            id=order_workflow_id(order_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=attributes,
            static_summary=request.web_summary(),
            static_details="\n".join(request.web_details()),
            rpc_timeout=timeouts.rpc,
        )
    except WorkflowAlreadyStartedError:
        created = False
    log.info("order %s %s", order_id, "started" if created else "already exists")
    try:
        view = await read_view(client, engine, order_id, timeouts=timeouts)
    except Unavailable as err:
        if not created:
            raise
        raise Unavailable(
            f"order {order_id} was accepted but its view is not available yet "
            f"({err.detail}); repeat the request or GET /orders/{order_id}",
            headers={"Retry-After": "5"},
        ) from None
    if not created and view.tenant != tenant:
        # Another tenant's order: its id is taken, but nothing of it is shown.
        raise Conflict(f"order {order_id} already exists; choose another order id")
    if not created and view.request_fingerprint != fingerprint:
        raise Conflict(f"order {order_id} already exists with a different body")
    return view, created


async def run_action(
    client: Client, order_id: str, action: str, request: ActionRequest, *, timeouts: Timeouts
) -> OrderView:
    """Send one action to the order's workflow as an Update; the new view on success."""
    if request.actor.role == Role.system:
        raise Unprocessable("the system role is reserved for orderclock itself")
    return await _update(client, order_id, action, request, OrderView, timeouts=timeouts)


async def send_salesforce_callback(
    client: Client, callback: SalesforceCallback, *, timeouts: Timeouts
) -> SalesforceCallbackResult:
    """Deliver a Salesforce callback to its order (an Update: a refusal is the caller's 409)."""
    return await _update(
        client,
        callback.order_id,
        SALESFORCE_CALLBACK_UPDATE,
        callback,
        SalesforceCallbackResult,
        timeouts=timeouts,
    )


async def _update(
    client: Client,
    order_id: str,
    name: str,
    argument: BaseModel,
    result_type: type[UpdateResult],
    *,
    timeouts: Timeouts,
) -> UpdateResult:
    """Run the Update ``name`` on the order's workflow; Temporal's failures as API errors."""
    handle = _handle(client, order_id)
    try:
        async with asyncio.timeout(timeouts.action.total_seconds()):
            result: UpdateResult = await handle.execute_update(
                name, argument, result_type=result_type
            )
        return result
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        if isinstance(cause, ApplicationError) and cause.type in errors.HTTP_STATUS:
            raise _rejection(cause.type, cause.message) from None
        if _UPDATE_LIMIT_TEXT in str(cause):
            raise _busy(order_id) from None
        if await _is_closed(client, handle.id, timeouts):
            raise Conflict(
                await _closed_message(handle, order_id, timeouts), code=ErrorCode.not_allowed
            ) from None
        log.error("action %s on order %s failed unexpectedly: %r", name, order_id, cause)
        raise ActionFailed(f"action {name} on order {order_id} failed: {cause}") from None
    except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):
        raise GatewayTimeout(
            f"timed out waiting for action {name} on order {order_id}; it may still "
            f"complete: check GET /orders/{order_id}"
        ) from None
    except RPCError as err:
        if err.status == RPCStatusCode.RESOURCE_EXHAUSTED or _UPDATE_LIMIT_TEXT in err.message:
            raise _busy(order_id) from None
        if err.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
            if await _is_closed(client, handle.id, timeouts):
                raise Conflict(
                    await _closed_message(handle, order_id, timeouts), code=ErrorCode.not_allowed
                ) from None
            if err.status == RPCStatusCode.NOT_FOUND:
                raise NotFound(f"order {order_id} not found") from None
        raise


def _rejection(error_type: str, message: str) -> ApiError:
    status_code = errors.HTTP_STATUS[error_type]
    error = _BY_STATUS.get(status_code, ApiError)(message, code=_CODES.get(error_type))
    error.status_code = status_code
    return error


def _busy(order_id: str) -> TooManyRequests:
    return TooManyRequests(
        f"order {order_id} has too many actions in flight; retry shortly", retry_after_seconds=1
    )


async def forward_stripe_event(
    client: Client, order_id: str, event: StripeEvent, *, timeouts: Timeouts
) -> str | None:
    """Signal a verified Stripe event to its order; the reason if it was ignored instead."""
    handle = _handle(client, order_id)
    try:
        await handle.signal(STRIPE_EVENT_SIGNAL, event, rpc_timeout=timeouts.rpc)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        if await _is_closed(client, handle.id, timeouts):
            return await _closed_message(handle, order_id, timeouts)
        return f"order {order_id} not found"
    return None
