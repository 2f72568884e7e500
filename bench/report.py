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

if TYPE_CHECKING:
    from .__main__ import Results
    from .scenarios import StreamResult

PACKAGES = ("django", "channels", "django-ninja", "uvicorn", "websockets", "channels-redis")


def _fmt(value: float, spec: str = ".2f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def _find(rows: list[StreamResult], path: str, sessions: int) -> StreamResult | None:
    return next((r for r in rows if r.path == path and r.sessions == sessions), None)


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def capacity(rows: list[StreamResult], path: str) -> int:
    """The most sessions with added p99 ≤ 10 ms and nothing lost."""
    best = 0
    for r in rows:
        if r.path != path:
            continue
        base = _find(rows, "direct", r.sessions)
        if base is not None and r.ok and r.p99_ms - base.p99_ms <= 10:
            best = max(best, r.sessions)
    return best


def build(results: Results, command: str) -> tuple[str, dict[str, Any]]:
    plan = results.plan
    lines: list[str] = []
    figures: dict[str, Any] = {}

    lines.append("| sessions × 50 ev/s | path | p50 ms | p99 ms | added p50 ms | added p99 ms | relay CPU | checks |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for n in plan.latency_sessions:
        base = _find(results.latency, "direct", n)
        for path in ("direct", "bare", "playground"):
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
    all_ok = all(r.ok for r in results.latency + results.throughput) and all(
        r.ok for r in results.capacity if r.sessions <= max(cap_play, cap_bare, 1)
    )
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
        ("nothing lost, duplicated or reordered", "yes" if all_ok else "see problems above", all_ok),
    ]
    target_table = "| target | measured | |\n|---|---|---|\n" + "\n".join(
        f"| {name} | {value} | {_verdict(ok)} |" for name, value, ok in targets
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
    text = "\n\n".join(
        [
            header,
            "### Targets\n\n" + target_table,
            "### Added latency per server event (emulator send → watcher receive, minus the same direct; "
            "steady state, from 1 s after the streams start)\n\n" + latency_table,
            f"### Throughput: {plan.throughput_sessions} sessions, unpaced, one watcher each\n\n" + "\n".join(tp_lines),
            "### REST client event → upstream frame\n\n" + "\n".join(rest_lines),
            f"### Capacity (added p99 ≤ 10 ms, nothing lost): bare {cap_bare}, playground {cap_play}\n\n"
            + "\n".join(cap_lines),
            f"### Memory\n\n{results.idle_bytes / 1024:,.0f} KiB of worker RSS per idle live session "
            f"({plan.idle_sessions} sessions).",
        ]
    )
    return text, figures


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

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    rows = results.latency + [r for r in results.capacity if r.sessions not in results.plan.latency_sessions]
    for name, color in (("bare", "#888888"), ("playground", "#2f6fed")):
        points = []
        for r in sorted((r for r in rows if r.path == name), key=lambda r: r.sessions):
            base = _find(rows, "direct", r.sessions)
            if base is not None and r.ok:
                points.append((r.sessions, r.p50_ms - base.p50_ms, r.p99_ms - base.p99_ms))
        if points:
            xs = [p[0] for p in points]
            axes[0].plot(xs, [p[1] for p in points], "o--", color=color, label=f"{name} p50")
            axes[0].plot(xs, [p[2] for p in points], "o-", color=color, label=f"{name} p99")
    axes[0].axhline(10, color="#b42318", linewidth=0.8, linestyle=":", label="10 ms target")
    axes[0].set_xlabel("sessions × 50 events/s")
    axes[0].set_ylabel("added latency, ms")
    axes[0].set_title("Added latency per server event")
    axes[0].legend(fontsize=8)
    names = [r.path for r in results.throughput]
    axes[1].bar(names, [r.events_per_s for r in results.throughput], color=["#888888", "#2f6fed"][: len(names)])
    for i, r in enumerate(results.throughput):
        axes[1].text(i, r.events_per_s, f"{r.events_per_s:,.0f}\n{r.cpu * 100:.0f}% CPU", ha="center", va="bottom")
    axes[1].set_title("Events/s to watchers, one worker (unpaced)")
    axes[1].set_ylim(0, max((r.events_per_s for r in results.throughput), default=1) * 1.25)
    axes[1].set_ylabel("events per second")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(results: Results, *, docs: Path | None, command: str) -> str:
    """Print-ready text; with `docs`, also docs/benchmarks.md and .png (a QUICK run writes
    benchmarks-quick.*, so the full run's figures stay in place)."""
    text, _ = build(results, command)
    if docs is not None:
        docs.mkdir(exist_ok=True)
        name = "benchmarks-quick" if results.plan.quick else "benchmarks"
        chart(results, docs / f"{name}.png")
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=docs.parent)
        (docs / f"{name}.md").write_text(
            "# Benchmarks\n\n"
            "`make bench` runs the emulator, the bare `websockets` forwarder (bench/forwarder.py) and the playground "
            "as `make run` serves it (one uvicorn worker, SQLite, the in-memory channel layer, recording on), and "
            "drives all three with the same load generator. Ratios compare figures from the same run. "
            "What bounds a missed target, with a profile: docs/relay-profile.md.\n\n"
            f"Commit: {rev.stdout.strip() or 'unknown'}  \n" + text + f"\n\n![Latency and throughput]({name}.png)\n"
        )
    return text
