"""REST: live sessions, their client events and their recordings.

No `from __future__ import annotations` here: Ninja reads the body schema of
each generated client-event view from its real annotations.
"""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Query, Router, Schema, Status
from pydantic import field_validator

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.teams.access import can_change

from . import selectors, services
from .events import CLIENT_EVENTS, ClientEvent, SessionConfig
from .follow import Follower, GapNotRecorded
from .frames import frames_text, session_group
from .layers import channel_done
from .models import RealtimeSession
from .upstreams import UPSTREAMS

router = Router(auth=api_auth, tags=["sessions"])

# When an SSE stream stops by itself: the events that end the exchange a client event starts.
SSE_END_TYPES: dict[str, frozenset[str]] = {
    "session.update": frozenset({"session.updated"}),
    "input_audio_buffer.commit": frozenset({"input_audio_buffer.committed"}),
    "input_audio_buffer.clear": frozenset({"input_audio_buffer.cleared"}),
    "conversation.item.create": frozenset({"conversation.item.done", "conversation.item.created"}),
    "conversation.item.retrieve": frozenset({"conversation.item.retrieved"}),
    "conversation.item.truncate": frozenset({"conversation.item.truncated"}),
    "conversation.item.delete": frozenset({"conversation.item.deleted"}),
    "output_audio_buffer.clear": frozenset({"output_audio_buffer.cleared"}),
}
SSE_ALWAYS_END = frozenset({"response.done", "error"})
SSE_IDLE_S = 30.0


class EmulatorOptions(Schema):
    pace: float | None = Field(None, ge=0, le=100_000, description="events per second while streaming (0: unpaced)")
    lifetime: float | None = Field(None, gt=0, le=3600, description="seconds until the emulator ends the session")
    stamp: bool = Field(False, description="benchmarks: every event carries `x_emulator_sent_at`, its send time")


class SessionIn(Schema):
    upstream: Literal["yandex", "emulator"] | None = Field(
        None, description="Default: yandex when configured, else the emulator."
    )
    session: SessionConfig | None = Field(None, description="Initial config, sent as session.update once connected.")
    emulator: EmulatorOptions | None = None
    team: uuid.UUID | None = Field(None, description="Share the recording with one of my teams.")
    visibility: Literal["private", "team"] | None = Field(None, description="Default: team when `team` is given.")


class SessionEditIn(Schema):
    team: uuid.UUID | None = Field(None, description="One of my teams, or null for none.")
    visibility: Literal["private", "team"] | None = Field(None, description="Default: team when `team` is given.")


class SessionListQuery(Schema):
    state: Literal["connecting", "live", "ended", "interrupted", "failed"] | None = None
    preset: uuid.UUID | None = Field(None, description="Started from this preset.")
    user: str | None = Field(None, description="Owner's username.")
    team: uuid.UUID | None = None
    since: datetime | None = Field(None, description="Created at or after (ISO 8601).")
    until: datetime | None = Field(None, description="Created before (ISO 8601).")
    limit: int = Field(100, ge=1, le=1000)

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        # Any offset Python accepts (up to ±24 h) is fine to a person; PostgreSQL refuses beyond ±15:59.
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)


class RefOut(Schema):
    id: str
    name: str


class PresetRefOut(RefOut):
    version: int | None


class SessionOut(Schema):
    id: str
    owner: str
    upstream: str
    team: RefOut | None
    visibility: Literal["private", "team"]
    preset: PresetRefOut | None
    # Null unless shared by link; shown only to those who may change the session.
    share_url: str | None
    can_change: bool
    state: str
    state_reason: str
    config: dict[str, Any]
    last_seq: int
    created_at: datetime
    ended_at: datetime | None
    ws_url: str
    events_url: str


class ClientEventAck(Schema):
    event_id: str
    seq: int


class FrameOut(Schema):
    seq: int
    direction: Literal["client", "server", "playground"]
    ts: float
    event: dict[str, Any] | None = None
    notice: dict[str, Any] | None = None
    trimmed: dict[str, Any] | None = None


class ErrorOut(Schema):
    detail: str
    field: str | None = None
    errors: list[dict[str, str]] | None = None
    valid_types: list[str] | None = None


