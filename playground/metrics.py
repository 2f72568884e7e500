"""The playground's own Prometheus metrics, and the scrape that reads every worker's (docs/operations.md).

prometheus-client runs in multiprocess mode (settings.py points PROMETHEUS_MULTIPROC_DIR at one directory
per server before anything imports it): each worker process writes its figures to memory-mapped files
there, and `scrape()` on whichever worker answers reads them all. django-prometheus adds the requests
(middleware.py) and the database queries (the settings' DATABASES engines).

On the relay's hot path a metric costs one increment of a child looked up once (`relay_event`); no label
takes a value from outside a fixed set: an event type the protocol does not name counts as `other`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import prometheus_client
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess, values
from prometheus_client.core import GaugeMetricFamily

from playground.realtime.events import CLIENT_EVENTS

if values.ValueClass is values.MutexValue:  # imported before settings.py set the directory
    raise ImproperlyConfigured("prometheus_client was imported before the settings: PROMETHEUS_MULTIPROC_DIR unset.")

# The protocol's event types (OpenAI GA and Yandex, docs/architecture.md): the only values of `type`.
CLIENT_TYPES = frozenset(CLIENT_EVENTS)  # the eleven client events the playground validates
SERVER_TYPES = frozenset(
    {
        "error",
        "session.created",
        "session.updated",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.created",
        "conversation.item.retrieved",
        "conversation.item.truncated",
        "conversation.item.deleted",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.completed",
        "conversation.item.input_audio_transcription.failed",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.timeout_triggered",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.created",
        "response.done",
        "response.output_item.added",
        "response.output_item.done",
        "response.content_part.added",
        "response.content_part.done",
        "response.output_text.delta",
        "response.output_text.done",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.delta",
        "response.output_audio_transcript.done",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "rate_limits.updated",
    }
)
UPSTREAM_NAMES = ("yandex", "emulator")

RELAY_EVENTS = Counter(
    "playground_relay_events_total",
    "Events the relays forwarded: direction client (to the upstream) or server (from it), by type.",
    ["direction", "type"],
)
UPSTREAM_CONNECT = Histogram(
    "playground_upstream_connect_seconds",
    "From dialling an upstream to its WebSocket handshake done (successful connects only).",
    ["upstream"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
UPSTREAM_FAULTS = Counter(
    "playground_upstream_faults_total",
    "Upstream faults by kind: refused, unreachable, closed_at_start, no_first_event, closed, lost, "
    "protocol, stalled, silent, malformed_frame.",
    ["upstream", "kind"],
)
DELIVERY_LAG = Histogram(
    "playground_watcher_delivery_lag_seconds",
    "From a relay numbering a frame to a watcher's socket taking it (the oldest frame of each live batch).",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECORDER_QUEUE = Gauge(
    "playground_recorder_queue_frames",
    "Frames waiting to be written to the recording, summed over the live worker processes.",
    multiprocess_mode="livesum",
)
RECORDER_WRITE = Histogram(
    "playground_recorder_write_seconds",
    "One batch write of the recorder (one transaction), failed attempts included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
RECORDER_FAILURES = Counter("playground_recorder_write_failures_total", "Batch writes that failed (then retried).")
SESSION_REFUSALS = Counter(
    "playground_session_refusals_total",
    "Sessions refused at the gate (playground/limits.py), by limit: deployment_live, user_live, user_per_minute, "
    "budget.",
    ["limit"],
)
WORKER_UP = Gauge(
    "playground_worker_up",
    "1 for each worker process serving the playground (label pid): how many are alive.",
    multiprocess_mode="liveall",
)

_relay_children: dict[tuple[str, str], Any] = {}


def relay_event(direction: str, type_: str) -> None:
    """Count one relayed event: a dict lookup and an increment."""
    child = _relay_children.get((direction, type_))
    if child is None:
        if type_ not in (CLIENT_TYPES if direction == "client" else SERVER_TYPES):
            # Not remembered: an upstream could make up types without end.
            RELAY_EVENTS.labels(direction=direction, type="other").inc()
            return
        child = _relay_children[(direction, type_)] = RELAY_EVENTS.labels(direction=direction, type=type_)
    child.inc()


def upstream_fault(upstream: str, kind: str) -> None:
    UPSTREAM_FAULTS.labels(upstream=upstream if upstream in UPSTREAM_NAMES else "other", kind=kind).inc()


def worker_started() -> None:
    """This process serves the playground (asgi.py): it shows in `playground_worker_up` while it lives."""
    WORKER_UP.set(1)


def _forget_dead_processes(path: Path) -> None:
    """A live gauge's file of a process that died (a killed worker) would keep counting: drop it."""
    for file in path.glob("gauge_live*_*.db"):
        pid = file.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            multiprocess.mark_process_dead(int(pid), str(path))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class LiveSessionsCollector:
    """`playground_sessions_live{upstream, state}`: read from the database at each scrape, so it is the
    deployment's (every worker, every machine) and never drifts from the truth."""

    def collect(self) -> Any:
        from django.db.models import Count

        from playground.realtime.models import RealtimeSession, SessionState

        family = GaugeMetricFamily(
            "playground_sessions_live",
            "Sessions live or connecting, in the whole deployment (from the database), by upstream.",
            labels=["upstream", "state"],
        )
        rows = (
            RealtimeSession.objects.filter(state__in=[SessionState.LIVE, SessionState.CONNECTING])
            .values_list("upstream", "state")
            .annotate(n=Count("pk"))
        )
        counts = {(u, s): n for u, s, n in rows}
        for upstream in UPSTREAM_NAMES:
            for state in (SessionState.LIVE, SessionState.CONNECTING):
                family.add_metric([upstream, str(state)], counts.get((upstream, str(state)), 0))
        yield family


def scrape() -> bytes:
    """Every worker's figures in Prometheus' text format, plus the live sessions (sync: it reads the database)."""
    path = Path(settings.PLAYGROUND_METRICS_DIR)
    _forget_dead_processes(path)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(path))
    registry.register(LiveSessionsCollector())  # type: ignore[arg-type]
    return prometheus_client.generate_latest(registry)


CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
