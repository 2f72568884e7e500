"""Replay: a 10-minute voice recording, and how long the replay page waits for its first audio byte.

The recording is written straight into the worker's database, not talked for ten minutes: a session (state
ended) and its events through the recorder's own write (playground/realtime/runtime/recorder.py,
`events_record`): session.created, then 6000 client `input_audio_buffer.append` of 100 ms (ts 0.1 s apart; the
voice step's turns of 1.5 s of speech-like tone and 1 s of room noise), and after each turn the emulator's
answer: VAD events, response.created, five 60 ms `response.output_audio.delta` with their transcript deltas,
response.done. `python -m bench.replay --minutes 10 --user bench` (the worker's environment) writes it.

Then the wall time from the page's first request to the first audio byte it can play, following what
static/playground/pages/replay.js fetches:
- `inline` (today): every page of GET /api/sessions/{id}/events (10,000 events a page, audio inline in base64)
  until an empty one; the page plays nothing before all of them are in;
- `ref` (the media store): the first page of GET /api/sessions/{id}/events?audio=ref, whose audio fields are
  {"$audio": side, "offset": n, "length": n}, then GET /api/sessions/{id}/audio/{side} with a Range header
  (206, audio/wav) for the first chunk and the player's 1.5 s lookahead: the first body byte counts.

The `ref` path is measured when the server answers `audio=ref` with such objects, `inline` otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from .processes import ROOT, MediaWorker
from .voice import CHUNK_S, RATE, SESSION, SILENCE_CHUNKS, SPEECH_CHUNKS, append_event

PAGE_LIMIT = 10_000  # replay.js's PAGE_LIMIT
LOOKAHEAD_BYTES = int(1.5 * RATE) * 2  # replay-audio.js's LOOKAHEAD_MS of PCM16
TARGET_S = 1.0
AUDIO_FIELDS = {"input_audio_buffer.append": "audio", "response.output_audio.delta": "delta"}
ANSWER_WORDS = ["You", "said:", '"(speech', "1.50", 's)".']  # the emulator's answer to a 1.5 s turn


@dataclass
class ReplayResult:
    path: str  # inline | ref
    minutes: float
    events: int
    seed_s: float  # writing the recording
    first_page_s: float  # the first page with audio in hand
    first_audio_s: float  # the first audio byte the page can play
    fetched_bytes: int
    requests: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.first_audio_s <= TARGET_S and not self.problems


# --- the recording -------------------------------------------------------------------------------


def _recording(minutes: float, t0: float) -> Iterator[tuple[float, str, dict[str, Any]]]:
    """(ts, direction, event) of a voice session `minutes` long, in no particular order."""
    import numpy as np

    from emulator.pcm import word_tone_b64

    rng = np.random.default_rng(0)
    session = {"type": "realtime", "id": "sess_bench", "object": "realtime.session", **SESSION}
    yield t0, "server", {"type": "session.created", "session": session}
    count = int(minutes * 60 / CHUNK_S)
    turn = (SPEECH_CHUNKS + SILENCE_CHUNKS) * CHUNK_S
    delta = word_tone_b64(RATE)
    for i in range(count):
        yield t0 + 0.05 + i * CHUNK_S, "client", append_event(i, rng)
    for c in range(int(count * CHUNK_S / turn)):
        at = t0 + 0.05 + c * turn
        item, response = f"item_{c:04d}u", f"resp_{c:04d}"
        ids = {"response_id": response, "item_id": f"item_{c:04d}a", "output_index": 0, "content_index": 0}
        yield at + 0.01, "server", {"type": "input_audio_buffer.speech_started", "audio_start_ms": 0, "item_id": item}
        spoke = at + 2.0 + 0.01  # the VAD's 0.5 s of silence after 1.5 s of speech
        yield spoke, "server", {"type": "input_audio_buffer.speech_stopped", "audio_end_ms": 0, "item_id": item}
        yield spoke + 0.001, "server", {"type": "input_audio_buffer.committed", "item_id": item}
        yield (
            spoke + 0.002,
            "server",
            {"type": "response.created", "response": {"id": response, "status": "in_progress"}},
        )
        for w, word in enumerate(ANSWER_WORDS):
            sent = spoke + 0.03 + w * 0.06
            yield sent, "server", {"type": "response.output_audio.delta", **ids, "delta": delta}
            yield sent + 0.001, "server", {"type": "response.output_audio_transcript.delta", **ids, "delta": word + " "}
        done = spoke + 0.03 + len(ANSWER_WORDS) * 0.06
        yield done, "server", {"type": "response.done", "response": {"id": response, "status": "completed"}}


def seed(minutes: float, username: str) -> str:
    """Write the recording into the configured database (run with the worker's environment): its id."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from playground.realtime.models import RealtimeSession, SessionState
    from playground.realtime.runtime.frames import Frame
    from playground.realtime.runtime.recorder import events_record, recording_close

    owner = get_user_model().objects.get(username=username)
    t0 = time.time() - minutes * 60 - 5
    events = sorted(_recording(minutes, t0), key=lambda e: e[0])
    session = RealtimeSession.objects.create(
        owner=owner, upstream="emulator", state=SessionState.ENDED, config=SESSION, ended_at=timezone.now()
    )
    sid = str(session.id)
    frames = []
    for seq, (ts, direction, event) in enumerate(events, start=1):
        if direction == "server":
            event = {"event_id": f"event_{seq:05d}", **event}
        frames.append((sid, Frame(seq=seq, direction=direction, ts=ts, type=event["type"], data=json.dumps(event))))
    for i in range(0, len(frames), 1000):
        events_record(batch=frames[i : i + 1000])
    recording_close(session_id=sid)  # as at a session's end: audio sealed, rows packed
    RealtimeSession.objects.filter(pk=session.pk).update(last_seq=len(frames))
    return sid


def seed_in(worker: MediaWorker, minutes: float) -> tuple[str, float]:
    """The recording written through the worker's settings: its id, and the seconds it took."""
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "bench.replay", "--minutes", str(minutes), "--user", "bench"],
        cwd=ROOT,
        env=worker.env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip().splitlines()[-1], time.monotonic() - started