def session_out(request: HttpRequest, session: RealtimeSession) -> SessionOut:
    """The API's view of a session (the presets router answers with it too)."""
    scheme = "wss" if request.is_secure() else "ws"
    host = request.get_host()
    user = getattr(request, "auth", None)
    changeable = bool(user and user.is_authenticated and can_change(user=user, obj=session))
    preset = session.preset
    return SessionOut(
        id=str(session.id),
        owner=session.owner.get_username(),
        upstream=session.upstream,
        team=RefOut(id=str(session.team.id), name=session.team.name) if session.team else None,
        visibility=session.visibility,  # type: ignore[arg-type]
        preset=PresetRefOut(id=str(preset.id), name=preset.name, version=session.preset_version) if preset else None,
        share_url=request.build_absolute_uri(f"/s/r/{session.share_token}/")
        if changeable and session.share_token
        else None,
        can_change=changeable,
        state=session.state,
        state_reason=session.state_reason,
        config=session.config,
        last_seq=session.last_seq,
        created_at=session.created_at,
        ended_at=session.ended_at,
        ws_url=f"{scheme}://{host}/ws/sessions/{session.id}/",
        events_url=f"{request.scheme}://{host}/api/sessions/{session.id}/events",
    )


def _user(request: HttpRequest) -> Any:
    """Who the API auth resolved (token or cookie)."""
    return request.auth  # type: ignore[attr-defined]


async def session_for_request(request: HttpRequest, session_id: str, *, change: bool = False) -> RealtimeSession:
    """A session the caller may see, or 404 (one they may not see is not found either).

    With `change`, one they may see but not change (a team's, as a viewer) is 403."""
    session = await db(selectors.session_get, user=_user(request), session_id=session_id)
    if session is None:
        raise PlaygroundError(f"No session {session_id}.", status=404)
    if change:
        services.session_may_change(user=_user(request), session=session)
    return session


@router.post("/sessions", response={201: SessionOut, 422: ErrorOut, 429: ErrorOut, 502: ErrorOut})
async def session_create(request: HttpRequest, payload: SessionIn) -> Status[SessionOut]:
    """Open a live session on an upstream; its events stream on `ws_url`."""
    session = await services.session_create(
        user=_user(request),
        upstream=payload.upstream,
        session=payload.session,
        options=payload.emulator.model_dump(exclude_none=True) if payload.emulator else None,
        team_id=payload.team,
        visibility=payload.visibility,
    )
    return Status(201, session_out(request, session))


@router.get("/sessions", response={200: list[SessionOut], 422: ErrorOut})
async def session_list(request: HttpRequest, query: Query[SessionListQuery]) -> list[SessionOut]:
    """Sessions I may see (mine and my teams'), newest first; each is also a recording.

    Filter by `state`, `preset`, `user` (owner), `team`, and creation time `since`/`until`."""
    await db(services.sessions_mark_stale)
    sessions = await db(
        selectors.session_list,
        user=_user(request),
        state=query.state,
        preset_id=query.preset,
        owner=query.user,
        team_id=query.team,
        since=query.since,
        until=query.until,
        limit=query.limit,
    )
    return [session_out(request, s) for s in sessions]


@router.get("/sessions/{session_id}", response={200: SessionOut, 404: ErrorOut})
async def session_detail(request: HttpRequest, session_id: str) -> SessionOut:
    return session_out(request, await session_for_request(request, session_id))


