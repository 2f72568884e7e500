"""The sessions API's schemas, and `session_out`: the API's view of a session (the presets and
recordings APIs answer with it too).

No `from __future__ import annotations` here: Ninja reads these annotations at run time.
"""

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Schema
from pydantic import field_validator

from playground.teams.access import can_change

from .events import SessionConfig
from .models import RealtimeSession


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
    client_dialect: Literal["yandex", "openai"] = Field(
        description="The dialect its client spoke: openai for `/v1/realtime` (translated both ways), "
        "yandex otherwise. The recorded events are the upstream's wire either way."
    )
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
        client_dialect=session.client_dialect,  # type: ignore[arg-type]
        state=session.state,
        state_reason=session.state_reason,
        config=session.config,
        last_seq=session.last_seq,
        created_at=session.created_at,
        ended_at=session.ended_at,
        ws_url=f"{scheme}://{host}/ws/sessions/{session.id}/",
        events_url=f"{request.scheme}://{host}/api/sessions/{session.id}/events",
    )


class EventsQuery(Schema):
    # seq is a PositiveIntegerField: past its range the database would fail instead of finding nothing.
    after: int = Field(
        0, ge=0, le=2_147_483_647, description="Only events with seq greater than this (seq starts at 1)."
    )
    limit: int = Field(1000, ge=1, le=10_000)
    trim: bool = Field(False, description="Shorten base64 audio, saying so in the frame's `trimmed` field.")
    audio: Literal["inline", "ref"] = Field(
        "inline",
        description=(
            "`inline`: audio as it crossed the wire, base64. `ref`: each audio value replaced by "
            '`{"$audio": side, "offset": n, "length": n}`, a byte range of `GET /api/sessions/{id}/audio/{side}`.'
        ),
    )


class UpstreamOut(Schema):
    name: str
    title: str
    available: bool
    default: bool
