"""Writes for realtime sessions: open one, send it client events, close it.

Everything that reaches a relay goes through the channel layer, so these work
from any worker whichever worker holds the relay.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from playground.db import db
from playground.errors import PlaygroundError

from . import selectors
from .events import ClientEvent, SessionConfig, SessionUpdate, event_to_wire
from .models import RealtimeSession, SessionState
from .relay import Relay
from .upstreams import UPSTREAMS, UpstreamError, available_upstreams, default_upstream_name

RELAY_REPLY_TIMEOUT_S = 10.0


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sessions_mark_stale() -> int:
    """Sessions whose relay stopped heartbeating (its worker died) become interrupted."""
    now = timezone.now()
    stale = RealtimeSession.objects.filter(state=SessionState.LIVE, heartbeat_at__lt=selectors.stale_cutoff())
    count = stale.update(
        state=SessionState.INTERRUPTED,
        state_reason="The worker that held this session stopped: its relay sent no heartbeat for 20 s.",
        ended_at=now,
        relay_channel="",
    )
    # A connect that never finished (its worker died mid-handshake).
    RealtimeSession.objects.filter(
        state=SessionState.CONNECTING, created_at__lt=now - selectors.STALE_AFTER * 3
    ).update(state=SessionState.FAILED, state_reason="The connection to the upstream never completed.", ended_at=now)
    return count


def _live_sessions_check() -> None:
    """Refuse a new session when the deployment's live sessions are at the limit (429)."""
    sessions_mark_stale()
    live = selectors.session_live_count()
    if live >= settings.PLAYGROUND_MAX_LIVE_SESSIONS:
        raise PlaygroundError(
            f"{live} sessions are live, the most this deployment allows (PLAYGROUND_MAX_LIVE_SESSIONS="
            f"{settings.PLAYGROUND_MAX_LIVE_SESSIONS}). Close one and try again.",
            status=429,
        )


async def session_create(
    *,
    user: Any,
    upstream: str | None = None,
    session: SessionConfig | None = None,
    options: dict[str, Any] | None = None,
) -> RealtimeSession:
    """Open a live session: connect upstream, start its relay, apply the initial config."""
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
    await db(_live_sessions_check)
    config = session.model_dump(mode="json", exclude_unset=True) if session else {}
    row = await RealtimeSession.objects.acreate(owner=user, upstream=name, config=config)
    try:
        connection = await upstream_obj.connect(options=options or {})
    except UpstreamError as exc:
        await _session_fail(row, exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    relay = Relay(session_id=str(row.id), upstream=connection, upstream_title=upstream_obj.title)
    initial = [_dumps(event_to_wire(SessionUpdate(session=session)))] if session is not None else []
    try:
        await relay.start(initial_events=initial)
    except UpstreamError as exc:
        await connection.close()
        await _session_fail(row, exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    await row.arefresh_from_db()
    return row


async def _session_fail(row: RealtimeSession, reason: str) -> None:
    row.state, row.state_reason, row.ended_at = SessionState.FAILED, reason, timezone.now()
    await row.asave(update_fields=["state", "state_reason", "ended_at"])


def _require_live(session: RealtimeSession) -> None:
    if session.state != SessionState.LIVE or not session.relay_channel:
        reason = f": {session.state_reason}" if session.state_reason else "."
        raise PlaygroundError(f"Session {session.id} is {session.state}, not live{reason}", status=409)


async def relay_request(*, session: RealtimeSession, message: dict[str, Any]) -> dict[str, Any]:
    """Send a message to the session's relay, wherever it runs, and wait for its answer."""
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
    if answer["type"] == "relay.error":
        raise PlaygroundError(answer["message"], status=502)
    return answer


async def client_event_send(*, session: RealtimeSession, event: ClientEvent) -> tuple[str, int]:
    """Forward a validated client event; returns (event_id, seq)."""
    _require_live(session)
    wire = event_to_wire(event)
    answer = await relay_request(session=session, message={"type": "relay.client_event", "text": _dumps(wire)})
    return wire["event_id"], int(answer["seq"])


async def session_close(*, session: RealtimeSession, reason: str = "Closed by the user.") -> RealtimeSession:
    """End a live session; it stays as a recording."""
    _require_live(session)
    await relay_request(session=session, message={"type": "relay.close", "reason": reason})
    await session.arefresh_from_db()
    return session
