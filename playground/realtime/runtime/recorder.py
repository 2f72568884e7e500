"""Recording: every relay's frames, written in batches on one thread, off the forwarding path.

One Recorder per process (per event loop) takes frames from all relays and
writes whatever piled up while its previous write was in flight (and 20 ms
after it), in one transaction: a lone event on an idle recorder is written at
once, and a steady stream from hundreds of sessions costs ~50 commits a second
instead of one per event. Rows go in through the DB-API's executemany: building a model
instance per event (and Django's debug query log) would cost more than the
relaying itself.

The functions below run on the recorder thread (plain sync ORM code); so do the relay's state
changes (state.py), which must follow the frames they come after.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.db import connection, transaction

from playground import metrics
from playground.media.models import AudioPending
from playground.media.services import media_seal, media_seal_all
from playground.media.writer import MediaWriter
from playground.usage.live import UsageFollower

from .. import blocks
from ..models import SessionEvent
from .frames import Frame

log = logging.getLogger(__name__)

GATHER_S = 0.02

# One writer thread per process: ORM connections are per thread, and one writer suits SQLite.
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")


async def run_on_recorder_thread(func: Callable[..., Any], **kwargs: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_executor, lambda: func(**kwargs))


class Recorder:
    """Batches frames from every relay of this event loop into one write at a time."""

    def __init__(self) -> None:
        self._pending: list[tuple[str, Frame]] = []
        self._callbacks: dict[str, Callable[[int], None]] = {}
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._usage = UsageFollower()

    def add(self, session_id: str, frame: Frame, on_recorded: Callable[[int], None]) -> None:
        self._pending.append((session_id, frame))
        metrics.RECORDER_QUEUE.set(len(self._pending))
        self._callbacks[session_id] = on_recorded
        self._ready.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="recorder")

    async def _run(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                await self._write_with_retry(batch)
                metrics.RECORDER_QUEUE.set(len(self._pending))
                # A commit costs far more than a row: after a write, let the next rows gather
                # briefly (an idle recorder still writes a lone event at once).
                await asyncio.sleep(GATHER_S)
                recorded: dict[str, int] = {}
                answered: set[str] = set()
                for session_id, frame in batch:
                    recorded[session_id] = frame.seq
                    if frame.type == "response.done" and frame.direction == "server":
                        answered.add(session_id)
                for session_id, seq in recorded.items():
                    callback = self._callbacks.get(session_id)
                    if callback is not None:
                        callback(seq)
                if answered:  # usage and budgets, once per response and off this path (playground/usage/live.py)
                    self._usage.responses_done(answered)

    async def _write_with_retry(self, batch: list[tuple[str, Frame]]) -> None:
        delay = 0.1
        while True:
            started = time.monotonic()
            try:
                await run_on_recorder_thread(events_record, batch=batch)
            except Exception:
                metrics.RECORDER_WRITE.observe(time.monotonic() - started)
                metrics.RECORDER_FAILURES.inc()
                # Never dropped: logged loudly and retried until the database answers.
                log.exception("recording %d events failed; retrying in %.1f s", len(batch), delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
            else:
                metrics.RECORDER_WRITE.observe(time.monotonic() - started)
                return

    def forget(self, session_id: str) -> None:
        self._callbacks.pop(session_id, None)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._usage.stop()


_recorders: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Recorder] = weakref.WeakKeyDictionary()


def recorder_for_loop() -> Recorder:
    loop = asyncio.get_running_loop()
    recorder = _recorders.get(loop)
    if recorder is None:
        recorder = _recorders[loop] = Recorder()
    return recorder


# --- on the recorder thread ----------------------------------------------------------


_media = MediaWriter()  # this process's media streams: used on the recorder thread only
_loose: dict[str, int] = {}  # session id → rows written since its last compaction


def events_record(*, batch: list[tuple[str, Frame]]) -> None:
    field = SessionEvent._meta.get_field("session")
    session_values: dict[str, Any] = {}
    # The audio goes to the session's media (playground/media/): the rows keep references to it.
    plan = _media.plan(batch)
    rows = []
    for session_id, f in batch:
        value = session_values.get(session_id)
        if value is None:
            value = session_values[session_id] = field.get_db_prep_value(uuid.UUID(session_id), connection)
        data, refs = plan.texts.get((session_id, f.seq), (f.data, 0))
        rows.append((value, f.seq, f.direction, f.ts, f.type, data, refs))
    pending = [(session_values[sid], side, start, bytes(pcm)) for (sid, side), (start, pcm) in plan.pending.items()]
    try:
        if connection.vendor == "postgresql":
            try:
                _rows_copy(rows, pending)
            except connection.Database.IntegrityError:  # type: ignore[attr-defined]
                # a retry of a batch that did land: the INSERT below skips the rows already there
                _rows_insert(rows, pending)
        else:
            _rows_insert(rows, pending)
    except Exception:
        connection.close_if_unusable_or_obsolete()
        raise
    for session_id, side in _media.commit(plan):
        _seal(session_id, side)
    for session_id, _ in batch:
        _loose[session_id] = _loose.get(session_id, 0) + 1
    for session_id in session_values:
        if _loose[session_id] >= blocks.BLOCK_EVENTS:
            blocks.events_compact(session_id=session_id)
            _loose[session_id] = 0


def _seal(session_id: str, side: str) -> None:
    try:
        media_seal(session_id=session_id, side=side)
    except Exception:
        # Still readable from its pending rows; sealed again at the next threshold or the session's end.
        log.exception("sealing the %s audio of %s failed", side, session_id)
    else:
        _media.sealed(session_id, side)


def recording_close(*, session_id: str) -> None:
    """A session ended: its open audio chunks sealed and its rows packed into blocks (recorder thread)."""
    try:
        media_seal_all(session_id=session_id)
    except Exception:
        log.exception("sealing the audio of %s failed; `manage.py audio_migrate` seals it later", session_id)
    blocks.events_compact(session_id=session_id)
    _media.forget(session_id)
    _loose.pop(session_id, None)


_COLUMNS = "(session_id, seq, direction, ts, type, data, refs)"
_PENDING_COLUMNS = "(session_id, side, start, pcm)"


def _rows_copy(rows: list[tuple[Any, ...]], pending: list[tuple[Any, ...]]) -> None:
    # COPY costs PostgreSQL's client about 10 µs of CPU a row against 35 to 50 for executemany's
    # INSERTs (measured with psycopg 3.3, 50-row batches): the recorder shares the relay's core.
    with transaction.atomic():
        connection.ensure_connection()
        sql = f"COPY {SessionEvent._meta.db_table} {_COLUMNS} FROM STDIN"
        with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
        _pending_insert(pending)


def _rows_insert(rows: list[tuple[Any, ...]], pending: list[tuple[Any, ...]]) -> None:
    mark = "?" if connection.vendor == "sqlite" else "%s"
    sql = (
        f"INSERT INTO {SessionEvent._meta.db_table} {_COLUMNS} "
        f"VALUES ({', '.join([mark] * 7)}) ON CONFLICT (session_id, seq) DO NOTHING"
    )
    with transaction.atomic():
        connection.ensure_connection()
        # The raw DB-API cursor: no per-row wrapping, no debug log. A retry of a write
        # that did land must not fail on the unique seq: ON CONFLICT DO NOTHING.
        cursor = connection.connection.cursor()
        try:
            cursor.executemany(sql, rows)
        finally:
            cursor.close()
        _pending_insert(pending)


def _pending_insert(pending: list[tuple[Any, ...]]) -> None:
    """The open chunks' PCM, in the transaction of the rows that refer to it."""
    if not pending:
        return
    mark = "?" if connection.vendor == "sqlite" else "%s"
    sql = (
        f"INSERT INTO {AudioPending._meta.db_table} {_PENDING_COLUMNS} "
        f"VALUES ({', '.join([mark] * 4)}) ON CONFLICT (session_id, side, start) DO NOTHING"
    )
    cursor = connection.connection.cursor()
    try:
        cursor.executemany(sql, pending)
    finally:
        cursor.close()


def close_connections() -> None:
    connection.close()
