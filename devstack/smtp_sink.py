"""A development SMTP server that accepts every message and stores it in a Maildir.

Run as ``python -m devstack.smtp_sink --port 8025 --maildir .orderclock/mail``; ``orderclock dev``
starts it. Each message becomes one file under ``<maildir>/new``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Sequence
from pathlib import Path

from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import SMTP

HOSTNAME = "orderclock-smtp-sink"


async def serve(host: str, port: int, maildir: Path, stop: asyncio.Event) -> None:
    """Accept mail on host:port into maildir until stop is set."""
    # mailbox.Maildir creates its tmp/new/cur folders only when the folder itself is new.
    for folder in ("tmp", "new", "cur"):
        (maildir / folder).mkdir(parents=True, exist_ok=True)
    handler = Mailbox(maildir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=HOSTNAME, enable_SMTPUTF8=True, loop=loop),
        host=host,
        port=port,
    )
    print(f"smtp sink listening on {host}:{port}, storing mail in {maildir}", flush=True)
    async with server:
        await stop.wait()
    print("smtp sink stopped", flush=True)


async def _main(host: str, port: int, maildir: Path) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve(host, port, maildir, stop)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point: parse the flags and serve until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m devstack.smtp_sink",
        description="Store every message sent here in a Maildir.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--maildir", type=Path, default=Path(".orderclock") / "mail")
    args = parser.parse_args(argv)
    asyncio.run(_main(args.host, args.port, args.maildir))


if __name__ == "__main__":
    main()
