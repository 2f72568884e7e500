"""`make bench` (`python -m bench [--quick]`): the relay against a bare forwarder, in one run.

Writes docs/benchmarks.md, docs/benchmarks.png and docs/benchmarks-fanout.png. See docs/benchmarks.md for what
each row means.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import fanout, replay, voice
from .fanout import FanoutResult
from .openai_voice import VoiceRun, voice_run
from .openai_voice import describe as describe_voice
from .processes import (
    LAYERS,
    LOAD_CORES,
    RELAY_CORE,
    ROOT,
    Services,
    ServicesMissing,
    check_services,
    media_worker,
    production,
    services,
    skip_services,
)
from .replay import ReplayResult
from .report import write_report
from .scenarios import CROSS, Bench, StreamResult
from .voice import VoiceResult


@dataclass
class Plan:
    quick: bool
    pace: float = 50.0
    latency_sessions: tuple[int, ...] = (1, 50, 200)
    stream_seconds: float = 8.0
    capacity_steps: tuple[int, ...] = (100, 150, 200, 250, 300, 400, 500, 600, 800)
    capacity_seconds: float = 5.0
    throughput_sessions: int = 20
    throughput_words: int = 2000
    probes: int = 20
    idle_sessions: int = 100
    # The production profile (PostgreSQL, Redis, two workers), once per Redis channel layer.
    cross_layers: tuple[str, ...] = LAYERS
    cross_latency_sessions: tuple[int, ...] = (1, 50, 200)
    cross_capacity_steps: tuple[int, ...] = (25, 50, 75, 100, 150, 200, 300, 400)
    cross_target_ms: float = 20.0
    # Voice through /v1/realtime: Yandex's default quota of concurrent sessions, each this long.
    voice_sessions: int = 10
    voice_seconds: float = 20.0
    # On one worker with PostgreSQL and a media store: console voice at 44.1 kHz (storage per session-minute),
    # one session fanned out to many watchers, and the replay of a long voice recording.
    voice44_sessions: int = 10
    voice44_seconds: float = 60.0
    fanout_watchers: int = 200
    fanout_seconds: float = 10.0  # its p99 is over one stream's events: longer than the text steps' streams
    replay_minutes: float = 10.0
    # The steps to run (--only); all when empty.
    only: frozenset[str] = frozenset()

    def runs(self, step: str) -> bool:
        return not self.only or step in self.only

    @classmethod
    def make(cls, quick: bool, only: frozenset[str] = frozenset()) -> Plan:
        if not quick:
            return cls(quick=False, only=only)
        return cls(
            quick=True,
            only=only,
            stream_seconds=3.0,
            capacity_steps=(100, 200),
            capacity_seconds=2.5,
            throughput_words=600,
            probes=4,
            cross_latency_sessions=(1, 50),
            cross_capacity_steps=(50, 100),
            voice_seconds=6.0,
            voice44_seconds=20.0,
            fanout_seconds=5.0,
        )


# What --only can name: the groups of steps, in the order they run.
STEPS = ("idle", "latency", "throughput", "rest", "capacity", "openai-voice", "voice", "fanout", "replay", "cross")


@dataclass
class Results:
    plan: Plan
    latency: list[StreamResult] = field(default_factory=list)
    capacity: list[StreamResult] = field(default_factory=list)
    throughput: list[StreamResult] = field(default_factory=list)
    rest: dict[int, tuple[float, float, list[str]]] = field(default_factory=dict)
    voice: list[VoiceRun] = field(default_factory=list)
    voice44: list[VoiceResult] = field(default_factory=list)
    fanout: FanoutResult | None = None
    replay: ReplayResult | None = None
    idle_bytes: float = math.nan
    seconds: float = 0.0
    cross_skipped: str = ""  # why the production profile did not run (PLAYGROUND_BENCH_SKIP_SERVICES)


class Progress:
    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()

    def __call__(self, text: str) -> None:
        self.done += 1
        elapsed = time.monotonic() - self.started
        print(f"[{self.done:>2}/{self.total}] {elapsed:6.1f}s  {text}", flush=True)


def describe(r: StreamResult, base: StreamResult | None) -> str:
    added = f" (added p50 {r.p50_ms - base.p50_ms:+.2f}, p99 {r.p99_ms - base.p99_ms:+.2f} ms)" if base else ""
    cpu = f", relay CPU {r.cpu * 100:.0f}%" if not math.isnan(r.cpu) else ""
    status = "ok" if r.ok else "PROBLEM: " + "; ".join(r.problems)
    return (
        f"{r.path:<12} {r.sessions:>4} sessions: p50 {r.p50_ms:.2f} p99 {r.p99_ms:.2f} ms{added}, "
        f"{r.events_per_s:,.0f} ev/s{cpu} — {status}"
    )


async def run(plan: Plan, work: Path) -> Results:
    results = Results(plan=plan)
    counts = {
        "idle": 1,
        "latency": 3 * len(plan.latency_sessions),
        "throughput": 2,
        "rest": 2,
        "capacity": 3 * len(plan.capacity_steps),
        "openai-voice": 2,
        "voice": len(voice.PATHS),
        "fanout": 1,
        "replay": 1,
    }
    if skip_services():
        plan.cross_layers = ()
        results.cross_skipped = "PLAYGROUND_BENCH_SKIP_SERVICES is set"
        media = False
    else:
        check_services()  # before anything is measured: missing services fail the run in words
        media = True
    if not plan.runs("cross"):
        plan.cross_layers = ()
    counts["cross"] = len(plan.cross_layers) * (len(plan.cross_latency_sessions) + 1 + len(plan.cross_capacity_steps))
    steps = sum(n for step, n in counts.items() if plan.runs(step) and (media or step not in MEDIA_STEPS))
    progress = Progress(steps)
    print(
        f"bench: relay core {sorted(RELAY_CORE)}, load generator and emulator on {sorted(LOAD_CORES)}; "
        f"{'QUICK' if plan.quick else 'full'} run",
        flush=True,
    )
    with services(work) as svc:
        bench = Bench(svc, progress)
        try:
            if plan.runs("idle"):
                results.idle_bytes = await bench.idle_memory(sessions=plan.idle_sessions)
                progress(f"idle memory: {results.idle_bytes / 1024:,.0f} KiB per live session")

            words = int(plan.pace * plan.stream_seconds)
            for n in plan.latency_sessions if plan.runs("latency") else ():
                base = None
                for path in ("direct", "bare", "playground"):
                    r, _ = await bench.stream(path, sessions=n, pace=plan.pace, words=words)
                    results.latency.append(r)
                    base = r if path == "direct" else base
                    progress("latency " + describe(r, base if path != "direct" else None))

            for path in ("bare", "playground") if plan.runs("throughput") else ():
                r, _ = await bench.stream(path, sessions=plan.throughput_sessions, pace=0, words=plan.throughput_words)
                results.throughput.append(r)
                progress("throughput " + describe(r, None) + f", {r.cpu_us_per_event:.0f} µs CPU/event")

            for n in (1, 50) if plan.runs("rest") else ():
                results.rest[n] = await bench.rest_probe(sessions=n, probes=plan.probes, pace=plan.pace)
                p50, p99, problems = results.rest[n]
                progress(f"REST → upstream, {n} sessions: p50 {p50:.2f} ms, p99 {p99:.2f} ms {'; '.join(problems)}")

            words = int(plan.pace * plan.capacity_seconds)
            failed: set[str] = set()
            for n in plan.capacity_steps if plan.runs("capacity") else ():
                base = None
                for path in ("direct", "bare", "playground"):
                    if path in failed:
                        progress(f"capacity {path:<10} {n:>4} sessions: skipped (failed at a smaller step)")
                        continue
                    r, _ = await bench.stream(path, sessions=n, pace=plan.pace, words=words)
                    results.capacity.append(r)
                    if path == "direct":
                        base = r
                    elif base is not None and not (r.ok and r.p99_ms - base.p99_ms <= 10):
                        failed.add(path)
                    progress("capacity " + describe(r, base if path != "direct" else None))

            for mode in ("passthrough", "converted") if plan.runs("openai-voice") else ():
                v = await voice_run(work, mode=mode, sessions=plan.voice_sessions, seconds=plan.voice_seconds)
                results.voice.append(v)
                progress(describe_voice(v))

            if media and any(plan.runs(step) for step in MEDIA_STEPS):
                await media_steps(plan, results, svc, work, progress)

            for layer in plan.cross_layers:
                await cross_worker(plan, results, svc, layer, work, progress)
        finally:
            await bench.aclose()
    results.seconds = time.monotonic() - progress.started
    return results


MEDIA_STEPS = ("voice", "fanout", "replay")


async def media_steps(plan: Plan, results: Results, svc: Services, work: Path, progress: Progress) -> None:
    """Voice (storage measured around it), fan-out, replay: on one worker with PostgreSQL and a media store."""
    with media_worker(work, svc) as worker:
        if plan.runs("voice"):
            for path in voice.PATHS:
                r = await voice.voice_step(
                    path, svc, worker, sessions=plan.voice44_sessions, seconds=plan.voice44_seconds
                )
                results.voice44.append(r)
                progress(voice.describe(r, results.voice44))
        if plan.runs("fanout"):
            results.fanout = await fanout.fanout_run(
                svc, worker, watchers=plan.fanout_watchers, pace=plan.pace, seconds=plan.fanout_seconds
            )
            progress(fanout.describe(results.fanout))
        if plan.runs("replay"):
            results.replay = await replay.replay_run(worker, minutes=plan.replay_minutes)
            progress(replay.describe(results.replay))


def _direct(rows: list[StreamResult], n: int) -> StreamResult | None:
    return next((r for r in rows if r.path == "direct" and r.sessions == n), None)


async def cross_worker(plan: Plan, results: Results, svc: Services, layer: str, work: Path, progress: Progress) -> None:
    """The production profile with one channel layer: sessions open on worker A, watched on worker B.
    Baselines (direct, bare, one worker) are the rows measured earlier in this run at the same load."""
    path = CROSS[layer]
    with production(work, svc, layer) as prod:
        bench = Bench(svc, progress, prod)

        async def stream(sessions: int, pace: float, words: int) -> StreamResult:
            # A failure here (a worker answering 500) is a row that says so, not the end of the run.
            try:
                r, _ = await bench.stream(path, sessions=sessions, pace=pace, words=words)
                return r
            except Exception as exc:
                logs = " | ".join(
                    line
                    for worker in ("a", "b")
                    for line in (work / f"worker-{layer}-{worker}.log").read_text(errors="replace").splitlines()[-3:]
                )
                nan = math.nan
                return StreamResult(path, sessions, pace, nan, nan, 0, 0, 0.0, nan, [f"failed: {exc!r}; {logs}"])

        try:
            words = int(plan.pace * plan.stream_seconds)
            for n in plan.cross_latency_sessions:
                r = await stream(n, plan.pace, words)
                results.latency.append(r)
                progress("latency " + describe(r, _direct(results.latency, n)) + _parts(r))

            r = await stream(plan.throughput_sessions, 0, plan.throughput_words)
            results.throughput.append(r)
            progress("throughput " + describe(r, None) + f", {r.cpu_us_per_event:.0f} µs CPU/event" + _parts(r))

            words = int(plan.pace * plan.capacity_seconds)
            failed = False
            for n in plan.cross_capacity_steps:
                if failed:
                    progress(f"capacity {path:<12} {n:>4} sessions: skipped (failed at a smaller step)")
                    continue
                base = _direct(results.capacity, n)
                if base is None:  # a step below the single worker's: its own direct baseline, measured now
                    base, _ = await bench.stream("direct", sessions=n, pace=plan.pace, words=words)
                    results.capacity.append(base)
                r = await stream(n, plan.pace, words)
                results.capacity.append(r)
                failed = base is None or not (r.ok and r.p99_ms - base.p99_ms <= plan.cross_target_ms)
                progress("capacity " + describe(r, base) + _parts(r))
        finally:
            await bench.aclose()


def _parts(r: StreamResult) -> str:
    if len(r.cpu_parts) != 2:
        return ""
    return f" (worker A {r.cpu_parts[0] * 100:.0f}%, B {r.cpu_parts[1] * 100:.0f}%)"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="about 4 minutes: fewer, shorter steps")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    parser.add_argument(
        "--only",
        default="",
        metavar="STEPS",
        help=f"run only these steps, comma-separated ({', '.join(STEPS)}); implies --no-write",
    )
    args = parser.parse_args()
    only = frozenset(s.strip() for s in args.only.split(",") if s.strip())
    if only - set(STEPS):
        parser.error(f"--only: unknown steps {', '.join(sorted(only - set(STEPS)))}; known: {', '.join(STEPS)}")
    plan = Plan.make(args.quick, only)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            results = asyncio.run(run(plan, Path(tmp)))
        except ServicesMissing as exc:
            print(f"bench: {exc}", file=sys.stderr, flush=True)
            return 2
    command = "make bench QUICK=1" if args.quick else "make bench"
    # A partial run (--only) would overwrite the report with missing rows: it prints only.
    text = write_report(results, docs=None if args.no_write or only else ROOT / "docs", command=command)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
