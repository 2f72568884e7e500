"""Per-user limits on opening sessions (issue 7, abuse).

Counted in the database, from the user's own RealtimeSession rows, so every worker on every
machine sees the same numbers and nothing needs a cache or a new table:

- sessions created in the last 60 s (PLAYGROUND_SESSIONS_PER_MINUTE), and
- sessions live (or connecting) at once (PLAYGROUND_LIVE_SESSIONS_PER_USER).

0 turns a limit off. `realtime.services` checks these wherever a session opens (created, from a
preset, re-run, over /v1/realtime, or resumed), next to the deployment-wide PLAYGROUND_MAX_LIVE_SESSIONS.
Two requests racing at the very limit may both pass: a soft limit, good enough against runaway scripts.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from playground.errors import PlaygroundError
from playground.realtime.models import RealtimeSession, SessionState

WINDOW_S = 60
# A live session ends when its user closes it or its upstream does (a few minutes): a hint to poll again.
LIVE_RETRY_AFTER_S = 30


def session_quota_check(*, user: Any) -> None:
    """Refuse (429, with `retry_after` seconds) a new live session for `user` beyond their limits."""
    mine = RealtimeSession.objects.filter(owner=user)
    per_minute = settings.PLAYGROUND_SESSIONS_PER_MINUTE
    if per_minute > 0:
        now = timezone.now()
        recent = list(
            mine.filter(created_at__gt=now - timedelta(seconds=WINDOW_S))
            .order_by("-created_at")
            .values_list("created_at", flat=True)[:per_minute]
        )
        if len(recent) >= per_minute:
            # Room again once the oldest of the last `per_minute` leaves the window.
            wait = max(1, math.ceil(WINDOW_S - (now - recent[-1]).total_seconds()))
            raise PlaygroundError(
                f"You opened {len(recent)} sessions in the last minute, the most allowed "
                f"(PLAYGROUND_SESSIONS_PER_MINUTE={per_minute}). Try again in {wait} s.",
                status=429,
                retry_after=wait,
            )
    per_user = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER
    if per_user > 0:
        live = mine.filter(state__in=[SessionState.LIVE, SessionState.CONNECTING]).count()
        if live >= per_user:
            raise PlaygroundError(
                f"You have {live} live sessions, the most allowed per user "
                f"(PLAYGROUND_LIVE_SESSIONS_PER_USER={per_user}). Close one (POST /api/sessions/{{id}}/close) "
                f"and try again, or retry in {LIVE_RETRY_AFTER_S} s.",
                status=429,
                retry_after=LIVE_RETRY_AFTER_S,
            )
