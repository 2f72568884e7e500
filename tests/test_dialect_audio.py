"""Audio conversion (playground/realtime/dialect/audio.py): G.711 against Python's own reference, and
streams resampled chunk by chunk against the same audio resampled whole."""

from __future__ import annotations

import random
import warnings

import numpy as np
import pytest

from playground.realtime.dialect.audio import PCM, PCMA, PCMU, AudioFormat, AudioStream, convert_clip, decode, encode

with warnings.catch_warnings():
    # audioop (Python ≤ 3.12) carries the reference G.711 code: the oracle, deprecated as it is.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

EVERY_SAMPLE = np.arange(-32768, 32768, dtype=np.int16)
EVERY_BYTE = bytes(range(256))


def test_g711_is_bit_exact_with_the_reference_on_every_value() -> None:
    raw = EVERY_SAMPLE.astype("<i2").tobytes()
    assert encode(EVERY_SAMPLE, PCMU) == audioop.lin2ulaw(raw, 2)
    assert encode(EVERY_SAMPLE, PCMA) == audioop.lin2alaw(raw, 2)
    assert decode(EVERY_BYTE, PCMU).astype("<i2").tobytes() == audioop.ulaw2lin(EVERY_BYTE, 2)
    assert decode(EVERY_BYTE, PCMA).astype("<i2").tobytes() == audioop.alaw2lin(EVERY_BYTE, 2)


def sine(rate: int, seconds: float, hz: float = 440.0, amplitude: int = 8000) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(round(rate * seconds)) / rate)).astype(np.int16)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (AudioFormat(PCM, 24000), AudioFormat(PCM, 44100)),
        (AudioFormat(PCM, 44100), AudioFormat(PCM, 24000)),
        (AudioFormat(PCMU, 8000), AudioFormat(PCM, 44100)),
        (AudioFormat(PCM, 44100), AudioFormat(PCMA, 8000)),
    ],
)
def test_chunks_of_any_size_give_the_whole_streams_audio_no_click_no_drift(
    source: AudioFormat, target: AudioFormat
) -> None:
    data = encode(sine(source.rate, 3.0), source.type)
    whole = decode(convert_clip(data, source, target), target.type).astype(np.int32)
    stream = AudioStream(source, target)
    rng = random.Random(14)
    out, pos = b"", 0
    while pos < len(data):
        size = rng.randint(1, source.bytes_per_second // 10)  # odd byte counts too: half samples wait
        out += stream.push(data[pos : pos + size])
        pos += size
    out += stream.flush()
    chunked = decode(out, target.type).astype(np.int32)
    # N ms in, N ms out: three seconds are three seconds, to the sample.
    assert len(chunked) == len(whole) == target.rate * 3
    # Seamless: chunk borders leave no trace (the same audio as resampled in one go, within rounding;
    # G.711's steps are coarser, so one quantisation step there).
    tolerance = 2 if target.type == PCM else 300
    assert np.abs(chunked - whole).max() <= tolerance


def test_a_stream_keeps_time_held_back_audio_is_late_not_shifted() -> None:
    """The resampler only holds samples back: the output is time-aligned with the input, so a position
    in ms means the same instant on both sides."""
    tone = sine(24000, 1.0)
    stream = AudioStream(AudioFormat(PCM, 24000), AudioFormat(PCM, 44100))
    out = b"".join(stream.push(tone[i : i + 480].astype("<i2").tobytes()) for i in range(0, 24000, 480))
    out += stream.flush()
    got = decode(out, PCM).astype(np.float64)
    ideal = 8000 * np.sin(2 * np.pi * 440 * np.arange(len(got)) / 44100)
    middle = slice(4410, len(got) - 4410)
    assert np.abs(got[middle] - ideal[middle]).max() < 10  # a shift of one sample would be ~500 off


def test_a_flushed_stream_starts_afresh() -> None:
    stream = AudioStream(AudioFormat(PCM, 24000), AudioFormat(PCM, 44100))
    for _ in range(2):
        out = stream.push(sine(24000, 0.5).astype("<i2").tobytes()) + stream.flush()
        assert len(out) // 2 == 22050
