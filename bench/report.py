"""The benchmark's table, docs/benchmarks.md and the latency chart beside it."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import fanout, replay, voice
from .openai_voice import section as voice_section

if TYPE_CHECKING:
    from .__main__ import Results
    from .scenarios import StreamResult

PACKAGES = ("django", "channels", "django-ninja", "uvicorn", "websockets", "channels-redis", "soxr")
# The production profile's paths; CHOSEN is settings.py's default for PLAYGROUND_CHANNEL_LAYER.
CROSS_PATHS = ("cross-redis", "cross-pubsub")
CHOSEN = "cross-pubsub"
LAYER_NAMES = {"cross-redis": "RedisChannelLayer", "cross-pubsub": "RedisPubSubChannelLayer"}


def _fmt(value: float, spec: str = ".2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _find(rows: list[StreamResult], path: str, sessions: int) -> StreamResult | None:
    return next((r for r in rows if r.path == path and r.sessions == sessions), None)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def capacity(rows: list[StreamResult], path: str, limit_ms: float = 10.0) -> int:
    """The most sessions with added p99 ≤ limit_ms (10 ms unless told) and nothing lost."""
    best = 0
    for r in rows:
        if r.path != path:
            continue
        base = _find(rows, "direct", r.sessions)
        if base is not None and r.ok and r.p99_ms - base.p99_ms <= limit_ms:
            best = max(best, r.sessions)
    return best


def build(results: Results, command: str) -> tuple[str, dict[str, Any]]:
    plan = results.plan
    lines: list[str] = []
    figures: dict[str, Any] = {}

    lines.append("| sessions × 50 ev/s | path | p50 ms | p99 ms | added p50 ms | added p99 ms | relay CPU | checks |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for n in sorted(set(plan.latency_sessions) | set(plan.cross_latency_sessions)):
        base = _find(results.latency, "direct", n)
        for path in ("direct", "bare", "playground", *CROSS_PATHS):
            r = _find(results.latency, path, n)
            if r is None:
                continue
            added50 = r.p50_ms - base.p50_ms if base and path != "direct" else math.nan
            added99 = r.p99_ms - base.p99_ms if base and path != "direct" else math.nan
            figures[f"added_{path}_{n}"] = (added50, added99)
            cpu = "" if math.isnan(r.cpu) else f"{r.cpu * 100:.0f}%"
            check = "all seq once, in order" if r.ok else "; ".join(r.problems)
            lines.append(
                f"| {n} | {path} | {_fmt(r.p50_ms)} | {_fmt(r.p99_ms)} | {_fmt(added50)} | {_fmt(added99)} "
                f"| {cpu} | {check} |"
            )
    latency_table = "\n".join(lines)

    bare_tp = _find(results.throughput, "bare", plan.throughput_sessions)
    play_tp = _find(results.throughput, "playground", plan.throughput_sessions)
    tp_ratio = play_tp.events_per_s / bare_tp.events_per_s if bare_tp and play_tp and bare_tp.events_per_s else math.nan
    cap_bare, cap_play = capacity(results.capacity, "bare"), capacity(results.capacity, "playground")
    cap_ratio = cap_play / cap_bare if cap_bare else math.nan
    added50, added99 = figures.get("added_playground_50", (math.nan, math.nan))
    rest50 = results.rest.get(50, (math.nan, math.nan, []))

    # A step that could not run ("failed: …", e.g. a worker answering 500) lost nothing: counted apart.
    def lost(r: StreamResult) -> bool:
        return any(not p.startswith("failed:") for p in r.problems)

    all_ok = not any(lost(r) for r in results.latency + results.throughput) and not any(
        lost(r) for r in results.capacity if r.sessions <= max(cap_play, cap_bare, 1)
    )
    lossy = [
        f"{r.path} × {r.sessions} ({r.problems[0]})"
        for r in results.latency + results.throughput + results.capacity
        if lost(r) and (r in results.latency + results.throughput or r.sessions <= max(cap_play, cap_bare, 1))
    ]
    bare50, play50 = _find(results.latency, "bare", 50), _find(results.latency, "playground", 50)
    cpu50 = play50.cpu / bare50.cpu if bare50 and play50 and bare50.cpu > 0 else math.nan
    failed_steps = [
        f"{r.path} × {r.sessions}"
        for r in results.latency + results.throughput + results.capacity
        if any(p.startswith("failed:") for p in r.problems)
    ]
    targets = [
        ("throughput ≥ 0.5 × bare forwarder (recording on)", f"{_fmt(tp_ratio)} ×", tp_ratio >= 0.5),
        (
            "capacity ≥ 0.5 × bare forwarder's",
            f"{cap_play} vs {cap_bare} sessions = {_fmt(cap_ratio)} ×",
            cap_ratio >= 0.5,
        ),
        ("added p50 ≤ 2 ms at 50 sessions", f"{_fmt(added50)} ms", added50 <= 2),
        ("added p99 ≤ 10 ms at 50 sessions", f"{_fmt(added99)} ms", added99 <= 10),
        ("REST event → upstream p99 ≤ 10 ms (50 sessions)", f"{_fmt(rest50[1])} ms", rest50[1] <= 10),
        ("≤ 1 MB per idle live session", f"{results.idle_bytes / 1024:,.0f} KiB", results.idle_bytes <= 1024 * 1024),
        ("relay CPU per lone event ≤ 1.5 × bare forwarder's (50 sessions)", f"{_fmt(cpu50)} ×", cpu50 <= 1.5),
        ("nothing lost, duplicated or reordered", "yes" if all_ok else "no: " + ", ".join(lossy), all_ok),
    ]
    targets += voice.targets(results.voice44)
    if results.fanout is not None:
        targets.append(fanout.target(results.fanout))
    if results.replay is not None:
        targets.append(replay.target(results.replay))
    if failed_steps:
        targets.append(("every step ran", "failed: " + ", ".join(failed_steps) + " (see the rows)", False))
    for path in CROSS_PATHS:
        if not any(r.path == path for r in results.latency):
            continue
        _, c99 = figures.get(f"added_{path}_50", (math.nan, math.nan))
        chosen = " (chosen)" if path == CHOSEN else ""
        targets.append(
            (
                f"two workers, {LAYER_NAMES[path]}{chosen}: added p99 ≤ 20 ms at 50 sessions",
                f"{_fmt(c99)} ms",
                c99 <= 20,
            )
        )
    target_table = "| target | measured | |\n|---|---|---|\n" + "\n".join(
        f"| {name} | {value} | {_verdict(ok)} |"
        for name, value, ok in targets
        # A partial run (--only) leaves the other steps' figures out, not missed.
        if not (plan.only and ("n/a" in value or "nan" in value))
    )

    tp_lines = [
        "| path | sessions | events | events/s | relay CPU | CPU µs/event | WS messages |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results.throughput:
        tp_lines.append(
            f"| {r.path} | {r.sessions} | {r.events:,} | {r.events_per_s:,.0f} | {r.cpu * 100:.0f}% "
            f"| {_fmt(r.cpu_us_per_event, '.0f')} | {r.messages:,} |"
        )
    rest_lines = ["| sessions streaming | p50 ms | p99 ms |", "|---|---|---|"]
    for n, (p50, p99, _) in sorted(results.rest.items()):
        rest_lines.append(f"| {n} | {_fmt(p50)} | {_fmt(p99)} |")
    cap_lines = [
        "| sessions × 50 ev/s | direct p99 ms | bare added p99 | playground added p99 | bare CPU | playground CPU |",
        "|---|---|---|---|---|---|",
    ]
    for n in plan.capacity_steps:
        base = _find(results.capacity, "direct", n)
        if base is None:
            continue
        cells = []
        for path in ("bare", "playground"):
            r = _find(results.capacity, path, n)
            if r is None:
                cells.append(("not run", ""))
            elif not r.ok:
                cells.append(("lost events", f"{r.cpu * 100:.0f}%"))
            else:
                cells.append((f"{r.p99_ms - base.p99_ms:+.2f}", f"{r.cpu * 100:.0f}%"))
        cap_lines.append(
            f"| {n} | {_fmt(base.p99_ms)} | {cells[0][0]} | {cells[1][0]} | {cells[0][1]} | {cells[1][1]} |"
        )

    versions = ", ".join(f"{p} {version(p)}" for p in PACKAGES)
    cpu_model = _cpu_model()
    header = (
        f"Command: `{command}`  \n"
        f"Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC  \n"
        f"Machine: {os.cpu_count()} cores ({cpu_model}), Python {platform.python_version()}  \n"
        f"Packages: {versions}  \n"
        f"Run: {'QUICK' if plan.quick else 'full'}, {results.seconds:.0f} s; streams of {plan.pace:g} text deltas/s "
        f"per session; the relay under test pinned to one core, the emulator and load generator on the other."
        + (
            "  \nQUICK: short streams and capacity steps up to "
            f"{max(plan.capacity_steps)} sessions only, so its capacity figures are a smoke test; "
            "docs/benchmarks.md holds a full run."
            if plan.quick
            else ""
        )
    )
    cross = _cross_section(results)
    text = "\n\n".join(
        [
            header,
            "### Targets\n\n" + target_table,
            "### Added latency per server event (emulator send → watcher receive, minus the same direct; "
            "steady state, from 1 s after the streams start)\n\n"
            "Each path and its direct baseline are measured in steps of their own, one after the other, so the "
            "noise of either shows in the difference: a figure below zero means the path added less than that "
            "noise. Where the direct p99 itself climbs (tens of ms), the load generator's core is the limit, not "
            "the path.\n\n" + latency_table,
            f"### Throughput: {plan.throughput_sessions} sessions, unpaced, one watcher each\n\n" + "\n".join(tp_lines),
            "### REST client event → upstream frame\n\n" + "\n".join(rest_lines),
            f"### Capacity (added p99 ≤ 10 ms, nothing lost): bare {cap_bare}, playground {cap_play}\n\n"
            + "\n".join(cap_lines),
            f"### Memory\n\n{results.idle_bytes / 1024:,.0f} KiB of worker RSS per idle live session "
            f"({plan.idle_sessions} sessions).",
            voice_section(results.voice) if results.voice else "",
            *_media_sections(results),
            cross,
        ]
    )
    return text, figures


def _media_sections(results: Results) -> list[str]:
    """Voice at 44.1 kHz, fan-out and replay: one worker on PostgreSQL with a media store."""
    sections = [
        voice.section(results.voice44),
        fanout.section(results.fanout, results.plan.pace),
        replay.section(results.replay),
    ]
    if results.cross_skipped and not any(sections):
        return [f"### Voice, fan-out and replay (one worker on PostgreSQL)\n\nNot run: {results.cross_skipped}."]
    return sections


def _cross_section(results: Results) -> str:
    """The production profile: two workers on PostgreSQL and Redis, against this run's one worker and bare forwarder."""
    plan = results.plan
    title = "### Two workers (production profile: PostgreSQL, Redis, relay on worker A, watcher on worker B)"
    if results.cross_skipped:
        return f"{title}\n\nNot run: {results.cross_skipped}."
    if not any(r.path in CROSS_PATHS for r in results.latency):
        return f"{title}\n\nNot run."
    intro = (
        "Sessions are opened over REST on worker A, so their relays run there; each watcher's WebSocket is on "
        "worker B, and the stream is started over that socket: every server event crosses Redis to reach the "
        "watcher, every client event crosses it to reach the relay. Both workers are pinned to the relay core "
        "(the same one core the single worker had); PostgreSQL and Redis run unpinned. Baselines are this run's "
        "rows at the same load. Ratios: p99 (not added p99, which is near zero for the baselines) and events/s "
        "over the single worker's (`× 1 worker`) and the bare forwarder's (`× bare`)."
    )
    lat = [
        "| layer | sessions × 50 ev/s | added p50 ms | added p99 ms | p99 × 1 worker | p99 × bare "
        "| CPU A + B | checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in CROSS_PATHS:
        for n in plan.cross_latency_sessions:
            r = _find(results.latency, path, n)
            if r is None:
                continue
            base, one, bare = (_find(results.latency, p, n) for p in ("direct", "playground", "bare"))
            a50 = r.p50_ms - base.p50_ms if base else math.nan
            a99 = r.p99_ms - base.p99_ms if base else math.nan
            x1 = r.p99_ms / one.p99_ms if one else math.nan
            xb = r.p99_ms / bare.p99_ms if bare else math.nan
            check = "all seq once, in order" if r.ok else "; ".join(r.problems)
            lat.append(
                f"| {LAYER_NAMES[path]} | {n} | {_fmt(a50)} | {_fmt(a99)} | {_fmt(x1)} | {_fmt(xb)} "
                f"| {_cpu_parts(r)} | {check} |"
            )
    tp = [
        "| layer | events/s | × 1 worker | × bare | CPU A + B | CPU µs/event | WS messages | checks |",
        "|---|---|---|---|---|---|---|---|",
    ]
    one_tp = _find(results.throughput, "playground", plan.throughput_sessions)
    bare_tp = _find(results.throughput, "bare", plan.throughput_sessions)
    for path in CROSS_PATHS:
        r = _find(results.throughput, path, plan.throughput_sessions)
        if r is None:
            continue
        x1 = r.events_per_s / one_tp.events_per_s if one_tp and one_tp.events_per_s else math.nan
        xb = r.events_per_s / bare_tp.events_per_s if bare_tp and bare_tp.events_per_s else math.nan
        check = "all seq once, in order" if r.ok else "; ".join(r.problems)
        tp.append(
            f"| {LAYER_NAMES[path]} | {r.events_per_s:,.0f} | {_fmt(x1)} | {_fmt(xb)} | {_cpu_parts(r)} "
            f"| {_fmt(r.cpu_us_per_event, '.0f')} | {r.messages:,} | {check} |"
        )
    cap_one, cap_bare = capacity(results.capacity, "playground"), capacity(results.capacity, "bare")
    cap = [
        "| layer | capacity, added p99 ≤ 20 ms | capacity, added p99 ≤ 10 ms | × 1 worker (10 ms) | × bare (10 ms) |",
        "|---|---|---|---|---|",
    ]
    steps = [
        "| sessions × 50 ev/s | direct p99 ms | "
        + " | ".join(f"{LAYER_NAMES[p]} added p99" for p in CROSS_PATHS)
        + " |",
        "|---|---|" + "---|" * len(CROSS_PATHS),
    ]
    for path in CROSS_PATHS:
        if not any(r.path == path for r in results.capacity):
            continue
        c20, c10 = capacity(results.capacity, path, 20.0), capacity(results.capacity, path, 10.0)
        cap.append(
            f"| {LAYER_NAMES[path]} | {c20} | {c10} | {_fmt(c10 / cap_one if cap_one else math.nan)} "
            f"| {_fmt(c10 / cap_bare if cap_bare else math.nan)} |"
        )
    for n in plan.cross_capacity_steps:
        base = _find(results.capacity, "direct", n)
        if base is None:
            continue
        cells = []
        for path in CROSS_PATHS:
            r = _find(results.capacity, path, n)
            if r is None:
                cells.append("not run")
            elif not r.ok:
                cells.append("lost events" if any("gap" in p for p in r.problems) else "did not finish")
            else:
                cells.append(f"{r.p99_ms - base.p99_ms:+.2f} ({_cpu_parts(r)})")
        steps.append(f"| {n} | {_fmt(base.p99_ms)} | " + " | ".join(cells) + " |")
    return "\n\n".join(
        [
            title + "\n\n" + intro,
            "#### Added latency\n\n" + "\n".join(lat),
            f"#### Throughput: {plan.throughput_sessions} sessions, unpaced\n\n" + "\n".join(tp),
            f"#### Capacity (nothing lost; one worker: {cap_one}, bare: {cap_bare} at ≤ 10 ms)\n\n"
            + "\n".join(cap)
            + "\n\n"
            + "\n".join(steps),
        ]
    )


def _cpu_parts(r: StreamResult) -> str:
    if len(r.cpu_parts) == 2:
        return f"{r.cpu_parts[0] * 100:.0f}% + {r.cpu_parts[1] * 100:.0f}%"
    return "" if math.isnan(r.cpu) else f"{r.cpu * 100:.0f}%"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def chart(results: Results, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6), gridspec_kw={"width_ratios": [3, 2]})
    rows = results.latency + [r for r in results.capacity if r.sessions not in results.plan.latency_sessions]
    for name, color in SERIES:
        points = []
        seen: set[int] = set()
        for r in sorted((r for r in rows if r.path == name), key=lambda r: r.sessions):
            base = _find(rows, "direct", r.sessions)
            if base is not None and r.ok and r.sessions not in seen:
                seen.add(r.sessions)
                points.append((r.sessions, r.p50_ms - base.p50_ms, r.p99_ms - base.p99_ms))
        if points:
            xs = [p[0] for p in points]
            label = LABELS[name]
            # Log scale: an added latency at or under FLOOR_MS (noise, or below the direct path's) sits on the floor.
            p50s, p99s = ([max(p[i], FLOOR_MS) for p in points] for i in (1, 2))
            axes[0].plot(xs, p50s, "o--", color=color, label=f"{label} p50", alpha=0.6, markersize=4)
            axes[0].plot(xs, p99s, "o-", color=color, label=f"{label} p99", linewidth=2)
    axes[0].axhline(10, color="#b42318", linewidth=0.8, linestyle=":", label="10 ms target (one worker)")
    axes[0].axhline(20, color="#b42318", linewidth=0.8, linestyle="--", label="20 ms target (two workers)")
    axes[0].set_yscale("log")
    axes[0].set_ylim(bottom=FLOOR_MS)
    axes[0].set_xlabel("sessions × 50 events/s")
    axes[0].set_ylabel(f"added latency, ms (log; ≤ {FLOOR_MS:g} shown at {FLOOR_MS:g})")
    axes[0].set_title("Added latency per server event")
    axes[0].legend(fontsize=7.5, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    tput = sorted(results.throughput, key=lambda r: [n for n, _ in SERIES].index(r.path) if r.path in LABELS else 99)
    names = [LABELS.get(r.path, r.path).replace(", ", "\n") for r in tput]
    colors = [dict(SERIES).get(r.path, "#444444") for r in tput]
    axes[1].bar(names, [r.events_per_s for r in tput], color=colors)
    for i, r in enumerate(tput):
        axes[1].text(
            i, r.events_per_s, f"{r.events_per_s:,.0f}\n{r.cpu * 100:.0f}% CPU", ha="center", va="bottom", fontsize=8
        )
    axes[1].set_title("Events/s to watchers (unpaced)")
    axes[1].set_ylim(0, max((r.events_per_s for r in tput), default=1) * 1.3)
    axes[1].set_ylabel("events per second")
    axes[1].tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


FLOOR_MS = 0.1
SERIES = (("bare", "#888888"), ("playground", "#2f6fed"), ("cross-pubsub", "#1a9850"), ("cross-redis", "#e08214"))
LABELS = {
    "bare": "bare forwarder",
    "playground": "1 worker",
    "cross-pubsub": "2 workers, pubsub",
    "cross-redis": "2 workers, redis",
}


def write_report(results: Results, *, docs: Path | None, command: str) -> str:
    """Print-ready text; with `docs`, also docs/benchmarks.md and .png (a QUICK run writes
    benchmarks-quick.*, so the full run's figures stay in place)."""
    text, _ = build(results, command)
    if docs is not None:
        docs.mkdir(exist_ok=True)
        name = "benchmarks-quick" if results.plan.quick else "benchmarks"
        chart(results, docs / f"{name}.png")
        if results.fanout is not None and results.fanout.last_ms:
            fanout.chart(results.fanout, docs / f"{name}-fanout.png")
            text += f"\n\n![Fan-out: the last watcher's latency per event]({name}-fanout.png)"
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=docs.parent)
        (docs / f"{name}.md").write_text(
            "# Benchmarks\n\n"
            "`make bench` runs the emulator, the bare `websockets` forwarder (bench/forwarder.py) and the playground "
            "as `make run` serves it (one uvicorn worker, SQLite, the in-memory channel layer, recording on), and "
            "drives all three with the same load generator; then the production profile: two workers on PostgreSQL "
            "and Redis, relay on one, watcher on the other, once per Redis channel layer (`PLAYGROUND_CHANNEL_LAYER`); "
            "voice at 44.1 kHz with its storage, one session fanned out to 200 watchers and the replay of a 10-minute "
            "voice recording run on one worker with PostgreSQL and a media store of its own. "
            "Ratios compare figures from the same run. "
            "What bounds a missed target, with a profile: docs/relay-profile.md.\n\n"
            f"Commit: {rev.stdout.strip() or 'unknown'}  \n" + text + f"\n\n![Latency and throughput]({name}.png)\n"
        )
    return text
