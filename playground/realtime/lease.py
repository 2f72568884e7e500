"""Leases: a live session belongs to the worker whose relay keeps its heartbeat fresh.

Several ASGI workers (`make serve`) share the database and the channel layer. A relay lives in one
of them; when that process dies (SIGKILL, OOM, a lost machine) nothing runs its clean end. So:

- **Heartbeat**: one LeaseKeeper per process (per event loop) renews the lease of every relay it
  holds with one UPDATE per beat (`recorder.sessions_heartbeat`), whatever the number of relays.
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
import time
import weakref
from typing import TYPE_CHECKING, Any

from channels.layers import get_channel_layer
from django.db import IntegrityError, transaction
from django.db.models import DateTimeField, ExpressionWrapper, Max, Q
from django.db.models.functions import Now

from playground.db import db

from . import recorder, selectors
from .frames import Frame, frames_text, notice_data, session_group
from .models import RealtimeSession, SessionEvent, SessionState
from .recorder import run_on_recorder_thread

if TYPE_CHECKING:
    from .relay import Relay

log = logging.getLogger(__name__)

HEARTBEAT_S = 2.0
SWEEP_S = 2.0
LOST_KIND = "worker_lost"


# --- the heartbeat: one UPDATE per process per beat ------------------------------------------------


class LeaseKeeper:
    """Renews the leases of this event loop's relays, all in one UPDATE per beat."""

    def __init__(self) -> None:
        self._relays: dict[str, Relay] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, relay: Relay) -> None:
        self._relays[relay.channel] = relay
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="lease keeper")

    def remove(self, relay: Relay) -> None:
        if self._relays.get(relay.channel) is relay:
            del self._relays[relay.channel]

    async def beat(self) -> None:
        held = {channel: relay.recorded_seq for channel, relay in self._relays.items()}
        if not held:
            return
        lost = await run_on_recorder_thread(recorder.sessions_heartbeat, held=held)
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


# --- the sweeper: stale leases end in words, once ---------------------------------------------------


def stale_reason() -> str:
    seconds = int(selectors.STALE_AFTER.total_seconds())
    return f"The worker that held this session stopped: its relay sent no heartbeat for {seconds} s."


def session_interrupt_if_stale(*, session_id: Any) -> Frame | None:
    """End one session whose lease is stale, recording why as its next seq; None if another worker
    won, the relay renewed its lease meanwhile, or a late relay wrote that seq first (next sweep)."""
    reason = stale_reason()
    try:
        with transaction.atomic():
            won = RealtimeSession.objects.filter(
                pk=session_id, state=SessionState.LIVE, heartbeat_at__lt=selectors.stale_cutoff()
            ).update(state=SessionState.INTERRUPTED, state_reason=reason, ended_at=Now(), relay_channel="")
            if not won:
                return None
            recorded = SessionEvent.objects.filter(session_id=session_id).aggregate(m=Max("seq"))["m"] or 0
            known = RealtimeSession.objects.filter(pk=session_id).values_list("last_seq", flat=True).first() or 0
            seq = max(recorded, known) + 1
            data = notice_data(kind=LOST_KIND, message=reason, state=str(SessionState.INTERRUPTED))
            frame = Frame(seq=seq, direction="playground", ts=time.time(), type=LOST_KIND, data=data)
            SessionEvent.objects.create(
                session_id=session_id, seq=seq, direction=frame.direction, ts=frame.ts, type=frame.type, data=data
            )
            RealtimeSession.objects.filter(pk=session_id).update(last_seq=seq)
    except IntegrityError:
        return None
    return frame


def sessions_interrupt_stale() -> list[tuple[str, Frame]]:
    """Every stale live session becomes interrupted, with its notice recorded; returns the notices.

    Also fails sessions stuck connecting (their worker died mid-handshake)."""
    stale = RealtimeSession.objects.filter(state=SessionState.LIVE, heartbeat_at__lt=selectors.stale_cutoff())
    ended = []
    for session_id in list(stale.values_list("pk", flat=True)):
        frame = session_interrupt_if_stale(session_id=session_id)
        if frame is not None:
            ended.append((str(session_id), frame))
    # A new session's lease starts when it goes live (created_at counts until then); a resumed
    # one's when it was claimed (heartbeat_at).
    cutoff = ExpressionWrapper(Now() - selectors.STALE_AFTER * 3, output_field=DateTimeField())
    stuck = RealtimeSession.objects.filter(state=SessionState.CONNECTING).filter(
        Q(heartbeat_at__isnull=True, created_at__lt=cutoff) | Q(heartbeat_at__lt=cutoff)
    )
    if stuck.exists():  # a read first: on SQLite even an UPDATE of no rows takes the one write lock
        stuck.update(
            state=SessionState.FAILED, state_reason="The connection to the upstream never completed.", ended_at=Now()
        )
    if ended:
        log.warning("interrupted %d session(s) of a worker that stopped: %s", len(ended), [s for s, _ in ended])
    return ended


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
        message = {
            "type": "relay.frames",
            "first": frame.seq,
            "last": frame.seq,
            "text": frames_text([frame]),
            "lease_notice": True,  # consumers.py: delivered even to a socket that is past its seq
        }
        await layer.group_send(session_group(session_id), message)


async def _sweep_forever(wake: asyncio.Event) -> None:
    while True:
        try:
            ended = await db(sessions_interrupt_stale)
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
