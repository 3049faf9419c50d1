"""Wrong API keys are limited per client address (429 with Retry-After, no database read),
while keys the API has seen valid keep working from the same address."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, event
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.errors import TooManyRequests
from api.ratelimit import FailedKeyGuard
from tests.support.api import BASE_URL, bearer, make_key, make_settings

WRONG = "ock_" + "x" * 43


def test_guard_blocks_an_address_after_its_wrong_keys_but_not_known_good_keys() -> None:
    now = [0.0]
    guard = FailedKeyGuard(per_minute=2, clock=lambda: now[0])
    guard.succeeded("good")
    for _ in range(2):
        guard.check("a", "wrong")
        guard.failed("a", "wrong")
    with pytest.raises(TooManyRequests) as blocked:
        guard.check("a", "wrong")
    assert blocked.value.headers == {"Retry-After": "30"}
    guard.check("a", "good")  # known good: never held up
    guard.check("b", "wrong")  # another address has its own bucket
    now[0] = 30.0
    guard.check("a", "wrong")  # refilled
    # A known key that turns out wrong (revoked) is forgotten and counts as wrong.
    guard.failed("a", "good")
    with pytest.raises(TooManyRequests):
        guard.check("a", "good")


async def test_many_wrong_keys_get_429_and_a_valid_key_still_works(
    time_env: WorkflowEnvironment, api_engine: Engine
) -> None:
    # No key cache: every request with the valid key goes through the guard too.
    settings = make_settings("tq-wrong-keys", api_wrong_keys_per_minute=5, api_key_cache_seconds=0)
    _, valid = make_key(api_engine, "service")
    app = create_app(settings, temporal_client=time_env.client, engine=api_engine)
    reads = [0]

    def count(*_: Any) -> None:
        reads[0] += 1

    event.listen(api_engine, "before_cursor_execute", count)
    try:
        async with (
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 40000)),
                base_url=BASE_URL,
            ) as same,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app, client=("10.0.0.2", 40000)),
                base_url=BASE_URL,
            ) as other,
        ):
            assert (await same.get("/flows", headers=bearer(valid))).status_code == 200
            wrong = [
                (await same.get("/flows", headers=bearer(f"{WRONG}{n}"))).status_code
                for n in range(5)
            ]
            assert wrong == [401] * 5
            reads_before = reads[0]
            blocked = [await same.get("/flows", headers=bearer(f"{WRONG}b{n}")) for n in range(20)]
            assert {r.status_code for r in blocked} == {429}
            assert blocked[0].headers["Retry-After"] == "12"  # 5 a minute: one every 12 s
            assert blocked[0].json() == {
                "code": "rate_limited",
                "detail": "too many requests with a wrong API key from this address",
            }
            assert reads[0] == reads_before, "a blocked wrong key still read the database"
            # The valid key from the same address: unaffected, and still checked each time.
            assert (await same.get("/flows", headers=bearer(valid))).status_code == 200
            assert reads[0] > reads_before
            # Another address: its own allowance.
            assert (await other.get("/flows", headers=bearer(WRONG))).status_code == 401
            # No key at all costs nothing and is not counted: still the 401 that explains.
            assert (await same.get("/flows")).status_code == 401
    finally:
        event.remove(api_engine, "before_cursor_execute", count)
