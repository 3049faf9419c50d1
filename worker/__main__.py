"""``python -m worker``: run the worker with settings from the environment."""

import asyncio
import contextlib

from config import get_settings
from worker.main import run_worker

if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_worker(get_settings()))
