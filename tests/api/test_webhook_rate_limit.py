"""Webhooks are rate limited per client address, before the body is even verified."""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from api.ratelimit import RateLimiter
from db.engine import make_engine
from tests.support.api import api_client, make_settings


def test_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(per_minute=2, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == 30.0  # one token every 30 s
    assert limiter.take("b") == 0  # another address has its own bucket
    now[0] = 30.0
    assert limiter.take("a") == 0
    assert limiter.take("a") > 0


async def test_flood_of_webhooks_gets_429_with_retry_after(time_env: WorkflowEnvironment) -> None:
    settings = make_settings("tq-rate", webhook_rate_per_minute=3)
    engine = make_engine("sqlite://")
    async with api_client(settings, time_env.client, engine, api_key=None) as api:
        answers = [
            await api.post("/webhooks/stripe", content=b"{}", headers={"Stripe-Signature": "x"})
            for _ in range(4)
        ]
    engine.dispose()
    assert [a.status_code for a in answers] == [401, 401, 401, 429]
    assert answers[3].headers["Retry-After"] == "20"
    assert answers[3].json() == {
        "code": "rate_limited",
        "detail": "too many webhook requests from this address",
    }


async def test_limit_zero_means_unlimited(time_env: WorkflowEnvironment) -> None:
    settings = make_settings("tq-rate-off", webhook_rate_per_minute=0)
    engine = make_engine("sqlite://")
    async with api_client(settings, time_env.client, engine, api_key=None) as api:
        codes = {(await api.post("/webhooks/stripe", content=b"{}")).status_code for _ in range(20)}
    engine.dispose()
    assert codes == {401}
