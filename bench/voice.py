"""Voice as the console speaks it: what ten sessions of real-time two-way audio cost a worker and its storage.

Each session is opened as the console opens one (POST /api/sessions with server VAD, then its socket
/ws/sessions/{id}/) and sends `input_audio_buffer.append` every 100 ms in real time: 4410 samples of 44.1 kHz
PCM16 mono, 1.5 s of a tone in noise the emulator's energy VAD hears as speech, then 1 s of room noise under
its threshold, over and over. After each turn the emulator answers in audio (`response.output_audio.delta`, 60
ms a word at real-time pace). The same sessions run straight on the emulator (`direct`, the latency baseline)
and through the bare forwarder (`bare`, the CPU baseline), as the text steps do.

Measured on the playground: the worker's CPU, the added p99 on audio deltas (emulator send stamp → watcher
receive, minus direct's), the database's growth (every public table `VACUUM FULL`-ed before and after, sum of
`pg_total_relation_size`) and the media store's (the bytes under PLAYGROUND_MEDIA_DIR), per session-minute and
against the raw PCM both sides carried.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from .clients import EmulatorSession, PlaygroundSession
from .processes import MediaWorker, Services, cpu_seconds, tree_bytes
from .scenarios import percentile

RATE = 44_100
CHUNK_S = 0.1
CHUNK_SAMPLES = int(RATE * CHUNK_S)  # 4410 samples, 8820 bytes, 11,760 characters of base64
SPEECH_CHUNKS, SILENCE_CHUNKS = 15, 10  # 1.5 s loud, 1 s quiet: the emulator's VAD ends a turn after 0.5 s
# An audio delta and its transcript delta per 60 ms word: 33 events a second is real time.
PACE = 33
AUDIO_DELTA = "response.output_audio.delta"
SESSION = {
    "output_modalities": ["audio"],
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": RATE},
            # The console's voice-activity mode (static/playground/voice.js, DEFAULT_VAD).
            "turn_detection": {
                "type": "server_vad",
                "threshold": 0.5,
                "prefix_padding_ms": 300,
                "silence_duration_ms": 500,
            },
        },
        "output": {"format": {"type": "audio/pcm", "rate": RATE}},
    },
}
PATHS = ("direct", "bare", "playground")
# Targets (issue 16): per voice session-minute, and as a share of the raw PCM.
DB_TARGET = 100 * 1000
MEDIA_TARGET = 0.7
CPU_TARGET = 0.30


@dataclass
class VoiceResult:
    path: str
    sessions: int
    seconds: float  # each session's length
    p50_ms: float
    p99_ms: float
    deltas: int
    cpu: float  # share of one core of the relay (nan for direct)
    pcm_in: int  # PCM bytes the clients sent
    pcm_out: int  # PCM bytes of the answers they got
    problems: list[str] = field(default_factory=list)
    db_bytes: float = math.nan  # playground: the database's growth
    media_bytes: float = math.nan  # playground: the media store's growth
    db_tables: dict[str, int] = field(default_factory=dict)  # playground: the growth by table

    @property
    def session_minutes(self) -> float:
        return self.sessions * self.seconds / 60

    @property
    def db_per_minute(self) -> float:
        return self.db_bytes / self.session_minutes

    @property
    def media_per_minute(self) -> float:
        return self.media_bytes / self.session_minutes

    @property
    def media_ratio(self) -> float:
        raw = self.pcm_in + self.pcm_out
        return self.media_bytes / raw if raw else math.nan


def append_audio(i: int, rng: np.random.Generator) -> str:
    """The base64 PCM of a session's `i`-th append: a tone in noise for SPEECH_CHUNKS (what the emulator's VAD
    hears as speech), then room noise under its threshold for SILENCE_CHUNKS, over and over. Fresh noise in
    every chunk, as a microphone gives: stored audio compresses about as a voice would, no better."""
    n = np.arange(i * CHUNK_SAMPLES, (i + 1) * CHUNK_SAMPLES)
    if i % (SPEECH_CHUNKS + SILENCE_CHUNKS) < SPEECH_CHUNKS:
        x = np.sin(2 * np.pi * 220 * n / RATE) * 6000 + rng.normal(0, 300, CHUNK_SAMPLES)
    else:
        x = rng.normal(0, 30, CHUNK_SAMPLES)
    return base64.b64encode(np.rint(x).astype("<i2").tobytes()).decode()


def append_event(i: int, rng: np.random.Generator) -> dict[str, Any]:
    return {"type": "input_audio_buffer.append", "audio": append_audio(i, rng)}


async def _talk(client: Any, seconds: float, offset: float, rng: np.random.Generator) -> tuple[int, int]:
    """Append in real time for `seconds` while reading the answers; (PCM bytes sent, PCM bytes received)."""
    ws = client.ws
    assert ws is not None
    sent = received = 0

    async def speak() -> None:
        nonlocal sent
        start = time.monotonic() + offset
        for i in range(int(seconds / CHUNK_S)):
            await asyncio.sleep(max(0.0, start + i * CHUNK_S - time.monotonic()))
            await ws.send(json.dumps(append_event(i, rng)))
            sent += CHUNK_SAMPLES * 2

    async def listen() -> None:
        nonlocal received
        async for message in ws:
            for event in client._take(message):
                if event.get("type") == AUDIO_DELTA:
                    received += len(base64.b64decode(event["delta"]))
                elif event.get("type") == "error":
                    raise RuntimeError(f"error event: {event.get('error')}")

    listener = asyncio.create_task(listen())
    try:
        await speak()
        await asyncio.wait({listener}, timeout=1.5)  # the last turn's answer
        if listener.done():
            listener.result()  # the socket closed early, or an error event: say so
    finally:
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    return sent, received


def _client(path: str, svc: Services, http: httpx.AsyncClient, worker: MediaWorker) -> Any:
    if path == "playground":
        client: Any = PlaygroundSession(http, worker.token, pace=PACE, session=SESSION)
    else:
        client = EmulatorSession(svc.emulator_url if path == "direct" else svc.forwarder_url, pace=PACE)
    client.tally.only = frozenset({AUDIO_DELTA})
    return client


async def _open(client: Any) -> None:
    await client.open()
    if isinstance(client, EmulatorSession):  # what the playground sends upstream for the console's config
        assert client.ws is not None
        await client.ws.send(json.dumps({"type": "session.update", "session": SESSION}))


async def _drive(path: str, svc: Services, worker: MediaWorker, *, sessions: int, seconds: float) -> VoiceResult:
    """`sessions` voice sessions of `seconds` each on one path."""
    async with httpx.AsyncClient(
        base_url=worker.url, headers={"Authorization": f"Bearer {worker.token}"}, timeout=60
    ) as http:
        clients = [_client(path, svc, http, worker) for _ in range(sessions)]
        await asyncio.gather(*(_open(c) for c in clients))
        pid = {"bare": svc.forwarder_pid, "playground": worker.pid}.get(path)
        cpu0, t0 = (cpu_seconds(pid) if pid else 0.0), time.monotonic()
        # Staggered over one chunk, as independent people would be.
        runs = [_talk(c, seconds, i * CHUNK_S / sessions, np.random.default_rng(i)) for i, c in enumerate(clients)]
        outcomes = await asyncio.gather(*runs, return_exceptions=True)
        wall = time.monotonic() - t0
        cpu = (cpu_seconds(pid) - cpu0) / wall if pid else math.nan
        await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    problems = [f"a session failed: {o!r}" for o in outcomes if isinstance(o, BaseException)]
    totals = [o for o in outcomes if isinstance(o, tuple)]
    broken = [c.tally.broken for c in clients if c.tally.broken]
    if broken:
        problems.append(f"{len(broken)} sessions saw a gap, repeat or reordering, e.g. {broken[0]}")
    lags = [lag for c in clients for _, lag in c.tally.latencies]
    if not lags:
        problems.append("no audio delta came back")
    return VoiceResult(
        path=path,
        sessions=sessions,
        seconds=seconds,
        p50_ms=percentile(lags, 50) * 1000,
        p99_ms=percentile(lags, 99) * 1000,
        deltas=len(lags),
        cpu=cpu,
        pcm_in=sum(t[0] for t in totals),
        pcm_out=sum(t[1] for t in totals),
        problems=problems,
    )


def database_bytes(database_url: str) -> dict[str, int]:
    """Every public table `VACUUM FULL`-ed, then each one's size (indexes and TOAST included)."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
        for table in tables:
            conn.execute(f'VACUUM FULL "{table}"')
        rows = conn.execute(
            "SELECT tablename, pg_total_relation_size(format('%I.%I', schemaname, tablename)) "
            "FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name: int(size) for name, size in rows}


async def voice_step(path: str, svc: Services, worker: MediaWorker, *, sessions: int, seconds: float) -> VoiceResult:
    """One path's sessions; on the playground, the storage it took."""
    if path != "playground":
        return await _drive(path, svc, worker, sessions=sessions, seconds=seconds)
    # One short session first, not measured: an empty table's first row allocates its pages and each index's
    # root (tens of KB a table, once per deployment), which is not what a session-minute costs.
    await _drive(path, svc, worker, sessions=1, seconds=3.0)
    await asyncio.sleep(1.0)
    db0, media0 = database_bytes(worker.database_url), tree_bytes(worker.media_dir)
    r = await _drive(path, svc, worker, sessions=sessions, seconds=seconds)
    await asyncio.sleep(2.0)  # the recorder's last writes
    db1 = database_bytes(worker.database_url)
    r.db_tables = {t: n - db0.get(t, 0) for t, n in db1.items() if n != db0.get(t, 0)}
    r.db_bytes = sum(r.db_tables.values())
    r.media_bytes = tree_bytes(worker.media_dir) - media0
    return r


def _find(rows: list[VoiceResult], path: str) -> VoiceResult | None:
    return next((r for r in rows if r.path == path), None)


def targets(rows: list[VoiceResult]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the report's table of targets."""
    r = _find(rows, "playground")
    if r is None:
        return []
    media_note = " (no media store yet: nothing written)" if r.media_bytes == 0 else ""
    return [
        (
            "voice: database ≤ 100 KB per session-minute",
            f"{r.db_per_minute / 1000:,.0f} KB",
            r.db_per_minute <= DB_TARGET,
        ),
        (
            "voice: media ≤ 0.7 × raw PCM",
            f"{r.media_ratio:.2f} × ({r.media_per_minute / 1000:,.0f} KB per session-minute){media_note}",
            r.media_ratio <= MEDIA_TARGET,
        ),
        ("voice: worker CPU ≤ 30 % of one core", f"{r.cpu * 100:.0f}%", r.cpu <= CPU_TARGET),
    ]


def describe(r: VoiceResult, rows: list[VoiceResult]) -> str:
    base, bare = _find(rows, "direct"), _find(rows, "bare")
    status = "ok" if not r.problems else "PROBLEM: " + "; ".join(r.problems[:3])
    text = f"voice 44.1 kHz {r.path:<10} {r.sessions} sessions: delta p50 {r.p50_ms:.2f} p99 {r.p99_ms:.2f} ms"
    if base is not None and r is not base:
        text += f" (added p99 {r.p99_ms - base.p99_ms:+.2f} ms)"
    if not math.isnan(r.cpu):
        text += f", relay CPU {r.cpu * 100:.0f}%"
        if bare is not None and r is not bare and bare.cpu > 0:
            text += f" ({r.cpu / bare.cpu:.1f} × bare)"
    if not math.isnan(r.db_bytes):
        text += (
            f", database {r.db_per_minute / 1000:,.0f} KB and media {r.media_per_minute / 1000:,.0f} KB "
            f"per session-minute, media {r.media_ratio:.2f} × raw PCM"
        )
    return text + f" — {status}"


def section(rows: list[VoiceResult]) -> str:
    r = _find(rows, "playground")
    if r is None:
        return ""
    base, bare = _find(rows, "direct"), _find(rows, "bare")
    lines = [
        f"### Voice: {r.sessions} console sessions of two-way 44.1 kHz audio, {r.seconds:.0f} s each",
        "",
        "Each session is opened as the console opens one (POST /api/sessions with server VAD, then "
        "/ws/sessions/{id}/) and appends 100 ms of PCM16 every 100 ms in real time (1.5 s of a tone in noise, 1 s "
        "of room noise under the VAD's threshold, repeated, fresh noise in every chunk); the emulator answers "
        "each turn in audio at real-time pace. `direct` is the same "
        "sessions on the emulator, `bare` through the bare forwarder. The playground worker runs on PostgreSQL "
        "(in-memory channel layer) with its media store (PLAYGROUND_MEDIA_DIR) in a fresh directory; storage is "
        "measured around its run (after one unmeasured 3 s session, so that empty tables' first pages do not "
        "count): every public table `VACUUM FULL`-ed before and after (2 s after the sessions end), the growth "
        "of `pg_total_relation_size` summed, and the bytes under the media directory. Raw PCM is "
        "the audio both sides carried: "
        f"{(r.pcm_in + r.pcm_out) / 1e6:,.1f} MB ({r.pcm_in / 1e6:,.1f} MB in, {r.pcm_out / 1e6:,.1f} MB out).",
        "",
        "| path | audio delta p50 ms | p99 ms | added p99 ms | relay CPU | × bare CPU | deltas | checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for v in rows:
        added = f"{v.p99_ms - base.p99_ms:+.2f}" if base is not None and v is not base else ""
        cpu = "" if math.isnan(v.cpu) else f"{v.cpu * 100:.0f}%"
        ratio = f"{v.cpu / bare.cpu:.1f}" if bare is not None and bare.cpu > 0 and not math.isnan(v.cpu) else ""
        checks = "all audio in order, no error" if not v.problems else "; ".join(v.problems[:3])
        lines.append(
            f"| {v.path} | {v.p50_ms:.2f} | {v.p99_ms:.2f} | {added} | {cpu} | {ratio} | {v.deltas:,} | {checks} |"
        )
    lines += ["", "| storage | per session-minute | total | × raw PCM | target | |", "|---|---|---|---|---|---|"]
    for name, total, target, ok in (
        ("database", r.db_bytes, "≤ 100 KB per session-minute", r.db_per_minute <= DB_TARGET),
        ("media", r.media_bytes, "≤ 0.7 × raw PCM", r.media_ratio <= MEDIA_TARGET),
    ):
        raw = r.pcm_in + r.pcm_out
        lines.append(
            f"| {name} | {total / r.session_minutes / 1000:,.0f} KB | {total / 1e6:,.2f} MB | "
            f"{total / raw if raw else math.nan:.2f} | {target} | {'met' if ok else '**missed**'} |"
        )
    if r.db_tables:
        grown = sorted(r.db_tables.items(), key=lambda kv: -kv[1])
        lines += ["", "The database's growth by table: " + ", ".join(f"{t} {n / 1000:,.0f} KB" for t, n in grown) + "."]
    if r.media_bytes == 0:
        lines += ["", "The media store wrote nothing: audio is recorded in the database only."]
    return "\n".join(lines) + "\n"
