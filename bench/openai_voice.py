"""Voice through `/v1/realtime`: what the OpenAI dialect's audio conversion costs a worker.

Ten sessions (Yandex's default quota) of two-way real-time voice, each an OpenAI client speaking
24 kHz PCM16: 20 ms appends every 20 ms while the emulator speaks back at real-time pace. Measured
twice in one run, each against a playground process of its own pinned to the relay core:

- `converted`: the emulator speaks Yandex's 44.1 kHz, so every append and every delta is resampled
  (playground/realtime/dialect/audio.py);
- `passthrough`: the emulator runs at 24 kHz (`python -m emulator --rate 24000`), the rates agree and
  the adapter passes audio events through unparsed — the same sessions without conversion.

Latency is per answer delta: the client's receive time minus the emulator's send stamp
(`x_emulator_sent_at`, kept on each converted delta); both run on this machine's clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import os
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websockets

from .processes import (
    LOAD_CORES,
    RELAY_CORE,
    cpu_seconds,
    free_port,
    pin,
    playground_env,
    prepare,
    process,
    serve_playground,
)

RATE = 24_000
CHUNK_S = 0.02
# Two emulator events (an audio delta and its transcript) per 60 ms word: 33 a second is real time.
PACE = 33
STAMP = "x_emulator_sent_at"
SESSION = {
    "type": "realtime",
    "output_modalities": ["audio"],
    "audio": {
        "input": {"format": {"type": "audio/pcm", "rate": RATE}, "turn_detection": None},
        "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "alloy"},
    },
}


@dataclass
class VoiceRun:
    mode: str  # converted | passthrough
    sessions: int
    seconds: float
    worker_cpu: float  # share of one core, over the run
    p50_ms: float
    p99_ms: float
    deltas: int
    audio_in_s: float  # the audio the clients sent, in seconds
    audio_out_s: float  # the audio the clients got back, in seconds, at 24 kHz
    problems: list[str] = field(default_factory=list)


def _tone(seconds: float) -> bytes:
    t = np.arange(int(RATE * seconds)) / RATE
    return (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes()


async def _session(url: str, token: str, seconds: float, lags: list[float], totals: dict[str, float]) -> list[str]:
    problems: list[str] = []
    chunk = _tone(CHUNK_S)
    append = json.dumps({"type": "input_audio_buffer.append", "audio": base64.b64encode(chunk).decode()})
    words = int(seconds / 0.06)
    async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": SESSION}))
        while (event := json.loads(await ws.recv()))["type"] != "session.updated":
            if event["type"] == "error":
                problems.append(f"session.update: {event['error'].get('message')}")
        create = {"type": "response.create", "response": {"metadata": {"emulator_words": str(words)}}}
        await ws.send(json.dumps(create))

        async def speak() -> None:
            start = time.monotonic()
            for i in range(int(seconds / CHUNK_S)):
                await asyncio.sleep(max(0.0, start + i * CHUNK_S - time.monotonic()))
                await ws.send(append)
                totals["in"] += CHUNK_S

        speaker = asyncio.create_task(speak())
        try:
            async for text in ws:
                event = json.loads(text)
                kind = event["type"]
                if kind == "response.output_audio.delta":
                    totals["out"] += len(base64.b64decode(event["delta"])) / 2 / RATE
                    if STAMP in event:
                        lags.append(time.time() - float(event[STAMP]))
                elif kind == "error":
                    problems.append(str(event["error"].get("message")))
                elif kind == "response.done":
                    break
        finally:
            await speaker
    return problems


async def _drive(
    url: str, token: str, sessions: int, seconds: float
) -> tuple[list[float], dict[str, float], list[str]]:
    lags: list[float] = []
    totals = {"in": 0.0, "out": 0.0}
    results = await asyncio.gather(*(_session(url, token, seconds, lags, totals) for _ in range(sessions)))
    return lags, totals, [p for problems in results for p in problems]


def _serve(stack: ExitStack, work: Path, mode: str, rate: int) -> tuple[str, int, str]:
    """An emulator at `rate` and a playground (as `make run` serves it) in front of it; its URL, pid, a token."""
    emulator_port = free_port()
    var = work / f"voice-{mode}"
    var.mkdir(exist_ok=True)
    # /v1/realtime takes no per-session emulator options: pace and stamps go in the emulator's URL.
    env = playground_env(var, PLAYGROUND_EMULATOR_URL=f"ws://127.0.0.1:{emulator_port}/v1/realtime?stamp=1&pace={PACE}")
    token = prepare(env, "voice")
    emulator = [sys.executable, "-m", "emulator", "--port", str(emulator_port), "--lifetime", "0", "--rate", str(rate)]
    stack.enter_context(process(emulator, port=emulator_port, cores=LOAD_CORES, log=var / "emulator.log", env=env))
    url, pid = serve_playground(stack, env, cores=RELAY_CORE, log=var / "playground.log")
    return url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime", pid, token


async def voice_run(work: Path, *, mode: str, sessions: int, seconds: float) -> VoiceRun:
    rate = 44_100 if mode == "converted" else RATE
    with ExitStack() as stack:
        url, pid, token = _serve(stack, work, mode, rate)
        pin(os.getpid(), LOAD_CORES)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        lags, totals, problems = await _drive(url, token, sessions, seconds)
        cpu, wall = cpu_seconds(pid) - cpu0, time.monotonic() - t0
    ms = np.array(lags) * 1000 if lags else np.array([math.nan])
    expected = sessions * seconds
    if totals["out"] < 0.9 * expected:
        problems.append(f"{totals['out']:.1f} s of answer audio came back, not {expected:.0f} s")
    return VoiceRun(
        mode=mode,
        sessions=sessions,
        seconds=wall,
        worker_cpu=cpu / wall,
        p50_ms=float(np.percentile(ms, 50)),
        p99_ms=float(np.percentile(ms, 99)),
        deltas=len(lags),
        audio_in_s=totals["in"],
        audio_out_s=totals["out"],
        problems=problems,
    )


def describe(r: VoiceRun) -> str:
    status = "ok" if not r.problems else "PROBLEM: " + "; ".join(sorted(set(r.problems))[:3])
    return (
        f"voice /v1/realtime {r.mode:<11} {r.sessions} sessions: delta p50 {r.p50_ms:.2f} p99 {r.p99_ms:.2f} ms, "
        f"worker CPU {r.worker_cpu * 100:.0f}%, audio in {r.audio_in_s:.0f} s / out {r.audio_out_s:.0f} s — {status}"
    )


def section(runs: list[VoiceRun]) -> str:
    """The report's section: both runs, and what conversion adds."""
    by = {r.mode: r for r in runs}
    conv, plain = by.get("converted"), by.get("passthrough")
    lines = [
        "### Voice through /v1/realtime (OpenAI dialect: 24 kHz on the client, 44.1 kHz upstream)",
        "",
        f"{conv.sessions if conv else 10} OpenAI-dialect sessions of two-way real-time voice: 20 ms appends of "
        "24 kHz PCM16 every 20 ms while the emulator answers in audio at real-time pace. `converted` resamples "
        "both ways (the emulator speaks Yandex's 44.1 kHz); `passthrough` is the same sessions against an emulator "
        "at 24 kHz, so nothing is converted. Each against its own worker, pinned to the relay core.",
        "",
        "| mode | answer delta p50 ms | p99 ms | worker CPU | deltas | audio in / out s | checks |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        checks = "all audio back, no error event" if not r.problems else "; ".join(sorted(set(r.problems))[:3])
        lines.append(
            f"| {r.mode} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | {r.worker_cpu * 100:.0f}% | {r.deltas:,} | "
            f"{r.audio_in_s:.0f} / {r.audio_out_s:.0f} | {checks} |"
        )
    if conv and plain:
        lines += [
            "",
            f"Conversion adds {conv.p99_ms - plain.p99_ms:+.2f} ms p99 on answer deltas "
            f"(p50 {conv.p50_ms - plain.p50_ms:+.2f} ms) and {(conv.worker_cpu - plain.worker_cpu) * 100:+.0f} points "
            f"of one core ({conv.worker_cpu / plain.worker_cpu:.2f} × the worker CPU without conversion). The "
            "resampler also holds back a little audio per delta (under 1 ms at 24 kHz input, docs/openai-compat.md), "
            "which the stamp does not see.",
        ]
    return "\n".join(lines) + "\n"
