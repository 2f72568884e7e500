"""Audio between the dialects: OpenAI's formats on the client's side, Yandex's PCM16 upstream.

- OpenAI's formats: `audio/pcm` (PCM16 mono; its types allow only 24 kHz, any rate from 8 to 96 kHz is
  served here), `audio/pcmu` and `audio/pcma` (G.711 µ-law and A-law, 8 kHz). Upstream: PCM16 mono at
  the rate the upstream's own session names (44.1 kHz for Yandex), read from its session events.
- A stream (the client's input, each answer's audio) keeps one python-soxr `ResampleStream`: its
  filter state runs across chunk borders, so a border leaves no click, and nothing is lost or added:
  the resampler only holds back a few ms, handed out by `flush()`, so N ms in give N ms out.
- soxr's "LQ" quality: 16-bit precision (what PCM16 carries) and a full anti-alias filter. Its higher
  qualities hold back 20-80 ms per chunk at these rates, LQ 1-40 ms (docs/openai-compat.md, "Audio").
- G.711 by lookup tables built with numpy, bit for bit as the reference C code (Sun's g711.c, which
  Python's old audioop module carried; tests/test_dialect_audio.py compares them on every value).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import numpy as np
import soxr

PCM = "audio/pcm"
PCMU = "audio/pcmu"
PCMA = "audio/pcma"
G711_RATE = 8000
OPENAI_PCM_RATE = 24000  # what OpenAI's types allow for audio/pcm
MIN_RATE, MAX_RATE = 8000, 96000
QUALITY = "LQ"


@dataclass(frozen=True, slots=True)
class AudioFormat:
    type: str
    rate: int

    def as_openai(self) -> dict[str, Any]:
        """The format as OpenAI's types write it (G.711 carries no rate: it is always 8 kHz)."""
        return {"type": self.type, "rate": self.rate} if self.type == PCM else {"type": self.type}

    @property
    def bytes_per_second(self) -> int:
        return self.rate * (2 if self.type == PCM else 1)


OPENAI_DEFAULT = AudioFormat(PCM, OPENAI_PCM_RATE)
UPSTREAM_DEFAULT = AudioFormat(PCM, 44100)


def upstream_format(value: Any, default: AudioFormat = UPSTREAM_DEFAULT) -> AudioFormat:
    """The format an upstream session object names (`{"type", "rate"}`), or `default` when it names none."""
    if not isinstance(value, dict):
        return default
    kind = value.get("type", PCM)
    rate = value.get("rate")
    if kind in (PCMU, PCMA):
        return AudioFormat(kind, G711_RATE)
    if kind == PCM and isinstance(rate, int) and not isinstance(rate, bool) and MIN_RATE <= rate <= MAX_RATE:
        return AudioFormat(PCM, rate)
    return default


# --- G.711 ---------------------------------------------------------------------------------------------------


def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    t = np.where(seg == 0, t + 8, t + 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    return np.where(a & 0x80, t, -t).astype(np.int16)


def _segment(value: np.ndarray, ends: tuple[int, ...]) -> np.ndarray:
    """The G.711 segment of each value: the first end it does not exceed (len(ends) if none)."""
    return np.searchsorted(np.array(ends), value, side="left")


def _ulaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 2  # 14 bits, as the reference code
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    pcm = np.minimum(np.abs(pcm), 8159) + 0x21
    seg = _segment(pcm, (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF))
    value = np.where(seg >= 8, 0x7F, (seg << 4) | ((pcm >> (np.minimum(seg, 7) + 1)) & 0x0F))
    return (value ^ mask).astype(np.uint8)


def _alaw_encode_table() -> np.ndarray:
    pcm = np.arange(-32768, 32768, dtype=np.int32) >> 3  # 13 bits, as the reference code
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    pcm = np.where(pcm >= 0, pcm, -pcm - 1)
    seg = _segment(pcm, (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF))
    shift = np.where(seg < 2, 1, np.minimum(seg, 7))
    value = np.where(seg >= 8, 0x7F, (np.minimum(seg, 7) << 4) | ((pcm >> shift) & 0x0F))
    return (value ^ mask).astype(np.uint8)


_DECODE = {PCMU: _ulaw_decode_table(), PCMA: _alaw_decode_table()}
_ENCODE = {PCMU: _ulaw_encode_table(), PCMA: _alaw_encode_table()}


def decode(data: bytes, kind: str) -> np.ndarray:
    """Bytes of `kind` as int16 samples (PCM16 is little-endian on the wire)."""
    if kind == PCM:
        return np.frombuffer(data, dtype="<i2").astype(np.int16)
    return _DECODE[kind][np.frombuffer(data, dtype=np.uint8)]


def encode(samples: np.ndarray, kind: str) -> bytes:
    if kind == PCM:
        return samples.astype("<i2").tobytes()
    return _ENCODE[kind][samples.astype(np.int32) + 32768].tobytes()


# --- streams ---------------------------------------------------------------------------------------------------


class AudioStream:
    """One stream of audio from one format to another, chunk by chunk, with its resampler's state."""

    def __init__(self, source: AudioFormat, target: AudioFormat) -> None:
        self.source = source
        self.target = target
        self._carry = b""  # half a PCM16 sample left over from the last chunk
        self._resampler = (
            soxr.ResampleStream(source.rate, target.rate, 1, dtype="int16", quality=QUALITY)
            if source.rate != target.rate
            else None
        )
        self.samples_in = 0
        self.samples_out = 0

    def push(self, data: bytes) -> bytes:
        """The converted audio for this chunk (possibly empty: the resampler may hold it back for now)."""
        if self.source.type == PCM:
            data = self._carry + data
            whole = len(data) - len(data) % 2
            data, self._carry = data[:whole], data[whole:]
        samples = decode(data, self.source.type)
        self.samples_in += len(samples)
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        self.samples_out += len(samples)
        return encode(samples, self.target.type)

    def flush(self) -> bytes:
        """What the resampler still holds; the stream then starts afresh (as after a commit)."""
        self._carry = b""
        if self._resampler is None:
            return b""
        samples = self._resampler.resample_chunk(np.zeros(0, dtype=np.int16), last=True)
        self._resampler.clear()
        self.samples_out += len(samples)
        return encode(samples, self.target.type)


def convert_clip(data: bytes, source: AudioFormat, target: AudioFormat) -> bytes:
    """A whole clip (an item's audio) at once."""
    if source == target:
        return data
    stream = AudioStream(source, target)
    return stream.push(data) + stream.flush()


def b64decode(text: str) -> bytes | None:
    """base64 text as bytes; None when it is not base64."""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
