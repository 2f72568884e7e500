"""A side of a recording as one WAV file, served whole or by byte range (HTTP Range, RFC 9110).

The file is a 44-byte WAV header followed by the side's PCM stream (playground/media/): the byte at
`44 + offset` is the first byte of the audio an event's reference `{"$audio", "offset", "length"}`
points at, so the replay page fetches exactly the audio it is about to play.
"""

from __future__ import annotations

import re
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from playground.db import db
from playground.errors import PlaygroundError
from playground.media.source import AudioSource

from .selectors import side_rate

HEADER = 44
PIECE = 1 << 20  # a whole file is sent (and its peaks read) a MiB at a time
PEAK_MAX = 32767
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def wav_header(*, length: int, rate: int) -> bytes:
    """RIFF/WAVE, PCM16 mono, `length` bytes of samples."""
    return (
        b"RIFF"
        + struct.pack("<I", 36 + length)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16)
        + b"data"
        + struct.pack("<I", length)
    )


@dataclass
class SideAudio:
    session_id: Any
    side: str
    rate: int
    length: int  # PCM bytes
    source: AudioSource

    @property
    def size(self) -> int:
        return HEADER + self.length

    def header(self) -> bytes:
        return wav_header(length=self.length, rate=self.rate)


def side_audio(*, session_id: Any, side: str) -> SideAudio:
    source = AudioSource(session_id)
    rate = side_rate(session_id=session_id, side=side)
    return SideAudio(session_id=session_id, side=side, rate=rate, length=source.length(side), source=source)


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes a Range header asks for, None for the whole file; 416 in words
    for a range this file cannot give (several ranges are not served: ask one at a time)."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        raise PlaygroundError(f"Range must be one range of bytes, like bytes=0-1023; got {header!r}.", status=416)
    first, last = match.groups()
    if not first and not last:
        raise PlaygroundError(f"Range names no bytes: {header!r}.", status=416)
    if not first:  # the last n bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last), size - 1) if last else size - 1
    if start >= size or start > end:
        raise PlaygroundError(f"Range {header!r} is outside this file's {size} bytes.", status=416, size=size)
    return start, end


async def side_bytes(audio: SideAudio, start: int, end: int) -> AsyncIterator[bytes]:
    """Bytes start..end (inclusive) of the WAV file, a piece at a time."""
    header = audio.header()
    if start < HEADER:
        yield header[start : end + 1]
        start = HEADER
    pos = start - HEADER
    stop = end + 1 - HEADER
    while pos < stop:
        n = min(PIECE, stop - pos)
        yield await db(audio.source.read, audio.side, pos, n)
        pos += n


def side_peaks(*, session_id: Any, side: str, every: int) -> list[int]:
    """The loudest sample (absolute, 0..32767) of each `every` samples of the side's stream, the last
    group possibly shorter: the replay page's waveform of a whole recording without its audio. Read a
    MiB or so at a time (a whole number of groups), so memory stays flat however long the recording."""
    source = AudioSource(session_id)
    length = source.length(side) & ~1
    step = max(1, PIECE // (2 * every)) * 2 * every
    peaks: list[int] = []
    for pos in range(0, length, step):
        samples = np.frombuffer(source.read(side, pos, min(step, length - pos)), dtype="<i2").astype(np.int32)
        loudest = np.maximum.reduceat(np.abs(samples), np.arange(0, samples.size, every))
        peaks += np.minimum(loudest, PEAK_MAX).tolist()
    return peaks