# --- what the page fetches -----------------------------------------------------------------------


def _audio(frame: dict[str, Any]) -> Any:
    event = frame.get("event") or {}
    name = AUDIO_FIELDS.get(event.get("type", ""))
    return event.get(name) if name else None


async def _inline(http: httpx.AsyncClient, sid: str, result: ReplayResult) -> None:
    """replay.js's fetchAll: pages until an empty one; only then can it play."""
    started, after = time.perf_counter(), 0
    while True:
        res = await http.get(f"/api/sessions/{sid}/events", params={"after": after, "limit": PAGE_LIMIT})
        res.raise_for_status()
        batch = res.json()
        result.requests += 1
        result.fetched_bytes += len(res.content)
        if not batch:
            break
        if math.isnan(result.first_page_s) and any(isinstance(_audio(f), str) for f in batch):
            result.first_page_s = time.perf_counter() - started
        result.events += len(batch)
        after = batch[-1]["seq"]
    result.first_audio_s = time.perf_counter() - started


async def _ref(http: httpx.AsyncClient, sid: str, result: ReplayResult) -> None:
    """The first page with audio by reference, then the first audio bytes by Range."""
    started = time.perf_counter()
    res = await http.get(f"/api/sessions/{sid}/events", params={"after": 0, "limit": PAGE_LIMIT, "audio": "ref"})
    res.raise_for_status()
    batch = res.json()
    result.requests += 1
    result.fetched_bytes += len(res.content)
    result.events = len(batch)
    result.first_page_s = time.perf_counter() - started
    ref = next(a for f in batch if isinstance(a := _audio(f), dict))
    first, last = int(ref["offset"]), int(ref["offset"]) + max(int(ref["length"]), LOOKAHEAD_BYTES) - 1
    url = f"/api/sessions/{sid}/audio/{ref['$audio']}"
    async with http.stream("GET", url, headers={"Range": f"bytes={first}-{last}"}) as res:
        result.requests += 1
        if res.status_code != 206:
            result.problems.append(f"GET {url} with Range: HTTP {res.status_code}, not 206")
        async for chunk in res.aiter_bytes():
            if chunk:
                result.first_audio_s = time.perf_counter() - started
                result.fetched_bytes += len(chunk)
                break


