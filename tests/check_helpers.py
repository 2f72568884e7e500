"""Helpers for the preset checks' tests: presets with checks, runs awaited through the API, audio files."""

from __future__ import annotations

import asyncio
import base64
import io
import math
import shutil
import subprocess
from typing import Any

import httpx
import numpy as np
import soundfile

TEXT_SESSION = {"output_modalities": ["text"], "instructions": "Be brief."}
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def text_check(name: str, text: str, *expect: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "turns": [{"user": {"type": "text", "text": text}, "expect": list(expect)}]}


async def preset_with_checks(
    api: httpx.AsyncClient,
    checks: list[dict[str, Any]],
    *,
    session: dict[str, Any] | None = None,
    tool_outputs: dict[str, str] | None = None,
    name: str = "Checked",
) -> dict[str, Any]:
    content = {"session": session or TEXT_SESSION, "tool_outputs": tool_outputs or {}, "checks": checks}
    res = await api.post("/api/presets", json={"name": name, "content": content})
    assert res.status_code == 201, res.text
    return dict(res.json())


async def run_checks(api: httpx.AsyncClient, preset_id: str, *, within: float = 60, **body: Any) -> dict[str, Any]:
    """POST a run, then follow it (GET /api/check-runs/{id}) until it is over; returns it in full."""
    body.setdefault("upstream", "emulator")
    res = await api.post(f"/api/presets/{preset_id}/check-runs", json=body)
    assert res.status_code == 202, res.text
    run = res.json()
    async with asyncio.timeout(within):
        while run["state"] in ("queued", "running"):
            await asyncio.sleep(0.05)
            got = await api.get(f"/api/check-runs/{run['id']}")
            assert got.status_code == 200, got.text
            run = got.json()
    return dict(run)


def only_result(run: dict[str, Any]) -> dict[str, Any]:
    assert len(run["results"]) == 1, run["results"]
    return dict(run["results"][0])


def failed_assertions(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in result["assertions"] if a["status"] == "failed"]


def espeak_wav(text: str, voice: str = "en") -> bytes:
    """Speech from espeak-ng, as a WAV file. Fails loudly without it: .ci/run installs it."""
    assert shutil.which("espeak-ng"), "espeak-ng is missing: apt-get install espeak-ng (.ci/run installs it)"
    done = subprocess.run(["espeak-ng", "-v", voice, "--stdout", text], check=True, capture_output=True)
    return done.stdout


def encoded(raw: bytes, fmt: str, subtype: str | None = None) -> bytes:
    """An audio file re-encoded (OGG, FLAC, MP3, WAV) with soundfile."""
    data, rate = soundfile.read(io.BytesIO(raw), dtype="float32")
    out = io.BytesIO()
    soundfile.write(out, data, rate, format=fmt, subtype=subtype)
    return out.getvalue()


def tone_wav(*, seconds: float, rate: int = 16000, hz: float = 220.0, amplitude: float = 0.3) -> bytes:
    """A loud tone (the emulator's VAD hears energy) as a WAV file at `rate`."""
    t = np.arange(int(seconds * rate)) / rate
    samples = (amplitude * np.sin(2 * math.pi * hz * t)).astype(np.float32)
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format="WAV", subtype="PCM_16")
    return out.getvalue()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
