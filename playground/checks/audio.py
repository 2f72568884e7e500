"""Audio for a user's turn: an uploaded file decoded, or text spoken by a TTS, as PCM16 mono at the session's rate.

- Files (WAV, MP3, OGG, FLAC) are decoded with soundfile (libsndfile), mixed down to mono and resampled with
  soxr to the rate the session reports for its input (read from the session, never assumed).
- Speech: Debian's `espeak-ng` (local, offline) or Yandex SpeechKit's synthesis (API v1) when the run talks to
  Yandex anyway. SpeechKit's credentials are the upstream's (YC_API_KEY or YC_IAM_TOKEN, YC_FOLDER_ID); they
  go in a header and never into a message (upstreams/yandex.py's rules).
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import wave
from dataclasses import dataclass

import httpx
import numpy as np
from django.conf import settings

from playground.realtime.upstreams.yandex import auth_header

ESPEAK = "espeak-ng"
ESPEAK_TIMEOUT_S = 30.0
SPEECHKIT_RATE = 48000
SPEECHKIT_TIMEOUT_S = 30.0
_CYRILLIC = re.compile(r"[\u0400-\u04ff]")


class AudioError(Exception):
    """Audio that could not be made: said in words, for a check's reason or a 422."""


@dataclass(frozen=True)
class Sound:
    """Mono samples in [-1, 1] at their own rate, with where they came from (in words)."""

    samples: np.ndarray
    rate: int
    source: str

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    def pcm16(self, rate: int) -> bytes:
        """PCM16 little-endian mono at `rate` (resampled with soxr when the rates differ)."""
        samples = self.samples
        if rate != self.rate and len(samples):
            import soxr

            samples = soxr.resample(samples, self.rate, rate)
        clipped = np.clip(samples, -1.0, 1.0)
        return (clipped * 32767.0).round().astype("<i2").tobytes()


def sound_from_file(raw: bytes, *, name: str) -> Sound:
    """Decode an audio file (anything libsndfile reads: WAV, MP3, OGG, FLAC, …), mixed down to mono."""
    import soundfile

    try:
        data, rate = soundfile.read(io.BytesIO(raw), dtype="float32", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        why = str(exc).rsplit(": ", 1)[-1]  # libsndfile's words, without the BytesIO's repr before them
        raise AudioError(f"{name} is not an audio file that can be read (WAV, MP3, OGG, FLAC): {why}") from None
    if not len(data):
        raise AudioError(f"{name} holds no audio.")
    return Sound(samples=data.mean(axis=1), rate=int(rate), source=name)


def sound_from_pcm16(pcm: bytes, *, rate: int, source: str) -> Sound:
    samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
    return Sound(samples=samples, rate=rate, source=source)


def wav_bytes(pcm: bytes, *, rate: int) -> bytes:
    """PCM16 mono as a WAV file."""
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return out.getvalue()


def silence_pcm16(*, ms: int, rate: int) -> bytes:
    return b"\x00\x00" * (rate * ms // 1000)


def default_voice(text: str, engine: str) -> str:
    russian = bool(_CYRILLIC.search(text))
    if engine == "speechkit":
        return "alena" if russian else "john"
    return "ru" if russian else "en"


def espeak_available() -> bool:
    return shutil.which(ESPEAK) is not None


async def speak_espeak(text: str, *, voice: str | None = None) -> Sound:
    """Text spoken by espeak-ng (a WAV on its stdout, the text on its stdin so no text is taken for an option)."""
    if not espeak_available():
        raise AudioError(
            "espeak-ng is not installed here, so a spoken turn cannot be made: install it "
            "(Debian/Ubuntu: apt-get install espeak-ng)."
        )
    chosen = voice or default_voice(text, "espeak-ng")
    proc = await asyncio.create_subprocess_exec(
        ESPEAK,
        "-v",
        chosen,
        "--stdout",
        "--stdin",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(ESPEAK_TIMEOUT_S):
            out, err = await proc.communicate(text.encode("utf-8"))
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AudioError(f"espeak-ng did not finish within {ESPEAK_TIMEOUT_S:.0f} s.") from None
    if proc.returncode != 0 or not out:
        said = err.decode("utf-8", "replace").strip() or f"exit code {proc.returncode}"
        raise AudioError(f"espeak-ng could not speak with voice {chosen!r}: {said}")
    sound = sound_from_file(out, name="espeak-ng's output")
    return Sound(samples=sound.samples, rate=sound.rate, source=f"espeak-ng (voice {chosen})")


def _redacted(text: str) -> str:
    for secret in (settings.YC_API_KEY, settings.YC_IAM_TOKEN):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text


async def speak_speechkit(text: str, *, voice: str | None = None) -> Sound:
    """Text spoken by Yandex SpeechKit (API v1 `tts:synthesize`, raw LPCM at 48 kHz)."""
    if not (settings.YC_API_KEY or settings.YC_IAM_TOKEN):
        raise AudioError("SpeechKit needs Yandex credentials: set YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID.")
    chosen = voice or default_voice(text, "speechkit")
    form = {
        "text": text,
        "voice": chosen,
        "lang": "ru-RU" if _CYRILLIC.search(text) else "en-US",
        "format": "lpcm",
        "sampleRateHertz": str(SPEECHKIT_RATE),
        "folderId": settings.YC_FOLDER_ID,
    }
    headers = {"Authorization": auth_header(api_key=settings.YC_API_KEY, iam_token=settings.YC_IAM_TOKEN)}
    try:
        async with httpx.AsyncClient(timeout=SPEECHKIT_TIMEOUT_S) as client:
            res = await client.post(settings.PLAYGROUND_SPEECHKIT_TTS_URL, data=form, headers=headers)
    except httpx.HTTPError as exc:
        raise AudioError(_redacted(f"SpeechKit did not answer: {exc!r}")) from None
    if res.status_code != 200:
        raise AudioError(_redacted(f"SpeechKit refused (HTTP {res.status_code}): {res.text[:300]}"))
    if not res.content:
        raise AudioError("SpeechKit answered with no audio.")
    return sound_from_pcm16(res.content, rate=SPEECHKIT_RATE, source=f"SpeechKit (voice {chosen})")
