"""Fan-out: one session watched by 200 sockets, as a trainer's demo to a team.

The owner opens one session (POST /api/sessions) and joins /ws/sessions/{id}/ from 200 sockets; over
the first it starts a stream of text deltas at the text steps' pace. Per event, the latency that counts
is the last watcher's: the 200th socket to receive it, minus the emulator's send stamp. Baselines in the
same run: the same stream straight from the emulator (`direct`, what "added" is measured against) and
through the same worker to one watcher.
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .clients import EmulatorSession, PlaygroundSession
from .processes import MediaWorker, Services, cpu_seconds
from .scenarios import OPEN_CONCURRENCY, WARMUP_S, percentile

TARGET_MS = 50.0


@dataclass
class FanoutResult:
    watchers: int
    events: int
    last_p50_ms: float  # per event, the last of the watchers to receive it
    last_p99_ms: float
    any_p99_ms: float  # over every watcher's receipt
    direct_p99_ms: float  # the same stream on the emulator, one socket
    one_p99_ms: float  # the same stream through the worker to one watcher
    cpu: float
    load_cpu: float  # the load generator's (this process's) share of its core: near 1, the watchers are the limit
    last_ms: list[float] = field(default_factory=list)  # per event, for the chart
    problems: list[str] = field(default_factory=list)

    @property
    def added_p99_ms(self) -> float:
        return self.last_p99_ms - self.direct_p99_ms


async def _stream(clients: list[EmulatorSession] | list[PlaygroundSession], words: int, limit: float) -> list[str]:
    """Start the stream over the first socket; every socket reads until response.done."""
    await clients[0].start(words)
    done, pending = await asyncio.wait([asyncio.create_task(c.until_done()) for c in clients], timeout=limit)
    problems = [f"a socket failed: {t.exception()!r}" for t in done if t.exception() is not None]
    if pending:
        problems.append(f"{len(pending)} of {len(clients)} sockets did not see response.done within {limit:.0f} s")
        for task in pending:
            task.cancel()
    broken = [c.tally.broken for c in clients if c.tally.broken]
    if broken:
        problems.append(f"{len(broken)} sockets saw a gap, repeat or reordering, e.g. {broken[0]}")
    return problems


def _steady(clients: list[EmulatorSession] | list[PlaygroundSession], started: float) -> dict[float, list[float]]:
    """Per event (keyed by its send stamp), every socket's latency, from WARMUP_S after the start."""
    by_event: dict[float, list[float]] = {}
    for c in clients:
        for sent, lag in c.tally.latencies:
            if sent >= started + WARMUP_S:
                by_event.setdefault(sent, []).append(lag)
    return by_event


async def _p99(clients: list[EmulatorSession] | list[PlaygroundSession], words: int, limit: float) -> float:
    started = time.time()
    await _stream(clients, words, limit)
    lags = [lag for lags in _steady(clients, started).values() for lag in lags]
    await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
    return percentile(lags, 99) * 1000


async def fanout_run(svc: Services, worker: MediaWorker, *, watchers: int, pace: float, seconds: float) -> FanoutResult:
    words = int(pace * seconds)
    limit = seconds + 30
    async with httpx.AsyncClient(
        base_url=worker.url, headers={"Authorization": f"Bearer {worker.token}"}, timeout=60
    ) as http:
        direct = EmulatorSession(svc.emulator_url, pace=pace)
        await direct.open()
        direct_p99 = await _p99([direct], words, limit)
        one = PlaygroundSession(http, worker.token, pace=pace)
        await one.open()
        one_p99 = await _p99([one], words, limit)

        owner = PlaygroundSession(http, worker.token, pace=pace)
        await owner.open()
        others = [PlaygroundSession(http, worker.token, pace=pace) for _ in range(watchers - 1)]
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def join(w: PlaygroundSession) -> None:
            async with gate:
                await w.watch(owner.ws_url)

        await asyncio.gather(*(join(w) for w in others))
        clients = [owner, *others]
        cpu0, load0, started = cpu_seconds(worker.pid), cpu_seconds(os.getpid()), time.time()
        problems = await _stream(clients, words, limit)
        wall = max(time.time() - started, 1e-9)
        cpu, load = (cpu_seconds(worker.pid) - cpu0) / wall, (cpu_seconds(os.getpid()) - load0) / wall
        await asyncio.gather(*(w.ws.close() for w in others if w.ws is not None), return_exceptions=True)
        await owner.close()
    by_event = _steady(clients, started)
    short = sum(1 for lags in by_event.values() if len(lags) < watchers)
    if short:
        problems.append(f"{short} events did not reach all {watchers} watchers")
    last = [max(lags) * 1000 for lags in by_event.values()]
    every = [lag * 1000 for lags in by_event.values() for lag in lags]
    return FanoutResult(
        watchers=watchers,
        events=len(by_event),
        last_p50_ms=percentile(last, 50),
        last_p99_ms=percentile(last, 99),
        any_p99_ms=percentile(every, 99),
        direct_p99_ms=direct_p99,
        one_p99_ms=one_p99,
        cpu=cpu,
        load_cpu=load,
        last_ms=last,
        problems=problems,
    )


