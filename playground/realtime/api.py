"""REST: live sessions, their client events and their recordings.

No `from __future__ import annotations` here: Ninja reads the body schema of
each generated client-event view from its real annotations.
"""

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Query, Router, Status

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.schemas import ErrorOut

from . import selectors, services
from .events import CLIENT_EVENTS, ClientEvent
from .models import RealtimeSession
from .runtime.frames import frames_text
from .schemas import (
    ClientEventAck,
    EventsQuery,
    FrameOut,
    SessionEditIn,
    SessionIn,
    SessionListQuery,
    SessionOut,
    UpstreamOut,
    session_out,
)
from .sse import client_event_stream
from .upstreams import UPSTREAMS, default_upstream_name

router = Router(auth=api_auth, tags=["sessions"])


def _user(request: HttpRequest) -> Any:
    """Who the API auth resolved (token or cookie)."""
    return request.auth  # type: ignore[attr-defined]


async def session_for_request(request: HttpRequest, session_id: str, *, change: bool = False) -> RealtimeSession:
    """A session the caller may see, or 404 (one they may not see is not found either).

    With `change`, one they may see but not change (a team's, as a viewer) is 403."""
    session = await db(selectors.session_get_or_404, user=_user(request), session_id=session_id)
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


@router.get("/shared/sessions/{token}", response={200: SessionOut, 404: ErrorOut}, auth=None)
async def shared_session_detail(request: HttpRequest, token: str) -> SessionOut:
    """A recording shared by link, read-only."""
    return session_out(request, await db(selectors.session_shared_or_404, token=token))


@router.get("/sessions/{session_id}/events", response={200: list[FrameOut], 404: ErrorOut, 422: ErrorOut})
async def session_events(request: HttpRequest, session_id: str, query: Query[EventsQuery]) -> list[Any]:
    """Recorded events in seq order, a page at a time: ask again with `after` = the last seq."""
    return await _events(await session_for_request(request, session_id), query)


@router.get("/shared/sessions/{token}/events", response={200: list[FrameOut], 404: ErrorOut, 422: ErrorOut}, auth=None)
async def shared_session_events(request: HttpRequest, token: str, query: Query[EventsQuery]) -> list[Any]:
    """The events of a recording shared by link, as `GET /api/sessions/{id}/events`."""
    return await _events(await db(selectors.session_shared_or_404, token=token), query)


async def _events(session: RealtimeSession, query: EventsQuery) -> list[Any]:
    frames = await db(
        selectors.event_frames, session_id=session.id, after=query.after, limit=query.limit, audio=query.audio
    )
    trim_to = settings.PLAYGROUND_TRIM_BASE64_TO if query.trim else None
    return json.loads(frames_text(frames, trim_to=trim_to))


# --- client events: one endpoint (and one schema in /api/docs) per type --------------


def _wants_sse(request: HttpRequest) -> bool:
    return "text/event-stream" in request.headers.get("Accept", "")


async def _send_client_event(request: HttpRequest, session_id: str, event: ClientEvent) -> Any:
    session = await session_for_request(request, session_id, change=True)
    if _wants_sse(request):
        return await client_event_stream(session=session, event=event)
    event_id, seq = await services.client_event_send(session=session, event=event)
    return ClientEventAck(event_id=event_id, seq=seq)


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


@router.get("/upstreams", response=list[UpstreamOut], tags=["sessions"])
async def upstream_list(request: HttpRequest) -> list[UpstreamOut]:
    """The upstreams this deployment offers (Yandex only when configured)."""
    default = default_upstream_name()
    return [
        UpstreamOut(name=u.name, title=u.title, available=u.is_available(), default=u.name == default)
        for u in UPSTREAMS.values()
    ]
