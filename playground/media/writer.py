"""The recorder thread's side of media: audio taken out of a batch's events, and where each stream is.

One `MediaWriter` per recorder thread (one per process). For each live session it remembers each
side's next offset and how much of its open chunk is pending; `plan` turns a batch of frames into the
rows to write and the pending PCM to write with them (in the same transaction), `commit` moves the
offsets on once that transaction is in. A failed write is planned again from the same offsets, so a
retry writes the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Max
from django.db.models.functions import Length

from .models import AudioChunk, AudioPending
from .refs import audio_extract, may_carry_audio

# A chunk is sealed (encoded as FLAC and saved) once this much PCM is pending: 12 s at 44.1 kHz.
SEAL_BYTES = 1 << 20


@dataclass(slots=True)
class Plan:
    # (session id, seq) → (the text to store, how many references it holds)
    texts: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    # (session id, side) → (start, PCM) written as one AudioPending row
    pending: dict[tuple[str, str], tuple[int, bytearray]] = field(default_factory=dict)
    offsets: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(slots=True)
class Streams:
    offsets: dict[str, int]  # side → its stream's length so far: the next audio's offset
    open_bytes: dict[str, int]  # side → PCM pending in its open chunk


class MediaWriter:
    def __init__(self) -> None:
        self._streams: dict[str, Streams] = {}

    def _stream(self, session_id: str) -> Streams:
        stream = self._streams.get(session_id)
        if stream is None:
            stream = self._streams[session_id] = streams_load(session_id=session_id)
        return stream

    def plan(self, frames: list[tuple[str, Any]]) -> Plan:
        """`frames`: (session id, Frame) pairs in order."""
        plan = Plan()
        for session_id, f in frames:
            if not may_carry_audio(f.direction, f.type):
                continue
            offsets = plan.offsets.get(session_id)
            if offsets is None:
                offsets = plan.offsets[session_id] = dict(self._stream(session_id).offsets)
            text, pieces = audio_extract(direction=f.direction, type_=f.type, data=f.data, offsets=offsets)
            if not pieces:
                continue
            plan.texts[(session_id, f.seq)] = (text, len(pieces))
            for side, offset, pcm in pieces:
                plan.pending.setdefault((session_id, side), (offset, bytearray()))[1].extend(pcm)
                offsets[side] = offset + len(pcm)
        return plan

    def commit(self, plan: Plan) -> list[tuple[str, str]]:
        """The plan is written: offsets move on. Returns the (session, side) streams due for sealing."""
        due = []
        for (session_id, side), (_, pcm) in plan.pending.items():
            stream = self._stream(session_id)
            stream.offsets[side] = plan.offsets[session_id][side]
            stream.open_bytes[side] = stream.open_bytes.get(side, 0) + len(pcm)
            if stream.open_bytes[side] >= SEAL_BYTES:
                due.append((session_id, side))
        return due

    def sealed(self, session_id: str, side: str) -> None:
        stream = self._streams.get(session_id)
        if stream is not None:
            stream.open_bytes[side] = 0

    def forget(self, session_id: str) -> None:
        self._streams.pop(session_id, None)


def streams_load(*, session_id: Any) -> Streams:
    """Where a session's streams stand (a resumed session continues them), from the database."""
    offsets: dict[str, int] = {}
    open_bytes: dict[str, int] = {}
    chunks = AudioChunk.objects.filter(session_id=session_id).values("side").annotate(end=Max(F("start") + F("length")))
    for row in chunks:
        offsets[row["side"]] = row["end"]
    pending = (
        AudioPending.objects.filter(session_id=session_id).annotate(n=Length("pcm")).values_list("side", "start", "n")
    )
    for side, start, n in pending:
        offsets[side] = max(offsets.get(side, 0), start + n)
        open_bytes[side] = open_bytes.get(side, 0) + n
    return Streams(offsets=offsets, open_bytes=open_bytes)
