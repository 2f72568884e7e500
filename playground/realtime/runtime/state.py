"""Every change of a session's state, in one place: connecting → live → ended, interrupted or failed.

A session row changes state from several workers at once (its relay, another worker's lease
sweeper, a resume), so each change here is a conditional UPDATE that names the state it leaves
(and, for a relay, the channel that holds the lease): exactly one writer wins, and a loser learns
it from the row count. These are plain sync ORM functions; relays call them on the recorder thread,
services through `playground.db`. The heartbeat and the stale cutoff are on the database's clock
(`Now()`), so workers on several machines agree.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Case, DateTimeField, ExpressionWrapper, F, Max, PositiveIntegerField, Q, Value, When
from django.db.models.functions import Greatest, Now
from django.utils import timezone

from .. import selectors
from ..models import RealtimeSession, SessionEvent, SessionState
from .frames import Frame, notice_data

log = logging.getLogger(__name__)

LOST_KIND = "worker_lost"
# What a relay changes on a session row; refreshing only these keeps its loaded owner, team and preset.
LIVE_FIELDS = ["state", "state_reason", "relay_channel", "heartbeat_at", "last_seq", "ended_at"]


# --- a new session ---------------------------------------------------------------------------------


def session_begin(**fields: Any) -> RealtimeSession:
    """The row of a session being opened: connecting until its relay goes live."""
    return RealtimeSession.objects.create(state=SessionState.CONNECTING, **fields)


def session_fail(*, session_id: Any, reason: str) -> None:
    """The upstream refused a new session (or closed at once): it never went live."""
    RealtimeSession.objects.filter(pk=session_id).update(
        state=SessionState.FAILED, state_reason=reason, ended_at=timezone.now()
    )


def session_go_live(*, session_id: str, relay_channel: str) -> None:
    # The lease starts now, on the database's clock (selectors.stale_cutoff compares with it).
    RealtimeSession.objects.filter(pk=session_id).update(
        state=SessionState.LIVE, state_reason="", ended_at=None, relay_channel=relay_channel, heartbeat_at=Now()
    )


# --- the lease ------------------------------------------------------------------------------------


def sessions_heartbeat(*, held: dict[str, int]) -> list[str]:
    """Renew the leases of this process's relays, `{relay channel: last recorded seq}`, in one UPDATE.

    A relay's channel is its lease token: a session whose row names another channel (resumed
    elsewhere), is no longer live (the sweeper ended it) or whose lease already expired is not renewed. Returns the
    channels whose lease is lost; a second query only when some are."""
    if not held:
        return []
    # An expired lease is lost even before a sweeper ends it: renewing it would race the sweeper.
    mine = RealtimeSession.objects.filter(
        state=SessionState.LIVE, relay_channel__in=list(held), heartbeat_at__gte=selectors.stale_cutoff()
    )
    seqs = Case(
        *(When(relay_channel=ch, then=Value(seq)) for ch, seq in held.items()),
        default=F("last_seq"),
        output_field=PositiveIntegerField(),
    )
    renewed = mine.update(heartbeat_at=Now(), last_seq=Greatest(F("last_seq"), seqs))
    if renewed == len(held):
        return []
    kept = set(mine.values_list("relay_channel", flat=True))
    return [ch for ch in held if ch not in kept]


def session_finish(*, session_id: str, relay_channel: str, state: str, reason: str, notice: Frame) -> bool:
    """The relay's own end: its notice and the final state in one transaction, so whoever reads the
    notice (live or from the recording) finds the session ended. False when the relay's lease was
    lost meanwhile: the sweeper already ended the session and recorded why."""
    with transaction.atomic():
        won = RealtimeSession.objects.filter(
            pk=session_id, state=SessionState.LIVE, relay_channel=relay_channel
        ).update(state=state, state_reason=reason, ended_at=timezone.now(), relay_channel="", last_seq=notice.seq)
        if won:
            SessionEvent.objects.create(
                session_id=session_id,
                seq=notice.seq,
                direction=notice.direction,
                ts=notice.ts,
                type=notice.type,
                data=notice.data,
            )
    return bool(won)


def stale_reason() -> str:
    seconds = int(selectors.STALE_AFTER.total_seconds())
    return f"The worker that held this session stopped: its relay sent no heartbeat for {seconds} s."


def session_interrupt_if_stale(*, session_id: Any) -> Frame | None:
    """End one session whose lease is stale, recording why as its next seq; None if another worker
    won, the relay renewed its lease meanwhile, or a late relay wrote that seq first (next sweep)."""
    reason = stale_reason()
    try:
        with transaction.atomic():
            won = RealtimeSession.objects.filter(
                pk=session_id, state=SessionState.LIVE, heartbeat_at__lt=selectors.stale_cutoff()
            ).update(state=SessionState.INTERRUPTED, state_reason=reason, ended_at=Now(), relay_channel="")
            if not won:
                return None
            recorded = SessionEvent.objects.filter(session_id=session_id).aggregate(m=Max("seq"))["m"] or 0
            known = RealtimeSession.objects.filter(pk=session_id).values_list("last_seq", flat=True).first() or 0
            seq = max(recorded, known) + 1
            data = notice_data(kind=LOST_KIND, message=reason, state=str(SessionState.INTERRUPTED))
            frame = Frame(seq=seq, direction="playground", ts=time.time(), type=LOST_KIND, data=data)
            SessionEvent.objects.create(
                session_id=session_id, seq=seq, direction=frame.direction, ts=frame.ts, type=frame.type, data=data
            )
            RealtimeSession.objects.filter(pk=session_id).update(last_seq=seq)
    except IntegrityError:
        return None
    return frame


def sessions_interrupt_stale() -> list[tuple[str, Frame]]:
    """Every stale live session becomes interrupted, with its notice recorded; returns the notices.

    Also fails sessions stuck connecting (their worker died mid-handshake)."""
    stale = RealtimeSession.objects.filter(state=SessionState.LIVE, heartbeat_at__lt=selectors.stale_cutoff())
    ended = []
    for session_id in list(stale.values_list("pk", flat=True)):
        frame = session_interrupt_if_stale(session_id=session_id)
        if frame is not None:
            ended.append((str(session_id), frame))
    # A new session's lease starts when it goes live (created_at counts until then); a resumed
    # one's when it was claimed (heartbeat_at).
    cutoff = ExpressionWrapper(Now() - selectors.STALE_AFTER * 3, output_field=DateTimeField())
    stuck = RealtimeSession.objects.filter(state=SessionState.CONNECTING).filter(
        Q(heartbeat_at__isnull=True, created_at__lt=cutoff) | Q(heartbeat_at__lt=cutoff)
    )
    if stuck.exists():  # a read first: on SQLite even an UPDATE of no rows takes the one write lock
        stuck.update(
            state=SessionState.FAILED, state_reason="The connection to the upstream never completed.", ended_at=Now()
        )
    if ended:
        log.warning("interrupted %d session(s) of a worker that stopped: %s", len(ended), [s for s, _ in ended])
    return ended


# --- resume ---------------------------------------------------------------------------------------


def session_resume_claim(*, session_id: Any, state: str) -> bool:
    """Exactly one resume wins: the session leaves `state` for connecting (its lease starts now)."""
    return bool(
        RealtimeSession.objects.filter(pk=session_id, state=state).update(
            state=SessionState.CONNECTING, relay_channel="", heartbeat_at=Now()
        )
    )


def session_resume_release(*, session_id: Any, state: str, reason: str, ended_at: Any) -> None:
    """A resume that failed to connect gives the session back as it was."""
    RealtimeSession.objects.filter(pk=session_id, state=SessionState.CONNECTING).update(
        state=state, state_reason=reason, ended_at=ended_at
    )
