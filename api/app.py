"""The orderclock HTTP API.

Run it with the factory, which reads the settings (``ORDERCLOCK_*``) from the environment::

    uvicorn --factory api.app:create_app --host 127.0.0.1 --port 8000

(``uvicorn api.app:app`` works too: ``app`` is built on first access, for tools that
want a module attribute.) Tests call :func:`create_app` with their own settings,
Temporal client and engine; nothing then is connected or created by the app.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from temporalio.client import Client
from temporalio.service import RetryConfig

import config.temporal
from api import openapi
from api.bodies import BodyLimitMiddleware
from api.console import mount_console
from api.errors import install_error_handlers
from api.gateway import Timeouts
from api.keycache import KeyCache
from api.ratelimit import FailedKeyGuard, RateLimiter
from api.routes import accounts, callbacks, flows, health, orders, webhooks
from api.routes.docs import install_docs
from codec import EncryptionCodec
from codec.server import CODEC_PATH, create_codec_app
from config.settings import Settings, get_settings
from db.engine import make_engine
from telemetry.api import ApiMetrics, MetricsMiddleware
from telemetry.logs import RequestContextMiddleware

# The SDK retries busy or unreachable servers for up to 10 s (an Update over the
# in-flight limit took 15 s to fail); a client of the API would rather get its 429/503
# in about 2 s and retry itself.
API_RETRY = RetryConfig(max_interval_millis=500, max_elapsed_time_millis=2000)


async def connect_temporal(settings: Settings) -> Client:
    """The API's Temporal client: pydantic payloads, short RPC retries, connected lazily."""
    # Lazy: the API starts (and answers 503) while Temporal is still coming up.
    return await config.temporal.connect(settings, retry_config=API_RETRY, lazy=True)


def create_app(
    settings: Settings | None = None,
    *,
    temporal_client: Client | None = None,
    engine: Engine | None = None,
    timeouts: Timeouts | None = None,
) -> FastAPI:
    """The API application; what is not handed in is connected by its lifespan."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned_engine: Engine | None = None
        if app.state.temporal_client is None:
            app.state.temporal_client = await connect_temporal(settings)
        if app.state.engine is None:
            owned_engine = make_engine(settings.database_url)
            app.state.engine = owned_engine
        try:
            yield
        finally:
            if owned_engine is not None:
                owned_engine.dispose()

    app = FastAPI(
        title="orderclock",
        summary="Deadline-driven orders, each a durable Temporal workflow.",
        version="0.1.0",
        lifespan=lifespan,
        generate_unique_id_function=openapi.operation_id,
        # Served from vendored files by install_docs: FastAPI's pages load from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    openapi.install(app)
    app.state.settings = settings
    app.state.temporal_client = temporal_client
    app.state.engine = engine
    app.state.timeouts = timeouts or Timeouts()
    app.state.metrics = ApiMetrics()
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)
    app.state.key_guard = FailedKeyGuard(settings.api_wrong_keys_per_minute)
    app.state.webhook_limiter = RateLimiter(settings.webhook_rate_per_minute)
    app.state.callback_limiter = RateLimiter(settings.webhook_rate_per_minute)
    install_error_handlers(app)
    # Innermost of ours, so the access log and the metrics count its 413s too.
    app.add_middleware(
        BodyLimitMiddleware,
        default=settings.max_body_bytes,
        limits={
            CODEC_PATH: settings.codec_max_body_bytes,
            webhooks.STRIPE_PATH: webhooks.MAX_WEBHOOK_BYTES,
            callbacks.SALESFORCE_PATH: callbacks.MAX_CALLBACK_BYTES,
        },
    )
    # Outermost last: the log context holds for the whole request, so the access line that
    # the metrics middleware writes carries the order id too.
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestContextMiddleware)
    # Orders, flows and accounts need an API key (api.deps.key_protected_router); the
    # webhook (Stripe's signature), the Salesforce callbacks (a shared secret), the probes,
    # the docs and the codec (its own token) authenticate their own way or not at all.
    for router in (
        orders.router,
        orders.notifications_router,
        flows.router,
        accounts.router,
        accounts.order_router,
        webhooks.router,
        callbacks.router,
        health.router,
    ):
        app.include_router(router)
    install_docs(app)
    # The support console (api/console): its own session cookie, never the API's bearer keys.
    mount_console(app)
    if settings.payload_keys is not None:
        # The Temporal Web UI decrypts the orders' payloads through here (CORS for its
        # origin only; ORDERCLOCK_CODEC_TOKEN required, else every call is refused).
        token = settings.codec_token
        codec_app = create_codec_app(
            EncryptionCodec.from_spec(settings.payload_keys.get_secret_value()),
            allowed_origins=settings.codec_web_origins,
            token=token.get_secret_value() if token else None,
            prefix="",
            max_body_bytes=settings.codec_max_body_bytes,
        )
        app.mount(CODEC_PATH, codec_app)
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> FastAPI:
    # Built on first access so importing this module never reads the environment.
    global _app
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _app is None:
        _app = create_app()
    return _app
