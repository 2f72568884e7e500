"""Writes for realtime sessions: open one, send it client events, close it, resume it; delete, share.

Everything that reaches a relay goes through the channel layer (runtime/messages.py), so these
work from any worker whichever worker holds the relay. State changes are runtime/state.py's.
"""

from __future__ import annotations

import asyncio
import functools
import uuid
from typing import Any

from channels.layers import get_channel_layer

from playground.db import db
from playground.errors import PlaygroundError
from playground.limits import Opening, session_gate
from playground.recordings.retention import recordings_prune_due
from playground.teams.access import can_change
from playground.teams.services import share_link_create, share_link_revoke, sharing_target, visibility_set

from . import selectors
from .canned import CannedToolOutputs
from .events import ClientEvent, SessionConfig, SessionUpdate, compact_json, event_to_wire
from .models import ClientDialect, RealtimeSession, SessionState
from .resume import RESUMED_KIND, session_resume_plan
from .runtime import lease, messages
from .runtime import state as session_state
from .runtime.frames import notice_data
from .runtime.layers import channel_done
from .runtime.relay import Relay
from .runtime.state import LIVE_FIELDS
from .upstreams import UPSTREAMS, UpstreamError, available_upstreams, default_upstream_name

RELAY_REPLY_TIMEOUT_S = 10.0


def sessions_mark_stale() -> int:
    """Sessions whose relay stopped heartbeating (its worker died) become interrupted, saying so
    in their recording; this process's sweeper publishes the notices (runtime/lease.py)."""
    ended = session_state.sessions_interrupt_stale()
    lease.publish_soon(ended)
    return len(ended)


def _before_opening() -> None:
    """Housekeeping as sessions open, outside the gate's lock: a dead worker's sessions stop counting
    as live (the sweeper may not have run yet), and recordings past retention go."""
    sessions_mark_stale()
    recordings_prune_due()


