"""The measurements: each runs sessions on one path (direct, bare forwarder, playground) and
returns figures. Percentiles are over every streamed event of every session."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .clients import EmulatorSession, PlaygroundSession
from .processes import Production, Services, cpu_seconds, rss_bytes

PATHS = ("direct", "bare", "playground")
# The production profile: two workers (relay on A, watcher on B), one path per Redis channel layer.
CROSS = {"redis": "cross-redis", "pubsub": "cross-pubsub"}
OPEN_CONCURRENCY = 25
# Latencies count from this long after the streams start (every path alike).
WARMUP_S = 1.0


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


@dataclass
class StreamResult:
    path: str
    sessions: int
    pace: float
    p50_ms: float
    p99_ms: float
    events: int
    messages: int
    seconds: float
    cpu: float  # fraction of one core the relay process used (nan for direct); both workers' sum for cross-*
    problems: list[str] = field(default_factory=list)
    cpu_parts: tuple[float, ...] = ()  # cross-*: worker A (relays), worker B (watchers)

    @property
    def events_per_s(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_event(self) -> float:
        return self.cpu * self.seconds / self.events * 1e6 if self.events else float("nan")

    @property
    def ok(self) -> bool:
        return not self.problems


class Bench:
    def __init__(self, svc: Services, progress: Callable[[str], None], prod: Production | None = None) -> None:
        self.svc = svc
        self.progress = progress
        self.prod = prod
        self.token = prod.token if prod else svc.token
        self.http = httpx.AsyncClient(
            base_url=prod.relay_url if prod else svc.playground_url,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=60,
            limits=httpx.Limits(max_connections=OPEN_CONCURRENCY * 2, max_keepalive_connections=OPEN_CONCURRENCY * 2),
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def _session(self, path: str, pace: float) -> Any:
        if path == "direct":
            return EmulatorSession(self.svc.emulator_url, pace=pace)
        if path == "bare":
            return EmulatorSession(self.svc.forwarder_url, pace=pace)
        if path in CROSS.values():
            assert self.prod is not None
            return PlaygroundSession(self.http, self.token, pace=pace, watch_url=self.prod.watch_url)
        return PlaygroundSession(self.http, self.token, pace=pace)

    def _pids(self, path: str) -> list[int]:
        if path in CROSS.values():
            assert self.prod is not None
            return [self.prod.relay_pid, self.prod.watch_pid]
        pid = {"bare": self.svc.forwarder_pid, "playground": self.svc.playground_pid}.get(path)
        return [pid] if pid else []

    async def _open(self, sessions: list[Any], **kwargs: Any) -> None:
        gate = asyncio.Semaphore(OPEN_CONCURRENCY)

        async def one(s: Any) -> None:
            async with gate:
                await s.open(**kwargs)

        await asyncio.gather(*(one(s) for s in sessions))

    async def stream(
        self,
        path: str,
        *,
        sessions: int,
        pace: float,
        words: int,
        during: Callable[[list[Any]], Awaitable[Any]] | None = None,
    ) -> tuple[StreamResult, Any]:
        """`sessions` sessions each stream `words` text deltas at `pace` events/s; returns what arrived."""
        clients = [self._session(path, pace) for _ in range(sessions)]
        await self._open(clients)
        pids = self._pids(path)
        cpu0 = [cpu_seconds(pid) for pid in pids]
        started = time.time()
        await asyncio.gather(*(c.start(words) for c in clients))
        limit = (words / pace if pace else words / 500) + 30
        problems: list[str] = []
        readers = [asyncio.create_task(c.until_done()) for c in clients]
        extra = None
        try:
            if during is not None:
                extra = await during(clients)
            done, pending = await asyncio.wait(readers, timeout=limit)
            if pending:
                problems.append(f"{len(pending)} of {sessions} sessions did not finish within {limit:.0f} s")
                for task in pending:
                    task.cancel()
            for task in done:
                if task.exception() is not None:
                    problems.append(f"a session failed: {task.exception()!r}")
        finally:
            ended = max((c.tally.done_at for c in clients), default=time.time()) or time.time()
            cpu1 = [cpu_seconds(pid) for pid in pids]
            await asyncio.gather(*(c.close() for c in clients), return_exceptions=True)
        broken = [c.tally.broken for c in clients if c.tally.broken]
        if broken:
            problems.append(f"{len(broken)} sessions saw a gap, repeat or reordering, e.g. {broken[0]}")
        # Steady state: all streams start at the same instant, a burst no real traffic has.
        latencies = [lat for c in clients for sent, lat in c.tally.latencies if sent >= started + WARMUP_S]
        seconds = max(ended - started, 1e-9)
        result = StreamResult(
            path=path,
            sessions=sessions,
            pace=pace,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            events=sum(c.tally.events for c in clients),
            messages=sum(c.tally.messages for c in clients),
            seconds=seconds,
            cpu=(sum(cpu1) - sum(cpu0)) / seconds if pids else float("nan"),
            problems=problems,
            cpu_parts=tuple((b - a) / seconds for a, b in zip(cpu0, cpu1, strict=True)) if len(pids) > 1 else (),
        )
        return result, extra

    async def rest_probe(self, *, sessions: int, probes: int, pace: float) -> tuple[float, float, list[str]]:
        """REST client event → upstream frame, while `sessions` sessions stream at `pace`.

        Each session sends `probes` events at random intervals (0.2 to 0.6 s, seeded), as scripts
        driving conversations would: not all at the same instant."""
        samples: list[float] = []
        rng = random.Random(sessions)

        async def probe_all(clients: list[PlaygroundSession]) -> None:
            async def one(c: PlaygroundSession) -> None:
                for _ in range(probes):
                    await asyncio.sleep(rng.uniform(0.2, 0.6))
                    samples.append(await c.probe())

            await asyncio.gather(*(one(c) for c in clients))

        # Streams long enough to outlast the probes (a probe's answer arrives on the stream).
        words = int(pace * (probes * 0.6 + 3))
        result, _ = await self.stream("playground", sessions=sessions, pace=pace, words=words, during=probe_all)
        return percentile(samples, 50) * 1000, percentile(samples, 99) * 1000, result.problems

    async def idle_memory(self, *, sessions: int) -> float:
        """Bytes of worker RSS per idle live session (no watcher, no traffic)."""
        warm = [PlaygroundSession(self.http, self.svc.token, pace=0) for _ in range(5)]
        await self._open(warm, watch=False)
        await asyncio.gather(*(c.close() for c in warm))
        await asyncio.sleep(0.5)
        before = rss_bytes(self.svc.playground_pid)
        clients = [PlaygroundSession(self.http, self.svc.token, pace=0) for _ in range(sessions)]
        await self._open(clients, watch=False)
        await asyncio.sleep(1.0)
        after = rss_bytes(self.svc.playground_pid)
        await asyncio.gather(*(c.close() for c in clients))
        return (after - before) / sessions
