"""Recordings made before media (base64 inline in their rows) moved to it, and the storage checked against
its index: the logic of `manage.py audio_migrate` and `manage.py audio_orphans` (docs/operations.md).

A session is migrated in one database transaction, by the recorder's own code paths: its rows are read in
seq order (loose rows and blocks), each event's audio is taken out by `refs.audio_extract` with offsets
continuing from the session's streams, the PCM goes to `AudioPending` rows and is sealed into FLAC files
by `media_seal` every `SEAL_BYTES` (as the recorder does), the rows get their references, and they are
packed into blocks (`blocks.events_compact`). Before the commit every frame is read back through
`frames_read` (audio decoded from the new files) and must hash to what it did before; if not, or if
anything fails, the transaction rolls back and the recording is exactly as it was.

Files are saved before the commit that names them. A failure that is caught deletes the files the attempt
saved (those no AudioChunk row names); a process that dies in between leaves them as orphans, which the
next run overwrites (the same session gets the same names: its streams start where they did) and
`audio_orphans` finds otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.files.storage import Storage
from django.db import transaction
from django.db.models import Q, Sum
from django.db.models.functions import Coalesce, Length

from playground.errors import PlaygroundError
from playground.realtime.blocks import BLOCK, block_pack, block_unpack, events_compact
from playground.realtime.models import RealtimeSession, SessionEvent, SessionState
from playground.realtime.reading import frames_read

from . import refs
from .models import AudioChunk, AudioPending
from .services import media_seal, media_seal_all
from .storage import chunk_name, recordings_storage
from .writer import SEAL_BYTES, streams_load

log = logging.getLogger(__name__)

LIVE = (SessionState.LIVE, SessionState.CONNECTING)
PAGE_ROWS = 200
# A block whose packed bytes exceed this per event probably holds inline audio (a session recorded across
# the upgrade): events whose audio is a reference pack to ~20-200 bytes each, 100 ms of base64 audio to ~10 kB.
HEAVY_BLOCK_BYTES_PER_EVENT = 300


class MigrationFailed(PlaygroundError):
    """A session's migration did not give back the same frames, or could not be done: rolled back."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=500)


@dataclass(slots=True)
class SessionMigration:
    """What migrating one session moves (or, dry, would move)."""

    session_id: str
    events: int = 0  # events whose audio moves to media
    audio_bytes: int = 0  # PCM bytes moved
    base64_chars: int = 0  # base64 characters the rows no longer hold
    pending_bytes: int = 0  # PCM a dead worker left in open chunks, sealed
    frames: int = 0  # frames read back, checked
    chunks: int = 0  # FLAC files written
    media_bytes: int = 0  # their bytes
    rows_packed: int = 0  # loose rows packed into blocks
    db_before: int = 0  # bytes of the session's rows (data, packed, pending PCM)
    db_after: int = 0
    digest: str = ""
    seconds: float = 0.0

    @property
    def moves(self) -> bool:
        return bool(self.events or self.pending_bytes)


# --- which sessions ---------------------------------------------------------------------------------


def migration_candidates(*, session_ids: list[Any] | None = None) -> list[str]:
    """Sessions that are not live and may hold audio to move, oldest first (a cheap look in SQL: a session
    listed may turn out to have nothing to move). With `session_ids`, those sessions, whatever SQL says."""
    sessions = RealtimeSession.objects.order_by("created_at")
    if session_ids is not None:
        return [str(pk) for pk in sessions.filter(pk__in=session_ids).values_list("pk", flat=True)]
    ended = Q(session__state__in=LIVE)
    found: set[Any] = set(AudioPending.objects.exclude(ended).values_list("session_id", flat=True).distinct())
    field_types = [t for t in refs.AUDIO_TYPES if t.endswith((".append", ".delta"))]
    item_types = [t for t in refs.AUDIO_TYPES if t not in field_types]
    inline = (
        SessionEvent.objects.exclude(ended)
        .exclude(direction=BLOCK)
        .filter(refs=0)
        .annotate(n=Length("data"))
        .filter(Q(type__in=field_types, n__gte=100) | Q(type__in=item_types, data__contains='"audio"'))
    )
    found |= set(inline.values_list("session_id", flat=True).distinct())
    heavy = (
        SessionEvent.objects.exclude(ended)
        .filter(direction=BLOCK)
        .annotate(n=Length("packed"))
        .filter(n__gt=HEAVY_BLOCK_BYTES_PER_EVENT * 16)
        .values_list("session_id", "type", "n")
    )
    for session_id, type_, n in heavy.iterator(chunk_size=500):
        events = int(type_.split(" ", 1)[0]) if type_.split(" ", 1)[0].isdigit() else 1
        if n > HEAVY_BLOCK_BYTES_PER_EVENT * events:
            found.add(session_id)
    return [str(pk) for pk in sessions.filter(pk__in=found).values_list("pk", flat=True)]


