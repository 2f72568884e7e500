"""PCM16 mono to FLAC and back, with libsndfile (python-soundfile): lossless, about half the bytes of
speech's raw PCM."""

from __future__ import annotations

import io

import numpy as np
import soundfile

# Yandex's (and the emulator's) rate. FLAC keeps the samples whatever the rate says; a file opened by
# hand plays at the right speed for sessions at this rate.
RATE = 44100


def flac_encode(pcm: bytes, *, rate: int = RATE) -> bytes:
    out = io.BytesIO()
    soundfile.write(out, np.frombuffer(pcm, dtype="<i2"), rate, format="FLAC", subtype="PCM_16")
    return out.getvalue()


def flac_decode(data: bytes) -> bytes:
    samples, _ = soundfile.read(io.BytesIO(data), dtype="int16", always_2d=False)
    return np.ascontiguousarray(samples, dtype="<i2").tobytes()
