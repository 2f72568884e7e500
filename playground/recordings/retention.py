"""Retention: recordings older than PLAYGROUND_RETENTION_DAYS are deleted, with their events and audio.

Applied as sessions open (at most every 10 minutes per worker) and by `manage.py prune_recordings`.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from playground.realtime.models import RealtimeSession, SessionState


def recordings_prune(*, days: int, now: Any = None) -> int:
    """Delete recordings (with their events, audio included) that ended more than `days` days ago.

    Live sessions are never touched. Returns how many recordings were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    ended = RealtimeSession.objects.exclude(state__in=[SessionState.LIVE, SessionState.CONNECTING])
    old = ended.filter(created_at__lt=cutoff).filter(models.Q(ended_at__lt=cutoff) | models.Q(ended_at__isnull=True))
    deleted = 0
    for pk in list(old.values_list("pk", flat=True)):
        # One at a time: a recording can hold a million events; one huge DELETE would hold the write lock.
        RealtimeSession.objects.filter(pk=pk).delete()
        deleted += 1
    return deleted


_last_prune = 0.0


def recordings_prune_due() -> int:
    """Apply PLAYGROUND_RETENTION_DAYS at most every 10 minutes per worker (called as sessions open)."""
    global _last_prune
    if settings.PLAYGROUND_RETENTION_DAYS <= 0 or time.monotonic() - _last_prune < 600:
        return 0
    _last_prune = time.monotonic()
    return recordings_prune(days=settings.PLAYGROUND_RETENTION_DAYS)
