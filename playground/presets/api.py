"""REST: presets, their versions, diffs, forks, the trash, files, and sessions started from them.

Another user's preset is 404 everywhere; builtin presets are readable and forkable by all, never writable.
"""

import uuid
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Body, Field, Path, Query, Router, Schema, Status

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.realtime.schemas import SessionOut, session_out
from playground.schemas import ErrorOut
from playground.teams.access import can_change

from . import selectors, services
from .code import preset_code
from .models import Preset, PresetVersion
from .schemas import Name, PresetContent, Tag

router = Router(auth=api_auth, tags=["presets"])


VisibilityField = Field(
    None, description="private: only me; team: every member of `team` reads it, its owners and members change it."
)


class PresetIn(Schema):
    name: Name
    description: str = Field("", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    content: PresetContent = Field(default_factory=PresetContent)
    team: uuid.UUID | None = Field(None, description="One of my teams (where I am an owner or member).")
    visibility: Literal["private", "team"] | None = VisibilityField


class PresetEditIn(Schema):
    """Fields to change without a new version of the content; absent ones stay."""

    name: Name | None = None
    description: str | None = Field(None, max_length=10_000)
    tags: list[Tag] | None = Field(None, max_length=20)
    team: uuid.UUID | None = None
    visibility: Literal["private", "team"] | None = VisibilityField


class PresetUpdateIn(Schema):
    """Saving always makes a new version of `content`; name, description and tags change when given."""

    name: Name | None = None
    description: str | None = Field(None, max_length=10_000)
    tags: list[Tag] | None = Field(None, max_length=20)
    content: PresetContent


class TeamRefOut(Schema):
    id: str
    name: str


class PresetOut(Schema):
    id: str
    name: str
    description: str
    tags: list[str]
    builtin: bool
    owner: str | None
    team: TeamRefOut | None
    visibility: Literal["private", "team"]
    # Null unless shared by link; shown only to those who may change the preset.
    share_url: str | None
    can_change: bool
    slug: str | None
    forked_from: str | None
    version: int
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class PresetDetailOut(PresetOut):
    content: dict[str, Any]


class VersionOut(Schema):
    number: int
    created_at: datetime
    created_by: str | None


class VersionDetailOut(VersionOut):
    content: dict[str, Any]


class DiffOut(Schema):
    from_version: int = Field(..., alias="from")
    to_version: int = Field(..., alias="to")
    diff: str


# Version numbers are PositiveIntegerField: a bigger number would fail in the database, not be "not found".
VERSION_MAX = 2_147_483_647


class DiffQuery(Schema):
    from_: int = Field(..., alias="from", ge=1, le=VERSION_MAX)
    to: int = Field(..., ge=1, le=VERSION_MAX)


class ListQuery(Schema):
    tag: str | None = None
    trashed: bool = Field(False, description="List my trash instead.")


class CodeOut(Schema):
    lang: Literal["openai", "websockets", "curl"]
    filename: str
    code: str


class CodeQuery(Schema):
    lang: Literal["openai", "websockets", "curl"] = Field(
        "openai",
        description="openai: Python with the openai SDK, to Yandex; websockets: Python with websockets only, to "
        "Yandex; curl: bash with curl, through this playground's REST API.",
    )


class PresetSessionIn(Schema):
    upstream: Literal["yandex", "emulator"] | None = Field(
        None, description="Default: yandex when configured, else the emulator."
    )
    respond: bool = Field(
        False,
        description="After the opening conversation (if any), send response.create with the preset's response "
        "overrides, so its first answer comes at once.",
    )
    team: uuid.UUID | None = Field(None, description="Share the recording with one of my teams.")
    visibility: Literal["private", "team"] | None = None


def _user(request: HttpRequest) -> Any:
    return getattr(request, "auth", None)


def share_url(request: HttpRequest, prefix: str, token: str | None) -> str | None:
    return request.build_absolute_uri(f"/s/{prefix}/{token}/") if token else None


def team_ref(team: Any) -> dict[str, str] | None:
    return {"id": str(team.id), "name": team.name} if team else None


def _preset_out(request: HttpRequest, preset: Preset, latest: PresetVersion | int) -> dict[str, Any]:
    user = _user(request)
    changeable = bool(user and user.is_authenticated and can_change(user=user, obj=preset))
    return {
        "id": str(preset.id),
        "name": preset.name,
        "description": preset.description,
        "tags": list(preset.tags or []),
        "builtin": preset.builtin,
        "owner": preset.owner.get_username() if preset.owner else None,
        "team": team_ref(preset.team),
        "visibility": preset.visibility,
        "share_url": share_url(request, "p", preset.share_token) if changeable else None,
        "can_change": changeable,
        "slug": preset.slug,
        "forked_from": str(preset.forked_from_id) if preset.forked_from_id else None,
        "version": latest if isinstance(latest, int) else latest.number,
        "created_at": preset.created_at,
        "updated_at": preset.updated_at,
        "deleted_at": preset.deleted_at,
    }


def _detail(request: HttpRequest, preset: Preset) -> dict[str, Any]:
    latest = selectors.preset_version_latest(preset=preset)
    return {**_preset_out(request, preset, latest), "content": latest.content}


def _version_out(version: PresetVersion, *, content: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "number": version.number,
        "created_at": version.created_at,
        "created_by": version.created_by.get_username() if version.created_by else None,
    }
    if content:
        out["content"] = version.content
    return out


async def _get(request: HttpRequest, preset_id: str) -> Preset:
    preset = await db(selectors.preset_get, user=_user(request), preset_id=preset_id)
    if preset is None:
        raise PlaygroundError(f"No preset {preset_id}.", status=404)
    return preset


def _list(request: HttpRequest, query: ListQuery) -> list[dict[str, Any]]:
    presets = selectors.preset_list(user=_user(request), tag=query.tag, trashed=query.trashed)
    if query.trashed:
        presets = [p for p in presets if not p.builtin]
    return [_preset_out(request, p, p.latest_number) for p in presets]  # type: ignore[attr-defined]


@router.post("/presets", response={201: PresetDetailOut, 422: ErrorOut})
async def preset_create(request: HttpRequest, payload: PresetIn) -> Status[Any]:
    """Save a new preset; its content becomes version 1."""

    def work() -> dict[str, Any]:
        preset = services.preset_create(
            user=_user(request),
            name=payload.name,
            description=payload.description,
            tags=payload.tags,
            content=payload.content,
            team_id=payload.team,
            visibility=payload.visibility,
        )
        return _detail(request, preset)

    return Status(201, await db(work))


@router.get("/presets", response={200: list[PresetOut], 422: ErrorOut})
async def preset_list(request: HttpRequest, query: Query[ListQuery]) -> list[Any]:
    """My presets, my teams' and the builtin ones, newest first (the trash only with `trashed=true`); `tag` filters."""
    return await db(_list, request, query)


@router.post("/presets/import", response={201: PresetDetailOut, 422: ErrorOut})
async def preset_import(request: HttpRequest, payload: dict[str, Any] = Body(...)) -> Status[Any]:  # noqa: B008
    """A new preset from a preset file (`format` realtime-playground.preset, version 1 or 2).

    A bad file is refused with the field at fault, and nothing is created."""

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_import(user=_user(request), data=payload))

    return Status(201, await db(work))


