"""Reading a recording's audio back: any range of a side's stream, from sealed chunks or pending rows."""

from __future__ import annotations

import bisect
import hashlib
from typing import Any

from playground.errors import PlaygroundError

from .codec import flac_decode
from .models import AudioChunk, AudioPending
from .storage import recordings_storage
from .writer import streams_load


class AudioMissing(PlaygroundError):
    """Audio a recording refers to is not where it should be: said, never papered over with silence."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=500)


class AudioSource:
    """One session's audio, for one reader: the chunk index loaded once, the last chunk decoded kept."""

    def __init__(self, session_id: Any) -> None:
        self.session_id = session_id
        self._index: dict[str, tuple[list[int], list[tuple[int, int, str, str]]]] | None = None
        self._held: dict[str, tuple[int, bytes]] = {}  # side → (start, PCM) last read

    def _chunks(self, side: str) -> tuple[list[int], list[tuple[int, int, str, str]]]:
        if self._index is None:
            self._index = {}
            rows = AudioChunk.objects.filter(session_id=self.session_id).order_by("side", "start")
            for s, start, length, name, sha in rows.values_list("side", "start", "length", "name", "sha256"):
                starts, chunks = self._index.setdefault(s, ([], []))
                starts.append(start)
                chunks.append((start, length, name, sha))
        return self._index.get(side, ([], []))

    def _sealed(self, side: str, pos: int) -> tuple[int, bytes] | None:
        """The sealed chunk holding byte `pos` of the side, decoded; None if no chunk does."""
        starts, chunks = self._chunks(side)
        i = bisect.bisect_right(starts, pos) - 1
        if i < 0 or pos >= chunks[i][0] + chunks[i][1]:
            return None
        start, length, name, sha = chunks[i]
        return start, self._decode(name, sha, length)

    def _pending(self, side: str, pos: int) -> tuple[int, bytes] | None:
        """The open chunk's pending piece holding byte `pos` of the side; None if none does."""
        row = (
            AudioPending.objects.filter(session_id=self.session_id, side=side, start__lte=pos)
            .order_by("-start")
            .values_list("start", "pcm")
            .first()
        )
        return (row[0], bytes(row[1])) if row is not None and pos < row[0] + len(row[1]) else None

    def _piece(self, side: str, pos: int) -> tuple[int, bytes]:
        held = self._held.get(side)
        if held is not None and held[0] <= pos < held[0] + len(held[1]):
            return held
        piece = self._sealed(side, pos) or self._pending(side, pos)
        if piece is None:
            self._index = None  # sealed since the index was read? look once more
            piece = self._sealed(side, pos)
        if piece is None:
            raise AudioMissing(f"The recording's {side} audio at byte {pos} is missing.")
        self._held[side] = piece
        return piece

    def _decode(self, name: str, sha: str, length: int) -> bytes:
        try:
            with recordings_storage().open(name, "rb") as f:
                pcm = flac_decode(f.read())
        except (OSError, RuntimeError) as exc:  # RuntimeError: libsndfile could not read it
            raise AudioMissing(f"The recording's audio file {name} could not be read: {exc}") from exc
        if len(pcm) != length or hashlib.sha256(pcm).hexdigest() != sha:
            raise AudioMissing(f"The recording's audio file {name} does not hold the audio it was saved with.")
        return pcm

    def read(self, side: str, offset: int, length: int) -> bytes:
        out = bytearray()
        pos, end = offset, offset + length
        while pos < end:
            start, pcm = self._piece(side, pos)
            take = pcm[pos - start : end - start]
            out += take
            pos += len(take)
        return bytes(out)

    def length(self, side: str) -> int:
        """Bytes of the side's stream recorded so far."""
        return streams_load(session_id=self.session_id).offsets.get(side, 0)