async def measure(http: httpx.AsyncClient, sid: str, *, minutes: float, seed_s: float) -> ReplayResult:
    """The `ref` path when the server answers `audio=ref` with references, else the `inline` one."""
    probe = await http.get(f"/api/sessions/{sid}/events", params={"after": 0, "limit": 100, "audio": "ref"})
    probe.raise_for_status()
    new = any(isinstance(_audio(f), dict) for f in probe.json())
    nan = math.nan
    result = ReplayResult("ref" if new else "inline", minutes, 0, seed_s, nan, nan, 0, 0)
    try:
        await (_ref if new else _inline)(http, sid, result)
    except Exception as exc:
        result.problems.append(f"failed: {exc!r}")
    return result


async def replay_run(worker: MediaWorker, *, minutes: float) -> ReplayResult:
    sid, seed_s = seed_in(worker, minutes)
    async with httpx.AsyncClient(
        base_url=worker.url, headers={"Authorization": f"Bearer {worker.token}"}, timeout=300
    ) as http:
        return await measure(http, sid, minutes=minutes, seed_s=seed_s)


def target(r: ReplayResult) -> tuple[str, str, bool]:
    return (
        f"replay: first audio byte of a {r.minutes:g}-minute voice recording ≤ 1 s",
        f"{r.first_audio_s:.2f} s ({r.path} path)",
        r.ok,
    )


def describe(r: ReplayResult) -> str:
    status = "ok" if not r.problems else "PROBLEM: " + "; ".join(r.problems)
    return (
        f"replay {r.minutes:g}-minute voice recording ({r.events:,} events, written in {r.seed_s:.1f} s), "
        f"{r.path} path: first audio byte playable at {r.first_audio_s:.2f} s (first page with audio "
        f"{r.first_page_s:.2f} s), {r.requests} requests, {r.fetched_bytes / 1e6:,.1f} MB — {status}"
    )


def section(r: ReplayResult | None) -> str:
    if r is None:
        return ""
    name, value, ok = target(r)
    how = (
        "the first page of `GET /api/sessions/{id}/events?audio=ref` (audio by reference), then "
        "`GET /api/sessions/{id}/audio/{side}` with a Range header for the first chunk and the player's 1.5 s "
        "lookahead; the first body byte counts"
        if r.path == "ref"
        else "every page of `GET /api/sessions/{id}/events` (10,000 events a page, audio inline in base64) until "
        "an empty one, as replay.js's fetchAll does: the page plays nothing before all of them are in (the server "
        "does not answer `?audio=ref` with audio references yet)"
    )
    checks = "ok" if not r.problems else "; ".join(r.problems)
    return (
        f"### Replay: a {r.minutes:g}-minute voice recording\n\n"
        f"A recording of {r.events:,} events is written into the worker's PostgreSQL database through the "
        "recorder's own write (session.created, 100 ms appends of 44.1 kHz PCM16 0.1 s apart, the emulator's "
        f"spoken answer after each turn; {r.seed_s:.1f} s). Measured path: **{r.path}**: {how}. Timed from the "
        "first request; the page's HTML is not counted.\n\n"
        "| path | first audio byte playable s | first page with audio s | requests | fetched MB | target | |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {r.path} | {r.first_audio_s:.2f} | {r.first_page_s:.2f} | {r.requests} | {r.fetched_bytes / 1e6:,.1f} "
        f"| ≤ {TARGET_S:g} s | {'met' if ok else '**missed**'} |\n\n"
        f"Checks: {checks}. Target: {name}: {value}.\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.replay", description="Write a voice recording.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--user", default="bench")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")
    print(seed(args.minutes, args.user))
