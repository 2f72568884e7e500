"""Database calls from async code, on a small pool of threads that keep their connections.

Channels' database_sync_to_async (and asgiref's thread-sensitive mode) runs ORM
code on one thread per request under Django's ASGI handler: a new thread and a
new database connection for every API call, closed again at its end. Measured
here, that was most of a REST client event's 4 ms of CPU. These threads are
reused and keep their connection (closed only when unusable or past
CONN_MAX_AGE); the ORM code they run does no request-specific thread work.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import connections

T = TypeVar("T")

_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="db")


def _call(func: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    for conn in connections.all(initialized_only=True):
        conn.close_if_unusable_or_obsolete()
    return func(*args, **kwargs)


async def db(func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run sync ORM code off the event loop and return its result."""
    return await asyncio.get_running_loop().run_in_executor(_executor, functools.partial(_call, func, args, kwargs))


async def db_close_all() -> None:
    """Close the pool threads' connections (tests, before a test database is dropped)."""
    loop = asyncio.get_running_loop()
    await asyncio.gather(
        *(loop.run_in_executor(_executor, connections.close_all) for _ in range(_executor._max_workers))
    )
