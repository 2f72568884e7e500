"""Reads for realtime sessions and their recordings."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import DateTimeField, ExpressionWrapper, QuerySet
from django.db.models.functions import Now

from playground.errors import PlaygroundError
from playground.teams.access import visible_q, with_my_role

from .models import RealtimeSession, SessionState
from .reading import Audio, frames_read
from .runtime.frames import Frame

# A live session whose lease (heartbeat_at) is older than this lost its worker: the sweeper
# (runtime/lease.py) marks it interrupted. Four missed beats at lease.HEARTBEAT_S = 2 s: a beat runs on the
# recorder thread and can wait behind one slow batch write (a big audio append, a busy database)
# without a live relay being declared dead, while a killed worker's watchers learn it within
# STALE_AFTER + lease.SWEEP_S (about 10 s). The single source for these timings.
STALE_AFTER = timedelta(seconds=8)


def _shown() -> QuerySet[RealtimeSession]:
    # What session_out shows of a session besides its own fields: one query, not one per relation.
    return RealtimeSession.objects.select_related("owner", "team", "preset")


def _visible(*, user: Any) -> QuerySet[RealtimeSession]:
    """Mine and my teams' (where shared with the team), each with `my_role` in its team."""
    qs = _shown().filter(visible_q(user=user))
    return with_my_role(qs, user=user)


def session_list(
    *,
    user: Any,
    state: str | None = None,
    preset_id: Any = None,
    owner: str | None = None,
    team_id: Any = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[RealtimeSession]:
    """Sessions `user` may see, newest first, filtered by state, preset, owner's username, team and date."""
    qs = _visible(user=user)
    if state:
        qs = qs.filter(state=state)
    if preset_id:
        qs = qs.filter(preset_id=preset_id)
    if owner:
        qs = qs.filter(owner__username=owner)
    if team_id:
        qs = qs.filter(team_id=team_id)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return list(qs[:limit])


def session_get(*, user: Any, session_id: Any) -> RealtimeSession | None:
    """The session if `user` may see it (theirs or their team's); None when missing or not theirs to see."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:  # a malformed id is simply not found
        return None
    return _visible(user=user).filter(pk=pk).first()


def session_get_or_404(*, user: Any, session_id: Any) -> RealtimeSession:
    """session_get, or 404 in words: a session `user` may not see is not found either."""
    session = session_get(user=user, session_id=session_id)
    if session is None:
        raise PlaygroundError(f"No session {session_id}.", status=404)
    return session


def session_loaded(*, session_id: Any) -> RealtimeSession:
    """A session with what the API shows of it loaded (for answering from the event loop)."""
    return _shown().get(pk=session_id)


def session_get_by_share_token(*, token: str) -> RealtimeSession | None:
    """A recording shared by link; None for an unknown or revoked token."""
    if not token:
        return None
    return _shown().filter(share_token=token).first()


def session_shared_or_404(*, token: str) -> RealtimeSession:
    """A recording shared by link, or 404 in words."""
    session = session_get_by_share_token(token=token)
    if session is None:
        raise PlaygroundError("This share link is unknown or was revoked.", status=404)
    return session


def session_live_count(*, owner: Any = None) -> int:
    """Sessions live or connecting (each holds an upstream connection), the deployment's or one owner's."""
    qs = RealtimeSession.objects.filter(state__in=[SessionState.LIVE, SessionState.CONNECTING])
    return (qs.filter(owner=owner) if owner is not None else qs).count()


def event_frames(
    *, session_id: Any, after: int = 0, upto: int | None = None, limit: int = 1000, audio: Audio = "inline"
) -> list[Frame]:
    return list(frames_read(session_id=session_id, after=after, upto=upto, limit=limit, audio=audio))


def stale_cutoff() -> Any:
    """The lease cutoff on the database's clock (heartbeats are written with it too): workers on
    several machines never compare their own clocks."""
    return ExpressionWrapper(Now() - STALE_AFTER, output_field=DateTimeField())
