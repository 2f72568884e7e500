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
from playground.usage.live import UsageFollower

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


def events_record(*, batch: list[tuple[str, Frame]]) -> None:
    field = SessionEvent._meta.get_field("session")
    session_values: dict[str, Any] = {}
    rows = []
    for session_id, f in batch:
        value = session_values.get(session_id)
        if value is None:
            value = session_values[session_id] = field.get_db_prep_value(uuid.UUID(session_id), connection)
        rows.append((value, f.seq, f.direction, f.ts, f.type, f.data))
    try:
        if connection.vendor == "postgresql":
            try:
                _rows_copy(rows)
                return
            except connection.Database.IntegrityError:  # type: ignore[attr-defined]
                pass  # a retry of a batch that did land: the INSERT below skips the rows already there
        _rows_insert(rows)
    except Exception:
        connection.close_if_unusable_or_obsolete()
        raise


_COLUMNS = "(session_id, seq, direction, ts, type, data)"


def _rows_copy(rows: list[tuple[Any, ...]]) -> None:
    # COPY costs PostgreSQL's client about 10 µs of CPU a row against 35 to 50 for executemany's
    # INSERTs (measured with psycopg 3.3, 50-row batches): the recorder shares the relay's core.
    with transaction.atomic():
        connection.ensure_connection()
        sql = f"COPY {SessionEvent._meta.db_table} {_COLUMNS} FROM STDIN"
        with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)


def _rows_insert(rows: list[tuple[Any, ...]]) -> None:
    mark = "?" if connection.vendor == "sqlite" else "%s"
    sql = (
        f"INSERT INTO {SessionEvent._meta.db_table} {_COLUMNS} "
        f"VALUES ({', '.join([mark] * 6)}) ON CONFLICT (session_id, seq) DO NOTHING"
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


def close_connections() -> None:
    connection.close()