# --- one session ------------------------------------------------------------------------------------


def frames_digest(*, session_id: Any) -> tuple[int, str]:
    """How many frames a session reads back, and a sha256 over each one's seq, direction, exact ts, type and
    text (Frame.text, audio inline): equal digests, byte-identical recordings."""
    digest = hashlib.sha256()
    count = 0
    for frame in frames_read(session_id=session_id):
        digest.update(json.dumps([frame.seq, frame.direction, frame.ts, frame.type]).encode())
        digest.update(frame.text.encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def session_db_bytes(*, session_id: Any) -> int:
    """Bytes the session's rows hold in the database: events' text, blocks, open chunks' PCM."""
    zero = Coalesce(Sum(Length("data")), 0) + Coalesce(Sum(Length("packed")), 0)
    events = SessionEvent.objects.filter(session_id=session_id).aggregate(n=zero)["n"]
    pending = AudioPending.objects.filter(session_id=session_id).aggregate(n=Coalesce(Sum(Length("pcm")), 0))["n"]
    return int(events) + int(pending)


class _Sink:
    """Where the audio taken out goes: pending rows, sealed into a FLAC chunk every SEAL_BYTES (or nowhere,
    counted only, for a dry run)."""

    def __init__(self, session_id: Any, *, write: bool) -> None:
        self.session_id = session_id
        self.write = write
        self.open: dict[str, tuple[int, bytearray]] = {}
        self.names: list[str] = []  # every file a seal of this attempt saves (or may have saved)
        self.chunks: list[AudioChunk] = []

    def add(self, side: str, offset: int, pcm: bytes) -> None:
        if not self.write:
            return
        start, buf = self.open.setdefault(side, (offset, bytearray()))
        if start + len(buf) != offset:  # never: offsets are handed out in order
            raise MigrationFailed(f"The {side} audio of {self.session_id} would have a gap at byte {offset}.")
        buf += pcm
        if len(buf) >= SEAL_BYTES:
            self.flush(side)

    def flush(self, side: str) -> None:
        start, buf = self.open.pop(side)
        AudioPending.objects.create(session_id=self.session_id, side=side, start=start, pcm=bytes(buf))
        self.names.append(chunk_name(session_id=self.session_id, side=side, start=start))
        chunk = media_seal(session_id=self.session_id, side=side)
        if chunk is not None:
            self.chunks.append(chunk)

    def finish(self) -> None:
        for side in sorted(self.open):
            self.flush(side)


def _extract(session_id: Any, offsets: dict[str, int], sink: _Sink, result: SessionMigration) -> tuple[dict, dict]:
    """Every event's audio taken out, in seq order: the loose rows' new (data, refs) and the blocks' new
    (packed, refs), by primary key. Rows are read a page at a time (a block on its own)."""
    loose: dict[int, tuple[str, int]] = {}
    packed: dict[int, tuple[bytes, int]] = {}

    def take(direction: str, type_: str, data: str, n_refs: int) -> tuple[str, int]:
        if n_refs:  # its audio is media already
            return data, n_refs
        text, pieces = refs.audio_extract(direction=direction, type_=type_, data=data, offsets=offsets)
        if not pieces:
            return data, n_refs
        result.events += 1
        result.base64_chars += len(data) - len(text)
        for side, offset, pcm in pieces:
            sink.add(side, offset, pcm)
            offsets[side] = offset + len(pcm)
            result.audio_bytes += len(pcm)
        return text, len(pieces)

    after = 0
    columns = ("pk", "seq", "direction", "type", "data", "refs")
    while True:
        page = list(
            SessionEvent.objects.filter(session_id=session_id, seq__gt=after)
            .order_by("seq")
            .values_list(*columns)[:PAGE_ROWS]
        )
        if not page:
            break
        for pk, seq, direction, type_, data, n_refs in page:
            after = seq
            if direction != BLOCK:
                text, taken = take(direction, type_, data, n_refs)
                if text != data:
                    loose[pk] = (text, taken)
                continue
            blob = SessionEvent.objects.filter(pk=pk).values_list("packed", flat=True).get()
            events = block_unpack(bytes(blob or b""))
            changed = False
            rows = []
            for e_seq, e_dir, e_ts, e_type, e_data, e_refs in events:
                text, taken = take(e_dir, e_type, e_data, e_refs)
                changed |= text != e_data
                rows.append((e_seq, e_dir, e_ts, e_type, text, taken))
            if changed:
                packed[pk] = (block_pack(rows), sum(r[5] for r in rows))
    return loose, packed


def session_audio_migrate(*, session_id: Any, dry_run: bool = False) -> SessionMigration:
    """One session's inline audio moved to media and its rows packed, checked and committed, or rolled back
    (MigrationFailed, or whatever went wrong) leaving it as it was. Safe to run again at any point."""
    started = time.monotonic()
    sid: Any = str(session_id)
    result = SessionMigration(session_id=sid)
    _check_not_live(sid)
    if dry_run:
        result.pending_bytes = _pending_bytes(sid)
        result.db_before = result.db_after = session_db_bytes(session_id=sid)
        _extract(sid, streams_load(session_id=sid).offsets, _Sink(sid, write=False), result)
    if dry_run or not (_pending_bytes(sid) or _holds_audio(sid)):  # nothing to move: nothing is written
        result.seconds = time.monotonic() - started
        return result
    sink = _Sink(sid, write=True)
    try:
        with transaction.atomic():
            _check_not_live(sid, lock=True)
            chunks_before = set(AudioChunk.objects.filter(session_id=sid).values_list("name", flat=True))
            result.db_before = session_db_bytes(session_id=sid)
            frames, before = frames_digest(session_id=sid)
            result.pending_bytes = _pending_bytes(sid)
            if result.pending_bytes:  # a dead worker's open chunks: sealed as its recorder would have
                sink.names += _pending_names(sid)
                media_seal_all(session_id=sid)
            loose, packed = _extract(sid, streams_load(session_id=sid).offsets, sink, result)
            sink.finish()
            media_seal_all(session_id=sid)  # nothing is left pending
            SessionEvent.objects.bulk_update(
                [SessionEvent(pk=pk, data=text, refs=n) for pk, (text, n) in loose.items()],
                ["data", "refs"],
                batch_size=200,
            )
            SessionEvent.objects.bulk_update(
                [SessionEvent(pk=pk, packed=blob, refs=n) for pk, (blob, n) in packed.items()],
                ["packed", "refs"],
                batch_size=20,
            )
            result.rows_packed = events_compact(session_id=sid)
            after_frames, after = frames_digest(session_id=sid)
            if (after_frames, after) != (frames, before):
                raise MigrationFailed(
                    f"Session {sid} reads back differently after its migration ({after_frames} frames, sha256 "
                    f"{after[:12]}…; before: {frames} frames, {before[:12]}…): rolled back, nothing changed."
                )
            result.frames, result.digest = frames, before
            names = set(AudioChunk.objects.filter(session_id=sid).values_list("name", flat=True)) - chunks_before
            storage = recordings_storage()
            result.chunks = len(names)
            result.media_bytes = sum(storage.size(name) for name in names)
            result.db_after = session_db_bytes(session_id=sid)
    except BaseException:
        _files_forget(sink.names)
        raise
    result.seconds = time.monotonic() - started
    return result


class _Found(Exception):
    pass


class _Probe(_Sink):
    def add(self, side: str, offset: int, pcm: bytes) -> None:
        raise _Found


def _holds_audio(session_id: Any) -> bool:
    """Whether any event of the session still has audio to move (reading only up to the first)."""
    try:
        _extract(session_id, {}, _Probe(session_id, write=False), SessionMigration(session_id=session_id))
    except _Found:
        return True
    return False


def _check_not_live(session_id: Any, *, lock: bool = False) -> None:
    qs = RealtimeSession.objects.select_for_update() if lock else RealtimeSession.objects
    state = qs.filter(pk=session_id).values_list("state", flat=True).first()
    if state is None:
        raise MigrationFailed(f"There is no session {session_id}.")
    if state in LIVE:
        raise MigrationFailed(f"Session {session_id} is {state}: its recorder migrates it as it goes.")


def _pending_bytes(session_id: Any) -> int:
    n = AudioPending.objects.filter(session_id=session_id).aggregate(n=Coalesce(Sum(Length("pcm")), 0))["n"]
    return int(n)


def _pending_names(session_id: Any) -> list[str]:
    pending = AudioPending.objects.filter(session_id=session_id).values_list("side", "start")
    return [chunk_name(session_id=session_id, side=side, start=start) for side, start in pending]


def _files_forget(names: list[str]) -> None:
    """After a rollback: the files this attempt saved that no chunk row names are deleted (best effort; one
    left is an orphan, overwritten by the next attempt or found by audio_orphans)."""
    if not names:
        return
    named = set(AudioChunk.objects.filter(name__in=names).values_list("name", flat=True))
    storage = recordings_storage()
    for name in set(names) - named:
        try:
            if storage.exists(name):
                storage.delete(name)
        except Exception:  # the rollback's own reason matters more: this one is only logged
            log.warning("could not delete %s after a rolled back migration", name, exc_info=True)


# --- the storage against its index -----------------------------------------------------------------


@dataclass(slots=True)
class MediaCheck:
    files: int = 0  # files in storage
    rows: int = 0  # AudioChunk rows
    orphans: list[str] = field(default_factory=list)  # files no row names (old enough to judge)
    young: list[str] = field(default_factory=list)  # files no row names yet, too new to judge
    orphan_bytes: int = 0
    missing: list[tuple[str, str]] = field(default_factory=list)  # (session id, name) of rows without a file
    deleted: int = 0


def _walk(storage: Storage, path: str) -> Iterator[str]:
    dirs, files = storage.listdir(path)
    for name in files:
        yield f"{path}/{name}" if path else name
    for folder in dirs:
        yield from _walk(storage, f"{path}/{folder}" if path else folder)


def media_check(
    *,
    delete: bool = False,
    min_age: timedelta = timedelta(hours=1),
    now: datetime | None = None,
    on_folder: Callable[[str], None] | None = None,
) -> MediaCheck:
    """Files in the `recordings` storage that no AudioChunk row names (orphans: deleted with `delete`), and
    rows whose file is missing (reported only: a row is never deleted here). One folder (a session's) is
    listed and compared with its rows at a time. A file younger than `min_age` is not judged: a recorder may
    have saved it and not yet committed the row that names it."""
    storage = recordings_storage()
    since = (now or datetime.now(UTC)) - min_age
    check = MediaCheck(rows=AudioChunk.objects.count())
    try:
        top_dirs, top_files = storage.listdir("")
    except FileNotFoundError:  # a file system storage nothing was ever saved to
        top_dirs, top_files = [], []
    folders = sorted(str(d) for d in top_dirs)
    loose_files = {str(f) for f in top_files}
    groups: list[tuple[str, set[str] | None, Any]] = [
        ("", loose_files, AudioChunk.objects.filter(name__in=loose_files))
    ]
    groups += [(d, None, AudioChunk.objects.filter(name__startswith=d + "/")) for d in folders]
    for folder, listed, rows in groups:
        if folder and on_folder is not None:
            on_folder(folder)
        files = listed if listed is not None else set(_walk(storage, folder))
        check.files += len(files)
        named = dict(rows.values_list("name", "session_id"))
        check.missing += sorted((str(s), n) for n, s in named.items() if n not in files)
        for name in sorted(files - set(named)):
            if min_age and _younger(storage, name, since):
                check.young.append(name)
                continue
            check.orphans.append(name)
            with contextlib.suppress(OSError):
                check.orphan_bytes += storage.size(name)
            if delete:
                storage.delete(name)
                check.deleted += 1
    # Rows in no folder listed (and not a loose file): their files are missing too.
    known = set(folders)
    for name, session_id in AudioChunk.objects.values_list("name", "session_id").iterator(chunk_size=1000):
        head, slash, _ = name.partition("/")
        if (slash and head not in known) or (not slash and name not in loose_files):
            check.missing.append((str(session_id), name))
    return check


def _younger(storage: Storage, name: str, than: datetime) -> bool:
    try:
        modified = storage.get_modified_time(name)
    except (NotImplementedError, OSError):
        return False
    if modified.tzinfo is None:
        modified = modified.replace(tzinfo=UTC)
    return modified > than
