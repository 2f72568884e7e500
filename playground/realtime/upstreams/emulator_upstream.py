"""The emulator as an upstream: the relay connects to it like to Yandex, over a real socket.

With PLAYGROUND_EMULATOR_URL unset, each worker process starts its own
emulator server on a loopback port, in its own event loop, on first use.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from django.conf import settings

from .base import Upstream

if TYPE_CHECKING:
    from emulator import EmulatorServer

# One in-process server per event loop: tests run several loops in one process.
_servers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, EmulatorServer] = weakref.WeakKeyDictionary()
_lock: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


async def in_process_emulator_url() -> str:
    loop = asyncio.get_running_loop()
    lock = _lock.setdefault(loop, asyncio.Lock())
    async with lock:
        server = _servers.get(loop)
        if server is None:
            from emulator import EmulatorServer

            server = EmulatorServer(
                events_per_second=settings.PLAYGROUND_EMULATOR_PACE,
                session_lifetime_s=settings.PLAYGROUND_EMULATOR_LIFETIME,
            )
            await server.start()
            _servers[loop] = server
        return server.url


class EmulatorUpstream(Upstream):
    name = "emulator"
    title = "The emulator"

    def is_available(self) -> bool:
        return True

    async def endpoint(self, *, options: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        base = settings.PLAYGROUND_EMULATOR_URL or await in_process_emulator_url()
        query = {k: options[k] for k in ("pace", "lifetime") if options.get(k) is not None}
        if options.get("stamp"):
            query["stamp"] = 1
        if query:
            base += ("&" if "?" in base else "?") + urlencode(query)
        return base, {}, base