def chart(r: FanoutResult, path: Path) -> None:
    """The last watcher's latency per event, as a distribution, against the target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ms = sorted(r.last_ms)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(ms, [(i + 1) / len(ms) * 100 for i in range(len(ms))], color="#2f6fed", linewidth=2)
    ax.axvline(r.direct_p99_ms + TARGET_MS, color="#b42318", linestyle=":", label="target: direct p99 + 50 ms")
    ax.axvline(r.last_p99_ms, color="#2f6fed", linestyle="--", linewidth=0.8, label=f"p99 {r.last_p99_ms:.1f} ms")
    ax.set_xlabel(f"emulator send → the last of {r.watchers} watchers receives, ms")
    ax.set_ylabel("% of events")
    ax.set_title(f"Fan-out: one session, {r.watchers} watchers")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def target(r: FanoutResult) -> tuple[str, str, bool]:
    return (
        f"fan-out: added p99 at the last of {r.watchers} watchers ≤ 50 ms",
        f"{r.added_p99_ms:.2f} ms",
        r.added_p99_ms <= TARGET_MS and not r.problems,
    )


def describe(r: FanoutResult) -> str:
    status = "ok" if not r.problems else "PROBLEM: " + "; ".join(r.problems[:3])
    ratio = r.last_p99_ms / r.one_p99_ms if r.one_p99_ms else math.nan
    return (
        f"fan-out 1 session × {r.watchers} watchers: last watcher p50 {r.last_p50_ms:.2f} p99 {r.last_p99_ms:.2f} ms "
        f"(added p99 {r.added_p99_ms:+.2f} ms; {ratio:.1f} × one watcher's p99 {r.one_p99_ms:.2f}), "
        f"worker CPU {r.cpu * 100:.0f}%, load generator {r.load_cpu * 100:.0f}%, {r.events:,} events — {status}"
    )


def section(r: FanoutResult | None, pace: float) -> str:
    if r is None:
        return ""
    name, value, ok = target(r)
    ratio = r.last_p99_ms / r.one_p99_ms if r.one_p99_ms else math.nan
    checks = "every event at every watcher, in order" if not r.problems else "; ".join(r.problems[:3])
    return (
        f"### Fan-out: one session watched by {r.watchers} sockets\n\n"
        f"The owner joins one session's /ws/sessions/{{id}}/ from {r.watchers} sockets (a trainer's demo to a team) "
        f"and starts a stream of {pace:g} text deltas/s over the first; per event, the latency is the last watcher's "
        "(emulator send stamp → the last of the sockets to receive it), from 1 s after the stream starts. Baselines "
        "from this run: the stream straight from the emulator (`direct`) and through the same worker to one "
        "watcher. The watchers' load generator shares a core with the emulator: where its CPU nears 100%, the "
        "last watcher's latency is the load generator's own queue, not the worker's.\n\n"
        "| watchers | last watcher p50 ms | p99 ms | added p99 ms | any watcher p99 ms | × one watcher p99 "
        "| worker CPU | load generator CPU | events | checks |\n|---|---|---|---|---|---|---|---|---|---|\n"
        f"| {r.watchers} | {r.last_p50_ms:.2f} | {r.last_p99_ms:.2f} | {r.added_p99_ms:+.2f} | {r.any_p99_ms:.2f} "
        f"| {ratio:.1f} (one: {r.one_p99_ms:.2f}) | {r.cpu * 100:.0f}% | {r.load_cpu * 100:.0f}% | {r.events:,} "
        f"| {checks} |\n\n"
        f"Direct p99: {r.direct_p99_ms:.2f} ms. Target: {name}: {value}, {'met' if ok else '**missed**'}.\n"
    )