async def session_create(
    *,
    user: Any,
    upstream: str | None = None,
    session: SessionConfig | None = None,
    options: dict[str, Any] | None = None,
    preset: Any = None,
    preset_version: int | None = None,
    team_id: Any = None,
    visibility: str | None = None,
    canned: CannedToolOutputs | None = None,
    client_dialect: str = ClientDialect.YANDEX,
) -> RealtimeSession:
    """Open a live session: connect upstream, start its relay, apply the initial config.

    `team_id`/`visibility` share its recording with one of the user's teams; `preset` notes where it came from;
    `canned` answers the model's function calls from a preset's canned tool outputs; `client_dialect` says
    which dialect its client speaks (the relay and the recording speak the upstream's either way)."""
    name = upstream or default_upstream_name()
    if name not in UPSTREAMS:
        raise PlaygroundError(
            f"Unknown upstream {name!r}; choose one of: {', '.join(UPSTREAMS)}.", status=422, field="upstream"
        )
    upstream_obj = UPSTREAMS[name]
    if not upstream_obj.is_available():
        raise PlaygroundError(
            f"Upstream {name!r} is not configured here (set YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID); "
            f"available: {', '.join(available_upstreams())}.",
            status=422,
            field="upstream",
        )
    team, shown_to = await db(sharing_target, user=user, team_id=team_id, visibility=visibility)
    await db(_before_opening)
    config = session.model_dump(mode="json", exclude_unset=True) if session else {}
    begin = functools.partial(
        session_state.session_begin,
        owner=user,
        upstream=name,
        config=config,
        team=team,
        visibility=shown_to,
        preset=preset,
        preset_version=preset_version,
        client_dialect=client_dialect,
    )
    # The limits and the new `connecting` row in one step (playground/limits.py): a burst cannot overshoot.
    row = await db(session_gate, opening=Opening(user=user, team=team.pk if team else None), take=begin)
    try:
        connection = await upstream_obj.connect(options=options or {})
    except UpstreamError as exc:
        await db(session_state.session_fail, session_id=row.pk, reason=exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    relay = Relay(session_id=str(row.id), upstream=connection, upstream_title=upstream_obj.title, canned=canned)
    initial = [compact_json(event_to_wire(SessionUpdate(session=session)))] if session is not None else []
    try:
        await relay.start(initial_events=initial)
    except UpstreamError as exc:
        await connection.close()
        await db(session_state.session_fail, session_id=row.pk, reason=exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    # With what the API shows of it loaded, so callers in the event loop can answer with it.
    return await db(selectors.session_loaded, session_id=row.pk)


def _require_live(session: RealtimeSession) -> None:
    if session.state != SessionState.LIVE or not session.relay_channel:
        reason = f": {session.state_reason}" if session.state_reason else "."
        raise PlaygroundError(f"Session {session.id} is {session.state}, not live{reason}", status=409)


async def relay_request(*, session: RealtimeSession, message: messages.RelayRequest) -> messages.RelayAnswer:
    """Send a message to the session's relay, wherever it runs, and wait for its answer."""
    lease.ensure_sweeper()
    layer = get_channel_layer()
    reply_channel = await layer.new_channel()
    request_id = uuid.uuid4().hex
    await layer.send(session.relay_channel, {**message, "reply_channel": reply_channel, "request_id": request_id})
    try:
        async with asyncio.timeout(RELAY_REPLY_TIMEOUT_S):
            while True:
                answer = await layer.receive(reply_channel)
                if answer.get("request_id") == request_id:
                    break
    except TimeoutError:
        raise PlaygroundError(
            f"The relay of session {session.id} did not answer within {RELAY_REPLY_TIMEOUT_S:.0f} s; "
            "its worker may have stopped.",
            status=503,
        ) from None
    finally:
        await channel_done(layer, reply_channel)  # the pub/sub layer keeps it subscribed otherwise
    if answer["type"] == messages.ERROR:
        raise PlaygroundError(answer["message"], status=502)
    return answer


async def client_event_send(*, session: RealtimeSession, event: ClientEvent) -> tuple[str, int]:
    """Forward a validated client event; returns (event_id, seq)."""
    _require_live(session)
    wire = event_to_wire(event)
    answer = await relay_request(session=session, message=messages.client_event(text=compact_json(wire)))
    assert answer["type"] == messages.ACK
    return wire["event_id"], answer["seq"]


async def relay_seq(*, session: RealtimeSession) -> int:
    """The last seq the session's relay has numbered (recorded or not yet)."""
    answer = await relay_request(session=session, message=messages.sync())
    assert answer["type"] == messages.SYNCED
    return answer["seq"]


def session_may_change(*, user: Any, session: RealtimeSession) -> None:
    """403 for a session `user` may watch but not drive or change (a team's, as a viewer)."""
    if not can_change(user=user, obj=session):
        raise PlaygroundError(
            f"You may watch session {session.id} but not change it: that needs its owner or a team member.",
            status=403,
        )


def session_delete(*, user: Any, session: RealtimeSession) -> None:
    """Delete a recording with all its events (its audio is in them). A live session is closed first."""
    session_may_change(user=user, session=session)
    if session.state in (SessionState.LIVE, SessionState.CONNECTING):
        raise PlaygroundError(f"Session {session.id} is {session.state}: close it first.", status=409)
    session.delete()


def session_share(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    session_may_change(user=user, session=session)
    return share_link_create(obj=session)


def session_unshare(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    session_may_change(user=user, session=session)
    return share_link_revoke(obj=session)


def session_edit(*, user: Any, session: RealtimeSession, team_id: Any, visibility: str | None) -> RealtimeSession:
    return visibility_set(user=user, obj=session, team_id=team_id, visibility=visibility)


async def session_close(*, session: RealtimeSession, reason: str = "Closed by the user.") -> RealtimeSession:
    """End a live session; it stays as a recording."""
    _require_live(session)
    await relay_request(session=session, message=messages.close(reason=reason))
    await db(session.refresh_from_db, fields=LIVE_FIELDS)
    return session


# --- resume: an interrupted session goes on over a new upstream connection (resume.py plans it) ----


async def session_resume(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    """Resume an interrupted session (or one its upstream ended at its time limit) in this worker.

    A new upstream connection and a new relay for the same session id, numbering on from the
    recording's last seq: it records a `resumed` notice, sends the latest settings as
    session.update, then replays the conversation as conversation.item.create events (all recorded
    like any client events). Watchers on any worker keep receiving on the session's group."""
    session_may_change(user=user, session=session)
    lease.ensure_sweeper()
    await db(sessions_mark_stale)  # a dead worker's session not yet swept becomes resumable at once
    await db(session.refresh_from_db, fields=[*LIVE_FIELDS, "config"])
    plan = await db(session_resume_plan, session=session)
    upstream_obj = UPSTREAMS.get(session.upstream)
    if upstream_obj is None or not upstream_obj.is_available():
        raise PlaygroundError(
            f"Session {session.id} ran on upstream {session.upstream!r}, which is not configured here.", status=409
        )
    await db(_before_opening)
    before = {"state": session.state, "reason": session.state_reason, "ended_at": session.ended_at}
    claim = functools.partial(session_state.session_resume_claim, session_id=session.id, state=session.state)
    # The claim (interrupted → connecting) is the resume's place among the live sessions, taken in the gate.
    if not await db(session_gate, opening=Opening(user=user, resuming=session.id), take=claim):
        raise PlaygroundError(f"Session {session.id} is being resumed by another request.", status=409)
    try:
        connection = await upstream_obj.connect(options={})
    except UpstreamError as exc:
        await db(session_state.session_resume_release, session_id=session.id, **before)
        raise PlaygroundError(exc.message, status=502) from exc
    message = (
        f"Resumed on a new {upstream_obj.title} connection after: {before['reason'] or before['state']} "
        f"The settings and {plan.replayed} conversation item(s) were replayed from the recording."
    )
    if plan.notes:
        message += " Not as before: " + "; ".join(plan.notes) + "."
    notice = notice_data(
        kind=RESUMED_KIND,
        message=message,
        state=str(SessionState.LIVE),
        previous_state=before["state"],
        replayed=plan.replayed,
        notes=plan.notes,
    )
    relay = Relay(session_id=str(session.id), upstream=connection, upstream_title=upstream_obj.title)
    try:
        await relay.start(initial_events=plan.events, start_seq=plan.last_seq, notices=[(RESUMED_KIND, notice)])
    except UpstreamError as exc:
        await connection.close()
        await db(session_state.session_resume_release, session_id=session.id, **before)
        raise PlaygroundError(exc.message, status=502) from exc
    resumed = await db(selectors.session_get, user=user, session_id=session.id)
    assert resumed is not None
    return resumed
