"""Run localstripe (a local Stripe stand-in) on loopback, with its state in a chosen file.

localstripe on its own binds every interface and keeps its pickle in
``/tmp/localstripe.pickle``; this wrapper binds ``127.0.0.1`` (or ``--host``) only and
stores the pickle at ``--state-file``.

Command line (the dev supervisor starts exactly this as a child process)::

    python -m devstack.localstripe_server --port 8420 --state-file .orderclock/localstripe.pickle

Options: ``--host`` (default 127.0.0.1), ``--port`` (0 picks a free port),
``--state-file``, ``--from-scratch`` (ignore the saved state), and ``--webhook-url URL``
to register a webhook at start-up (id ``orderclock``; the secret comes from
``--webhook-secret`` or ``ORDERCLOCK_STRIPE_WEBHOOK_SECRET``). localstripe keeps webhooks in
memory only, so they must be registered again after every start; this option or
:func:`register_webhook` does that.

Once it accepts connections it prints one line to stdout and flushes it::

    localstripe listening on http://127.0.0.1:8420

Unlike localstripe itself, the server honours ``Idempotency-Key`` on POST as Stripe documents
it (:class:`IdempotencyLayer`): the first answer under a key (per API key, for 24 hours) is
kept, in a file beside the state file so a restart keeps it; a repeat with the same path
and parameters gets that answer again with ``Idempotent-Replayed: true``; a repeat with
other parameters gets Stripe's 400 ``idempotency_error``; a repeat while the first is still
running gets Stripe's 409 ``idempotency_key_in_use`` (the client retries it later and then
gets the replay), so two requests under one key never both execute.

Health check: ``GET http://127.0.0.1:<port>/_config/health`` answers 200 ``{"status": "ok"}``
without an API key. SIGTERM or SIGINT stop it cleanly. Point the SDK at it with
``StripeClient("sk_test_...", base_addresses={"api": "http://127.0.0.1:<port>"})``; any key
starting ``sk_`` is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import pickle
import signal
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx

READY_PREFIX = "localstripe listening on "
HEALTH_PATH = "/_config/health"
DEFAULT_WEBHOOK_ID = "orderclock"
WEBHOOK_SECRET_ENV = "ORDERCLOCK_STRIPE_WEBHOOK_SECRET"
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# Stripe prunes keys after at least 24 hours; a reused key after that is a new request.
IDEMPOTENCY_TTL_SECONDS = 24 * 3600
# Bounded like everything else: past it, the oldest answers are forgotten first.
IDEMPOTENCY_MAX_KEYS = 10_000


def register_webhook(
    base_url: str,
    webhook_id: str,
    url: str,
    secret: str,
    events: Sequence[str] | None = None,
    timeout: float = 5.0,
) -> None:
    """Register (or replace) a webhook on a running localstripe."""
    body: dict[str, Any] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    response = httpx.post(
        f"{base_url.rstrip('/')}/_config/webhooks/{webhook_id}", json=body, timeout=timeout
    )
    response.raise_for_status()


@dataclass(frozen=True)
class _Answer:
    """The first answer under an idempotency key, and what it answered."""

    request: tuple[str, str]  # the endpoint and its canonical parameters
    status: int
    body: bytes
    content_type: str
    at: float


def _error(status: int, error_type: str, message: str, code: str | None = None) -> Any:
    from aiohttp import web

    error = {"type": error_type, "message": message} | ({"code": code} if code else {})
    return web.json_response({"error": error}, status=status)


def _parameters(content_type: str, body: bytes) -> str:
    """The request's parameters in a canonical form: the same parameters, the same text."""
    if content_type == "application/json":
        try:
            return json.dumps(json.loads(body), sort_keys=True)
        except ValueError:
            return body.decode("utf-8", "replace")
    return repr(sorted(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))


