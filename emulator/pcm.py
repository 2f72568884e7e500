"""PCM16 mono audio: the emulator's voice (a quiet tone, 60 ms per word), levels, and audio kept beside items."""

from __future__ import annotations

import base64
import binascii
import math
import sys
from array import array
from dataclasses import dataclass
from functools import lru_cache

from .protocol import ClientError

WORD_MS = 60  # audio per spoken word
TONE_HZ = 500  # 60 ms holds exactly 30 periods, so word chunks join without clicks
TONE_AMPLITUDE = 1000  # about -30 dBFS: audible but quiet


def samples_per_word(rate: int) -> int:
    return rate * WORD_MS // 1000


def _to_pcm_bytes(samples: array[int]) -> bytes:
    # The wire format is little-endian PCM16 whatever the machine.
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@lru_cache(maxsize=16)
def word_tone(rate: int) -> bytes:
    """One word of speech: 60 ms of a quiet sine, PCM16 mono at `rate`."""
    count = samples_per_word(rate)
    wave = array("h", (round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(count)))
    return _to_pcm_bytes(wave)


@lru_cache(maxsize=16)
def word_tone_b64(rate: int) -> str:
    # Cached: long streams send the same chunk thousands of times.
    return base64.b64encode(word_tone(rate)).decode("ascii")


def tone(rate: int, samples: int) -> bytes:
    """`samples` samples of the emulator's voice (the word tone repeated)."""
    chunk = word_tone(rate)
    repeats = samples // max(1, len(chunk) // 2) + 1
    return (chunk * repeats)[: samples * 2]


def rms(pcm: bytes | bytearray) -> float:
    samples = array("h", bytes(pcm))
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def decode_audio(data: str, param: str) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ClientError("invalid_value", f"'{param}' is not valid base64.", param) from None


@dataclass
class StoredAudio:
    """Audio kept beside an item (events carry no audio back unless retrieved)."""

    rate: int
    samples: int
    pcm: bytes | None = None  # None: the emulator's own voice, regenerated when asked for

    def data(self) -> bytes:
        return self.pcm[: self.samples * 2] if self.pcm is not None else tone(self.rate, self.samples)

    @property
    def ms(self) -> int:
        return self.samples * 1000 // self.rate