@router.post("/sessions/{session_id}/close", response={200: SessionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
async def session_close(request: HttpRequest, session_id: str) -> SessionOut:
    """End a live session: the upstream connection closes, the recording stays."""
    session = await services.session_close(session=await session_for_request(request, session_id, change=True))
    return session_out(request, session)


@router.post(
    "/sessions/{session_id}/resume",
    response={200: SessionOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 429: ErrorOut, 502: ErrorOut},
)
async def session_resume(request: HttpRequest, session_id: str) -> SessionOut:
    """Resume an interrupted session (its worker stopped, or the upstream ended it at its time limit).

    Opens a new upstream connection for the same session: seq goes on from the recording, the latest
    settings and the conversation are replayed from it (recorded as client events), and watchers
    keep receiving where they are. 409 for a session that was closed, failed or is live."""
    session = await session_for_request(request, session_id)
    return session_out(request, await services.session_resume(user=_user(request), session=session))


@router.patch("/sessions/{session_id}", response={200: SessionOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
async def session_edit(request: HttpRequest, session_id: str, payload: SessionEditIn) -> SessionOut:
    """Change who sees the recording: a team of mine (`visibility` team) or only me (private)."""
    session = await session_for_request(request, session_id)
    await db(
        services.session_edit, user=_user(request), session=session, team_id=payload.team, visibility=payload.visibility
    )
    return await _reloaded(request, session)


@router.delete("/sessions/{session_id}", response={204: None, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
async def session_delete(request: HttpRequest, session_id: str) -> Status[None]:
    """Delete the recording with all its events and audio (a live session must be closed first)."""
    session = await session_for_request(request, session_id)
    await db(services.session_delete, user=_user(request), session=session)
    return Status(204, None)


@router.post("/sessions/{session_id}/share", response={200: SessionOut, 403: ErrorOut, 404: ErrorOut})
async def session_share(request: HttpRequest, session_id: str) -> SessionOut:
    """Share the recording by link (`share_url`): anyone with it can replay and export it, read-only."""
    session = await session_for_request(request, session_id)
    await db(services.session_share, user=_user(request), session=session)
    return await _reloaded(request, session)


@router.delete("/sessions/{session_id}/share", response={200: SessionOut, 403: ErrorOut, 404: ErrorOut})
async def session_unshare(request: HttpRequest, session_id: str) -> SessionOut:
    """Revoke the link: it stops working at once."""
    session = await session_for_request(request, session_id)
    await db(services.session_unshare, user=_user(request), session=session)
    return await _reloaded(request, session)


async def _reloaded(request: HttpRequest, session: RealtimeSession) -> SessionOut:
    fresh = await db(selectors.session_get, user=_user(request), session_id=session.id)
    assert fresh is not None
    return session_out(request, fresh)


async def shared_session(token: str) -> RealtimeSession:
    """A recording shared by link, or 404."""
    session = await db(selectors.session_get_by_share_token, token=token)
    if session is None:
        raise PlaygroundError("This share link is unknown or was revoked.", status=404)
    return session


@router.get("/shared/sessions/{token}", response={200: SessionOut, 404: ErrorOut}, auth=None)
async def shared_session_detail(request: HttpRequest, token: str) -> SessionOut:
    """A recording shared by link, read-only."""
    return session_out(request, await shared_session(token))


class EventsQuery(Schema):
    after: int = Field(0, ge=0, description="Only events with seq greater than this (seq starts at 1).")
    limit: int = Field(1000, ge=1, le=10_000)
    trim: bool = Field(False, description="Shorten base64 audio, saying so in the frame's `trimmed` field.")


@router.get("/sessions/{session_id}/events", response={200: list[FrameOut], 404: ErrorOut, 422: ErrorOut})
async def session_events(request: HttpRequest, session_id: str, query: Query[EventsQuery]) -> list[Any]:
    """Recorded events in seq order, a page at a time: ask again with `after` = the last seq."""
    return await _events(await session_for_request(request, session_id), query)


@router.get("/shared/sessions/{token}/events", response={200: list[FrameOut], 404: ErrorOut, 422: ErrorOut}, auth=None)
async def shared_session_events(request: HttpRequest, token: str, query: Query[EventsQuery]) -> list[Any]:
    """The events of a recording shared by link, as `GET /api/sessions/{id}/events`."""
    return await _events(await shared_session(token), query)


async def _events(session: RealtimeSession, query: EventsQuery) -> list[Any]:
    frames = await db(selectors.event_frames, session_id=session.id, after=query.after, limit=query.limit)
    trim_to = settings.PLAYGROUND_TRIM_BASE64_TO if query.trim else None
    return json.loads(frames_text(frames, trim_to=trim_to))


# --- client events: one endpoint (and one schema in /api/docs) per type --------------


def _wants_sse(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


async def _send_client_event(request: HttpRequest, session_id: str, event: ClientEvent) -> Any:
    session = await session_for_request(request, session_id, change=True)
    if not _wants_sse(request):
        event_id, seq = await services.client_event_send(session=session, event=event)
        return ClientEventAck(event_id=event_id, seq=seq)
    # Join the session's group before sending, so nothing that follows is missed.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = session_group(session.id)
    await layer.group_add(group, channel)
    try:
        event_id, seq = await services.client_event_send(session=session, event=event)
    except BaseException:
        await layer.group_discard(group, channel)
        raise
    ends = SSE_ALWAYS_END | SSE_END_TYPES.get(event.event_type, frozenset())
    response = StreamingHttpResponse(
        _sse_stream(session=session, channel=channel, group=group, after=seq - 1, ends=ends),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["X-Event-Id"] = event_id
    response["X-Seq"] = str(seq)
    return response


def _sse_message(frame: dict[str, Any]) -> str:
    body = frame.get("event") or frame.get("notice") or {}
    name = body.get("type") if "event" in frame else f"playground.{body.get('kind', 'notice')}"
    return (
        f"id: {frame['seq']}\nevent: {name}\ndata: {json.dumps(frame, separators=(',', ':'), ensure_ascii=False)}\n\n"
    )


async def _sse_stream(
    *, session: RealtimeSession, channel: str, group: str, after: int, ends: frozenset[str]
) -> AsyncIterator[str]:
    """Frames from the client event itself on, until one of `ends`, a session notice, or silence."""
    layer = get_channel_layer()
    follower = Follower(session_id=session.id, after=after)
    deadline = time.monotonic() + SSE_IDLE_S
    try:
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await layer.receive(channel)
            except TimeoutError:
                yield f": no event for {SSE_IDLE_S:.0f} s; stream closed\n\n"
                return
            if message.get("type") != "relay.frames":
                continue
            deadline = time.monotonic() + SSE_IDLE_S
            try:
                texts = await follower.live(message)
            except GapNotRecorded as exc:
                yield f"event: playground.gap\ndata: {json.dumps({'message': str(exc)})}\n\n"
                return
            for text in texts:
                for frame in json.loads(text):
                    yield _sse_message(frame)
                    body = frame.get("event")
                    if frame["direction"] == "playground" or (
                        frame["direction"] == "server" and body and body.get("type") in ends
                    ):
                        return
    finally:
        await layer.group_discard(group, channel)
        await channel_done(layer, channel)  # the pub/sub layer's subscription


def _client_event_view(event_type: str, schema: type[ClientEvent]) -> Any:
    async def view(request: HttpRequest, session_id: str, payload: Any) -> Any:
        return await _send_client_event(request, session_id, payload)

    view.__annotations__ = {"request": HttpRequest, "session_id": str, "payload": schema, "return": Any}
    view.__name__ = "client_event_" + event_type.replace(".", "_")
    view.__doc__ = (
        f"{(schema.__doc__ or '').strip()}\n\nThe body is Yandex's REST form of `{event_type}`: `type`, an optional "
        "`event_id` (generated when missing), then the event's own fields. Answers the `event_id` and the event's "
        "`seq` in the recording; with `Accept: text/event-stream`, streams the server events that follow as "
        "Server-Sent Events until `response.done` or `error`."
    )
    return view


for _type, _schema in CLIENT_EVENTS.items():
    router.add_api_operation(
        f"/sessions/{{session_id}}/client-events/{_type}",
        ["POST"],
        _client_event_view(_type, _schema),
        response={
            200: ClientEventAck,
            403: ErrorOut,
            404: ErrorOut,
            409: ErrorOut,
            413: ErrorOut,
            422: ErrorOut,
            503: ErrorOut,
        },
        summary=_type,
        operation_id="client_event_" + _type.replace(".", "_"),
        tags=["client events"],
    )


@router.post("/sessions/{session_id}/client-events/{event_type}", response={404: ErrorOut}, include_in_schema=False)
async def client_event_unknown(request: HttpRequest, session_id: str, event_type: str) -> Any:
    raise PlaygroundError(f"Unknown client event type {event_type!r}.", status=404, valid_types=list(CLIENT_EVENTS))


class UpstreamOut(Schema):
    name: str
    title: str
    available: bool
    default: bool


@router.get("/upstreams", response=list[UpstreamOut], tags=["sessions"])
async def upstream_list(request: HttpRequest) -> list[UpstreamOut]:
    """The upstreams this deployment offers (Yandex only when configured)."""
    from .upstreams import default_upstream_name

    default = default_upstream_name()
    return [
        UpstreamOut(name=u.name, title=u.title, available=u.is_available(), default=u.name == default)
        for u in UPSTREAMS.values()
    ]
