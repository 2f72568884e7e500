"""Leases: a live session belongs to the worker whose relay keeps its heartbeat fresh.

Several ASGI workers (`make serve`) share the database and the channel layer. A relay lives in one
of them; when that process dies (SIGKILL, OOM, a lost machine) nothing runs its clean end. So:

- **Heartbeat**: one LeaseKeeper per process (per event loop) renews the lease of every relay it
  holds with one UPDATE per beat (`state.sessions_heartbeat`), whatever the number of relays.
  The relay's channel is its lease token: a relay whose row names another channel, or is no longer
  live, lost its lease and stops without writing anything more (the sweeper already said why).
- **Sweeper**: every worker process runs one (started lazily in its event loop by the first relay,
  socket or REST call that needs it). Every SWEEP_S it looks for live sessions whose heartbeat is
  older than `selectors.STALE_AFTER` and ends each with a conditional UPDATE (still live, still
  stale), so exactly one worker wins, even against a relay that is in fact alive but late. The
  winner records a playground notice (kind `worker_lost`, state `interrupted`) as the session's
  next seq, in the same transaction, and publishes it to the session's group: watchers on any
  worker see it.

Timings (the single source of the stale limit is selectors.STALE_AFTER, 8 s): a beat every 2 s,
a sweep every 2 s; a dead worker's sessions are interrupted, and their watchers told, within about
10 s. Both clocks are the database's (`Now()`), so workers on several machines agree.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import threading
import weakref
from typing import Protocol

from channels.layers import get_channel_layer

from playground.db import db

from . import messages, state
from .frames import Frame, session_group
from .recorder import run_on_recorder_thread

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
SWEEP_S = 2.0


class LeaseHolder(Protocol):
    """What the keeper needs of a relay (relay.py): its channel is its lease token."""

    channel: str

    @property
    def recorded_seq(self) -> int: ...

    def lease_lost(self) -> None: ...


# --- the heartbeat: one UPDATE per process per beat ------------------------------------------------


class LeaseKeeper:
    """Renews the leases of this event loop's relays, all in one UPDATE per beat."""

    def __init__(self) -> None:
        self._relays: dict[str, LeaseHolder] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, relay: LeaseHolder) -> None:
        self._relays[relay.channel] = relay
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="lease keeper")

    def remove(self, relay: LeaseHolder) -> None:
        if self._relays.get(relay.channel) is relay:
            del self._relays[relay.channel]

    async def beat(self) -> None:
        held = {channel: relay.recorded_seq for channel, relay in self._relays.items()}
        if not held:
            return
        lost = await run_on_recorder_thread(state.sessions_heartbeat, held=held)
        for channel in lost:
            relay = self._relays.pop(channel, None)
            if relay is not None:
                relay.lease_lost()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.beat()
            except Exception:
                log.exception("renewing %d relay leases failed", len(self._relays))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


_keepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LeaseKeeper] = weakref.WeakKeyDictionary()


def keeper_for_loop() -> LeaseKeeper:
    loop = asyncio.get_running_loop()
    keeper = _keepers.get(loop)
    if keeper is None:
        keeper = _keepers[loop] = LeaseKeeper()
    return keeper


# --- the sweeper: stale leases end in words, once (state.sessions_interrupt_stale) -----------------


# Notices recorded by a synchronous caller (the sessions list), published by the next sweep.
_unpublished: collections.deque[tuple[str, Frame]] = collections.deque()
_wakers: dict[asyncio.AbstractEventLoop, asyncio.Event] = {}
_wakers_lock = threading.Lock()


def publish_soon(ended: list[tuple[str, Frame]]) -> None:
    """From any thread: have this process's sweeper publish these notices now."""
    if not ended:
        return
    _unpublished.extend(ended)
    with _wakers_lock:
        wakers = list(_wakers.items())
    for loop, event in wakers:
        if not loop.is_closed():
            loop.call_soon_threadsafe(event.set)


async def publish(ended: list[tuple[str, Frame]]) -> None:
    layer = get_channel_layer()
    for session_id, frame in ended:
        # lease_notice: delivered even to a socket that is past its seq (sockets/base.py)
        await layer.group_send(session_group(session_id), messages.frames([frame], lease_notice=True))


async def _sweep_forever(wake: asyncio.Event) -> None:
    while True:
        try:
            ended = await db(state.sessions_interrupt_stale)
            while _unpublished:
                ended.append(_unpublished.popleft())
            await publish(ended)
        except Exception:
            log.exception("sweeping stale sessions failed")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), SWEEP_S)
        wake.clear()


_sweepers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task[None]] = weakref.WeakKeyDictionary()


def ensure_sweeper() -> None:
    """Start this event loop's sweeper unless it runs: cheap, call it from anything async."""
    loop = asyncio.get_running_loop()
    task = _sweepers.get(loop)
    if task is not None and not task.done():
        return
    wake = asyncio.Event()
    with _wakers_lock:
        _wakers[loop] = wake
    _sweepers[loop] = loop.create_task(_sweep_forever(wake), name="lease sweeper")


async def lease_tasks_stop() -> None:
    """Stop this loop's sweeper and lease keeper (tests, shutdown)."""
    loop = asyncio.get_running_loop()
    with _wakers_lock:
        _wakers.pop(loop, None)
    task = _sweepers.pop(loop, None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await keeper_for_loop().stop()
    _unpublished.clear()
