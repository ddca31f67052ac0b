"""How long-running commands wait for their end: until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import signal


async def until_stopped() -> None:
    """Return on the first SIGTERM or SIGINT (call it from the program's event loop)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
