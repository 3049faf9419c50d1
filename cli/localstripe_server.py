"""Run localstripe (a local Stripe stand-in) on loopback, with its state in a chosen file.

localstripe on its own binds every interface and keeps its pickle in
``/tmp/localstripe.pickle``; this wrapper binds ``127.0.0.1`` (or ``--host``) only and
stores the pickle at ``--state-file``.

Command line (the dev supervisor starts exactly this as a child process)::

    python -m cli.localstripe_server --port 8420 --state-file .orderclock/localstripe.pickle

Options: ``--host`` (default 127.0.0.1), ``--port`` (0 picks a free port),
``--state-file``, ``--from-scratch`` (ignore the saved state), and ``--webhook-url URL``
to register a webhook at start-up (id ``orderclock``; the secret comes from
``--webhook-secret`` or ``ORDERCLOCK_STRIPE_WEBHOOK_SECRET``). localstripe keeps webhooks in
memory only, so they must be registered again after every start; this option or
:func:`register_webhook` does that.

Once it accepts connections it prints one line to stdout and flushes it::

    localstripe listening on http://127.0.0.1:8420

Health check: ``GET http://127.0.0.1:<port>/_config/health`` answers 200 ``{"status": "ok"}``
without an API key. SIGTERM or SIGINT stop it cleanly. Point the SDK at it with
``StripeClient("sk_test_...", base_addresses={"api": "http://127.0.0.1:<port>"})``; any key
starting ``sk_`` is accepted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pickle
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

READY_PREFIX = "localstripe listening on "
HEALTH_PATH = "/_config/health"
DEFAULT_WEBHOOK_ID = "orderclock"
WEBHOOK_SECRET_ENV = "ORDERCLOCK_STRIPE_WEBHOOK_SECRET"


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
        # Written beside the target and renamed, so a crash mid-write keeps the old state.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                pickle.dump(dict(self), f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

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

    if from_scratch:
        store.clear()
        store.dump_to_disk()
    else:
        store.try_load_from_disk()
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
    parser = argparse.ArgumentParser(prog="python -m cli.localstripe_server", description=__doc__)
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
