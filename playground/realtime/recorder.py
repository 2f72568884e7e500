"""The relay's writes, run on its recorder thread (plain sync ORM code).

Kept apart from services.py because these run off the event loop, in batches,
for the relay only; everything here is idempotent enough to retry.
"""

from __future__ import annotations

from django.db import close_old_connections, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from .frames import Frame
from .models import RealtimeSession, SessionEvent, SessionState


def session_go_live(*, session_id: str, relay_channel: str) -> None:
    close_old_connections()
    RealtimeSession.objects.filter(pk=session_id).update(
        state=SessionState.LIVE, relay_channel=relay_channel, heartbeat_at=timezone.now()
    )


def events_record(*, session_id: str, frames: list[Frame]) -> None:
    close_old_connections()
    rows = [
        SessionEvent(session_id=session_id, seq=f.seq, direction=f.direction, ts=f.ts, type=f.type, data=f.data)
        for f in frames
    ]
    with transaction.atomic():
        # A retry after a write that did land must not fail on the unique seq.
        SessionEvent.objects.bulk_create(rows, ignore_conflicts=True)
        RealtimeSession.objects.filter(pk=session_id).update(
            last_seq=Greatest(F("last_seq"), frames[-1].seq), heartbeat_at=timezone.now()
        )


def session_heartbeat(*, session_id: str) -> None:
    close_old_connections()
    RealtimeSession.objects.filter(pk=session_id, state=SessionState.LIVE).update(heartbeat_at=timezone.now())


def session_finish(*, session_id: str, state: str, reason: str) -> None:
    close_old_connections()
    RealtimeSession.objects.filter(pk=session_id).update(
        state=state, state_reason=reason, ended_at=timezone.now(), relay_channel=""
    )
