"""The one way a recording is read: its frames in seq order, blocks opened and audio put back.

Rows are single events or blocks of them (realtime/blocks.py); an event's audio is inline base64 or a
reference into the session's media (playground/media/refs.py). Every reader (the events API, the
sockets' catch-up, exports, replay, resume, re-run, checks, usage) goes through `frames_read`, so each
sees the events exactly as they crossed the wire, or, asked for `audio="ref"`, with the references
left in for a reader that fetches the audio itself.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from typing import Any, Literal

from django.db.models import Q

from playground.media.refs import audio_restore
from playground.media.source import AudioSource

from .blocks import BLOCK, block_unpack
from .models import SessionEvent
from .runtime.frames import Frame

Audio = Literal["inline", "ref"]
_COLUMNS = ("seq", "direction", "ts", "type", "data", "refs", "packed")


def frames_read(
    *,
    session_id: Any,
    after: int = 0,
    upto: int | None = None,
    limit: int | None = None,
    audio: Audio = "inline",
    types: Collection[str] | None = None,
    direction: str | None = None,
) -> Iterator[Frame]:
    """Frames with seq in (after, upto], at most `limit`, optionally only of `types` / `direction`."""
    qs = SessionEvent.objects.filter(session_id=session_id, seq__gt=after)
    if types is not None or direction is not None:  # loose rows filtered in SQL; blocks always read
        wanted = Q()
        if types is not None:
            wanted &= Q(type__in=list(types))
        if direction is not None:
            wanted &= Q(direction=direction)
        qs = qs.filter(wanted | Q(direction=BLOCK))
    ordered = qs.order_by("seq").values_list(*_COLUMNS)
    # Every row is at least one event: unfiltered, `limit` rows always hold `limit` events.
    plain = limit is not None and upto is None and types is None and direction is None
    rows: Iterable[tuple[Any, ...]] = ordered[:limit] if plain else ordered.iterator(chunk_size=200)
    source = AudioSource(session_id) if audio == "inline" else None
    count = 0
    for seq, dir_, ts, type_, data, refs, packed in rows:
        events = block_unpack(packed) if dir_ == BLOCK else [(seq, dir_, ts, type_, data, refs)]
        for e_seq, e_dir, e_ts, e_type, e_data, e_refs in events:
            if e_seq <= after:
                continue
            if upto is not None and e_seq > upto:
                return
            if (types is not None and e_type not in types) or (direction is not None and e_dir != direction):
                continue
            if e_refs and source is not None:
                e_data = audio_restore(e_data, source.read)
            yield Frame(seq=e_seq, direction=e_dir, ts=e_ts, type=e_type, data=e_data)
            count += 1
            if limit is not None and count >= limit:
                return


def frames_last(*, session_id: Any) -> Frame | None:
    """The last recorded frame, audio as references (a block's seq is its last event's)."""
    row = SessionEvent.objects.filter(session_id=session_id).order_by("-seq").values_list(*_COLUMNS).first()
    if row is None:
        return None
    seq, dir_, ts, type_, data = block_unpack(row[6])[-1][:5] if row[1] == BLOCK else row[:5]
    return Frame(seq=seq, direction=dir_, ts=ts, type=type_, data=data)