@router.get("/presets/{preset_id}", response={200: PresetDetailOut, 404: ErrorOut})
async def preset_detail(request: HttpRequest, preset_id: str) -> Any:
    """The preset with its current content (its latest version)."""
    preset = await _get(request, preset_id)
    return await db(_detail, request, preset)


@router.put(
    "/presets/{preset_id}", response={200: PresetDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
async def preset_update(request: HttpRequest, preset_id: str, payload: PresetUpdateIn) -> Any:
    """Save changes: a new version every time (all versions are kept)."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        updated = services.preset_update(
            user=_user(request),
            preset=preset,
            content=payload.content,
            name=payload.name,
            description=payload.description,
            tags=payload.tags,
        )
        return _detail(request, updated)

    return await db(work)


@router.patch(
    "/presets/{preset_id}", response={200: PresetDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
async def preset_edit(request: HttpRequest, preset_id: str, payload: PresetEditIn) -> Any:
    """Rename, retag, or change who sees it (team, visibility): no new version of the content."""
    preset = await _get(request, preset_id)
    # null name, description or tags means "leave it", as in PUT (the columns are NOT NULL: it was a 500);
    # null team still means "no team".
    fields = {
        k: v for k, v in payload.model_dump(exclude_unset=True).items() if v is not None or k in ("team", "visibility")
    }

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_edit(user=_user(request), preset=preset, fields=fields))

    return await db(work)


@router.post("/presets/{preset_id}/share", response={200: PresetDetailOut, 403: ErrorOut, 404: ErrorOut})
async def preset_share(request: HttpRequest, preset_id: str) -> Any:
    """Share by link: anyone with `share_url` reads it (signed in or not) and may fork it."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_share(user=_user(request), preset=preset))

    return await db(work)


@router.delete("/presets/{preset_id}/share", response={200: PresetDetailOut, 403: ErrorOut, 404: ErrorOut})
async def preset_unshare(request: HttpRequest, preset_id: str) -> Any:
    """Revoke the link: it stops working at once."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_unshare(user=_user(request), preset=preset))

    return await db(work)


@router.delete("/presets/{preset_id}", response={200: PresetOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
async def preset_trash(request: HttpRequest, preset_id: str) -> Any:
    """Move the preset to the trash (restore it with POST …/restore)."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        p = services.preset_trash(user=_user(request), preset=preset)
        return _preset_out(request, p, selectors.preset_version_latest(preset=p))

    return await db(work)


@router.post("/presets/{preset_id}/restore", response={200: PresetOut, 403: ErrorOut, 404: ErrorOut})
async def preset_restore(request: HttpRequest, preset_id: str) -> Any:
    """Take the preset out of the trash."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        p = services.preset_restore(user=_user(request), preset=preset)
        return _preset_out(request, p, selectors.preset_version_latest(preset=p))

    return await db(work)


@router.get("/presets/{preset_id}/versions", response={200: list[VersionOut], 404: ErrorOut})
async def preset_version_list(request: HttpRequest, preset_id: str) -> Any:
    """Every saved version, oldest first."""
    preset = await _get(request, preset_id)
    versions = await db(selectors.preset_version_list, preset=preset)
    return [_version_out(v, content=False) for v in versions]


@router.get("/presets/{preset_id}/versions/{number}", response={200: VersionDetailOut, 404: ErrorOut, 422: ErrorOut})
async def preset_version_detail(
    request: HttpRequest, preset_id: str, number: int = Path(..., ge=1, le=VERSION_MAX)
) -> Any:
    preset = await _get(request, preset_id)
    version = await db(selectors.preset_version_get, preset=preset, number=number)
    if version is None:
        raise PlaygroundError(f"Preset {preset_id} has no version {number}.", status=404, field="number")
    return _version_out(version, content=True)


@router.get("/presets/{preset_id}/diff", response={200: DiffOut, 404: ErrorOut, 422: ErrorOut}, by_alias=True)
async def preset_diff(request: HttpRequest, preset_id: str, query: Query[DiffQuery]) -> Any:
    """A unified line diff of two versions' content as pretty JSON (`from` → `to`)."""
    preset = await _get(request, preset_id)
    older = await db(selectors.preset_version_get, preset=preset, number=query.from_)
    newer = await db(selectors.preset_version_get, preset=preset, number=query.to)
    for version, name, number in ((older, "from", query.from_), (newer, "to", query.to)):
        if version is None:
            raise PlaygroundError(f"Preset {preset_id} has no version {number}.", status=404, field=name)
    assert older is not None and newer is not None
    diff = await db(selectors.preset_version_diff, older=older, newer=newer)
    return {"from": older.number, "to": newer.number, "diff": diff}


@router.post("/presets/{preset_id}/fork", response={201: PresetDetailOut, 404: ErrorOut})
async def preset_fork(request: HttpRequest, preset_id: str) -> Status[Any]:
    """Copy a preset (mine or builtin) into a new one of mine; version 1 is the source's current content."""
    preset = await _get(request, preset_id)

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_fork(user=_user(request), preset=preset))

    return Status(201, await db(work))


@router.get("/presets/{preset_id}/export", response={200: dict[str, Any], 404: ErrorOut})
async def preset_export(request: HttpRequest, preset_id: str) -> Any:
    """The preset as a file (docs/preset-format.md, version 2); import it with POST /api/presets/import."""
    preset = await _get(request, preset_id)
    return await db(selectors.preset_export, preset=preset)


def _code(request: HttpRequest, preset: Preset, lang: str) -> dict[str, str]:
    latest = selectors.preset_version_latest(preset=preset)
    return preset_code(
        name=preset.name, content=latest.content, lang=lang, playground_url=request.build_absolute_uri("/")
    )


@router.get("/presets/{preset_id}/code", response={200: CodeOut, 404: ErrorOut, 422: ErrorOut})
async def preset_code_view(request: HttpRequest, preset_id: str, query: Query[CodeQuery]) -> Any:
    """ "View code": the preset as a runnable script. Secrets are never in it: it reads them from the
    environment (YC_API_KEY or YC_IAM_TOKEN and YC_FOLDER_ID; PLAYGROUND_TOKEN for curl)."""
    preset = await _get(request, preset_id)
    return await db(_code, request, preset, query.lang)


@router.post(
    "/presets/{preset_id}/sessions",
    response={201: SessionOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut, 429: ErrorOut, 502: ErrorOut},
)
async def preset_session_create(request: HttpRequest, preset_id: str, payload: PresetSessionIn) -> Status[Any]:
    """Open a live session with the preset's session config, then create its opening conversation items
    (and, with `respond`, ask for the first response). The model's calls to tools the preset has canned
    outputs for are answered by the playground, followed by the next response.create."""
    preset = await _get(request, preset_id)
    session = await services.preset_session_start(
        user=_user(request),
        preset=preset,
        version=await db(selectors.preset_version_latest, preset=preset),
        upstream=payload.upstream,
        team_id=payload.team,
        visibility=payload.visibility,
        respond=payload.respond,
    )
    return Status(201, session_out(request, session))


# Shared by link: readable by anyone holding the link, signed in or not; forking needs an account.


async def _shared(token: str) -> Preset:
    preset = await db(selectors.preset_get_by_share_token, token=token)
    if preset is None:
        raise PlaygroundError("This share link is unknown or was revoked.", status=404)
    return preset


@router.get("/shared/presets/{token}", response={200: PresetDetailOut, 404: ErrorOut}, auth=None)
async def shared_preset_detail(request: HttpRequest, token: str) -> Any:
    """A preset shared by link, read-only."""
    return await db(_detail, request, await _shared(token))


@router.get("/shared/presets/{token}/export", response={200: dict[str, Any], 404: ErrorOut}, auth=None)
async def shared_preset_export(request: HttpRequest, token: str) -> Any:
    return await db(selectors.preset_export, preset=await _shared(token))


@router.get("/shared/presets/{token}/code", response={200: CodeOut, 404: ErrorOut, 422: ErrorOut}, auth=None)
async def shared_preset_code(request: HttpRequest, token: str, query: Query[CodeQuery]) -> Any:
    return await db(_code, request, await _shared(token), query.lang)


@router.post("/shared/presets/{token}/fork", response={201: PresetDetailOut, 404: ErrorOut})
async def shared_preset_fork(request: HttpRequest, token: str) -> Status[Any]:
    """Fork a preset shared by link into my workspace."""
    preset = await _shared(token)

    def work() -> dict[str, Any]:
        return _detail(request, services.preset_fork(user=_user(request), preset=preset))

    return Status(201, await db(work))