class IdempotencyLayer:
    """Stripe's ``Idempotency-Key`` handling, as aiohttp middleware in front of localstripe.

    Keys are scoped by the API key (``Authorization``), as Stripe scopes them by account.
    Only answers of requests that passed authentication are kept; a request refused by the
    middleware itself (400 reused key, 409 in use) keeps nothing, as at Stripe.
    """

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._answers: dict[tuple[str, str], _Answer] = {}
        self._running: set[tuple[str, str]] = set()

    def load(self) -> None:
        """Read the kept answers (nothing if there is no file yet)."""
        if self.path is None:
            return
        try:
            with self.path.open("rb") as f:
                self._answers = pickle.load(f)
        except FileNotFoundError:
            self._answers = {}

    def clear(self) -> None:
        """Forget every answer (``--from-scratch``)."""
        self._answers = {}
        if self.path is not None:
            self.path.unlink(missing_ok=True)

    def _save(self) -> None:
        now = self._clock()
        for scope in [s for s, a in self._answers.items() if now - a.at > IDEMPOTENCY_TTL_SECONDS]:
            del self._answers[scope]
        while len(self._answers) > IDEMPOTENCY_MAX_KEYS:
            del self._answers[next(iter(self._answers))]
        if self.path is not None:
            _write_atomically(self.path, self._answers)

    def middleware(self) -> Any:
        """The layer as aiohttp middleware (outermost, to see every answer given)."""
        from aiohttp import web

        @web.middleware
        async def idempotent(request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
            return await self.handle(request, handler)

        return idempotent

    async def handle(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        """Replay, refuse or run a request according to its ``Idempotency-Key``."""
        from aiohttp import web

        key = request.headers.get(IDEMPOTENCY_HEADER)
        if request.method != "POST" or not key or request.path.startswith("/_config/"):
            return await handler(request)
        scope = (request.headers.get("Authorization", ""), key)
        body = await request.read()  # aiohttp keeps it: localstripe reads it again
        asked = (
            f"{request.method} {request.path}?{request.query_string}",
            _parameters(request.content_type, body),
        )
        first = self._answers.get(scope)
        if first is not None and self._clock() - first.at > IDEMPOTENCY_TTL_SECONDS:
            first = None
        if first is not None:
            if first.request != asked:
                return _error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            return web.Response(
                status=first.status,
                body=first.body,
                content_type=first.content_type,
                headers={REPLAYED_HEADER: "true", IDEMPOTENCY_HEADER: key},
            )
        if scope in self._running:
            return _error(
                409,
                "idempotency_error",
                "There is currently another in-progress request using this Stripe "
                "Idempotency Key. Please retry your request after the other request has "
                "completed.",
                "idempotency_key_in_use",
            )
        self._running.add(scope)
        try:
            response = await handler(request)
        finally:
            self._running.discard(scope)
        # A 401 never reached an endpoint: Stripe keeps nothing for it either.
        if isinstance(response, web.Response) and response.status != 401:
            content = response.body if isinstance(response.body, bytes) else b""
            self._answers[scope] = _Answer(
                asked, response.status, content, response.content_type, self._clock()
            )
            self._save()
            response.headers[IDEMPOTENCY_HEADER] = key
        return response


def _write_atomically(path: Path, value: Any) -> None:
    # Written beside the target and renamed, so a crash mid-write keeps the old state.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def idempotency_file(state_file: Path) -> Path:
    """Where the kept idempotent answers live: beside the state file."""
    return state_file.with_name(state_file.name + ".idempotency")


def _use_state_file(path: Path) -> None:
    """Make localstripe's store load and save ``path`` instead of its fixed /tmp file."""
    from localstripe.resources import Store

    def load(self: Any) -> None:
        try:
            with path.open("rb") as f:
                old = pickle.load(f)
        except FileNotFoundError:
            return
        self.clear()
        self.update(old)

    def dump(self: Any) -> None:
        _write_atomically(path, dict(self))

    Store.try_load_from_disk = load
    Store.dump_to_disk = dump


async def _health(request: Any) -> Any:
    from aiohttp import web

    return web.json_response({"status": "ok"})


async def serve(
    host: str,
    port: int,
    state_file: Path,
    from_scratch: bool = False,
    webhook: tuple[str, str, str] | None = None,
) -> None:
    """Serve localstripe until SIGTERM or SIGINT."""
    state_file.parent.mkdir(parents=True, exist_ok=True)
    _use_state_file(state_file)
    from aiohttp import web
    from localstripe import server, webhooks
    from localstripe.resources import store

    idempotency = IdempotencyLayer(idempotency_file(state_file))
    if from_scratch:
        store.clear()
        store.dump_to_disk()
        idempotency.clear()
    else:
        store.try_load_from_disk()
        idempotency.load()
    # Outermost, so it sees the answers localstripe's own error and auth middlewares give.
    server.app.middlewares.insert(0, idempotency.middleware())
    if webhook is not None:
        webhooks.register_webhook(*webhook, None)

    # /_config/ paths skip localstripe's API-key check, so the health check needs no key.
    server.app.router.add_get(HEALTH_PATH, _health)
    access_log = logging.getLogger("aiohttp.access")
    runner = web.AppRunner(server.app, access_log=access_log)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        print(f"{READY_PREFIX}http://{host}:{bound_port}", flush=True)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.localstripe_server", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8420, help="0 picks a free port")
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--from-scratch", action="store_true")
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret", default=os.environ.get(WEBHOOK_SECRET_ENV))
    args = parser.parse_args(argv)

    webhook = None
    if args.webhook_url:
        if not args.webhook_secret:
            parser.error(f"--webhook-url needs --webhook-secret or {WEBHOOK_SECRET_ENV}")
        webhook = (DEFAULT_WEBHOOK_ID, args.webhook_url, args.webhook_secret)

    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(message)s")
    asyncio.run(serve(args.host, args.port, args.state_file.resolve(), args.from_scratch, webhook))


if __name__ == "__main__":
    main()
