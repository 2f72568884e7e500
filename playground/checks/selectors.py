"""Reads for checks: who sees which runs, a preset's runs for the matrix and history, one run in full.

Who sees a run: whoever may read its preset, for a preset of a person or a team (a team's members see each
other's runs); for a builtin preset, only who ran it (everyone may run a builtin's checks, and one person's
runs are not another's business).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from playground.presets.models import Preset
from playground.presets.selectors import presets_visible

from .models import AssertionResult, CheckResult, CheckRun, RunState

# A running run renews its heartbeat every runner.HEARTBEAT_S (5 s): one silent for this long lost its worker.
RUN_STALE_AFTER = timedelta(seconds=60)


def _visible(*, user: Any) -> QuerySet[CheckRun]:
    presets = presets_visible(user=user).values("pk")
    return (
        CheckRun.objects.filter(preset__in=presets)
        .filter(Q(owner=user) | Q(preset__builtin=False))
        .select_related("preset", "owner")
    )


def check_run_get(*, user: Any, run_id: Any, full: bool = False) -> CheckRun | None:
    """A run `user` may see, with its results (and, `full`, their assertions); None otherwise."""
    try:
        pk = uuid.UUID(str(run_id))
    except ValueError:
        return None
    results = CheckResult.objects.select_related("session").order_by("check_index", "attempt")
    if full:
        results = results.prefetch_related(Prefetch("assertions", queryset=AssertionResult.objects.all()))
    return _visible(user=user).filter(pk=pk).prefetch_related(Prefetch("results", queryset=results)).first()


def check_runs_of_preset(*, user: Any, preset: Preset, limit: int = 30) -> list[CheckRun]:
    """The preset's runs `user` may see, newest first, each with its results (no assertions)."""
    results = CheckResult.objects.select_related("session").order_by("check_index", "attempt")
    qs = (
        _visible(user=user)
        .filter(preset=preset)
        .prefetch_related(Prefetch("results", queryset=results))
        .order_by("-created_at")
    )
    return list(qs[:limit])


def run_state(run: CheckRun) -> str:
    """The run's state as people should see it: a running run whose worker stopped is interrupted."""
    if run.state in (RunState.RUNNING, RunState.QUEUED):
        beat = run.heartbeat_at or run.created_at
        if beat < timezone.now() - RUN_STALE_AFTER:
            return RunState.INTERRUPTED
    return run.state
