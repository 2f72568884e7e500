"""Reads for realtime sessions and their recordings."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .frames import Frame
from .models import RealtimeSession, SessionEvent, SessionState

# A live session whose relay has not written for this long lost its worker.
STALE_AFTER = timedelta(seconds=20)


def session_list(*, user: Any, state: str | None = None, limit: int = 100) -> list[RealtimeSession]:
    qs = RealtimeSession.objects.filter(owner=user)
    if state:
        qs = qs.filter(state=state)
    return list(qs[:limit])


def session_get(*, user: Any, session_id: Any) -> RealtimeSession | None:
    """The session if `user` may see it; None both when missing and when someone else's."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:  # a malformed id is simply not found
        return None
    return RealtimeSession.objects.filter(pk=pk, owner=user).first()


def session_live_count() -> int:
    return RealtimeSession.objects.filter(state__in=[SessionState.LIVE, SessionState.CONNECTING]).count()


def event_frames(*, session_id: Any, after: int = 0, upto: int | None = None, limit: int = 1000) -> list[Frame]:
    qs = SessionEvent.objects.filter(session_id=session_id, seq__gt=after)
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    rows = qs.order_by("seq").values_list("seq", "direction", "ts", "type", "data")[:limit]
    return [Frame(seq=s, direction=d, ts=t, type=ty, data=data) for s, d, t, ty, data in rows]


def stale_cutoff() -> Any:
    return timezone.now() - STALE_AFTER
