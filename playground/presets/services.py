"""Writes for presets: create, save a new version, fork, trash, restore, import, load onboarding presets,
and open a session from one.

Each write runs in one transaction: bad input writes nothing.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from playground.db import db
from playground.errors import PlaygroundError
from playground.realtime import services as realtime_services
from playground.realtime.canned import CannedToolOutputs
from playground.realtime.events import ClientEvent, ClientEventError, SessionConfig, parse_client_event
from playground.realtime.models import RealtimeSession
from playground.realtime.runtime.state import LIVE_FIELDS
from playground.teams.access import can_change
from playground.teams.services import share_link_create, share_link_revoke, visibility_set

from . import selectors
from .models import Preset, PresetVersion
from .schemas import PresetContent, PresetFile, content_to_json, preset_file_parse


def _version_add(*, preset: Preset, content: dict[str, Any], user: Any) -> PresetVersion:
    last = PresetVersion.objects.filter(preset=preset).aggregate(n=Max("number"))["n"] or 0
    return PresetVersion.objects.create(preset=preset, number=last + 1, content=content, created_by=user)


def _may_change(*, user: Any, preset: Preset) -> None:
    """403 for a preset `user` may read but not change (builtin, or a team's they only view)."""
    if preset.builtin:
        raise PlaygroundError(
            f"“{preset.name}” is a builtin preset: read it or fork it (POST /api/presets/{preset.id}/fork).",
            status=403,
        )
    if not can_change(user=user, obj=preset):
        raise PlaygroundError(
            f"You may read “{preset.name}” but not change it: fork it (POST /api/presets/{preset.id}/fork).",
            status=403,
        )


def _writable(*, user: Any, preset: Preset) -> None:
    _may_change(user=user, preset=preset)
    if preset.deleted_at is not None:
        raise PlaygroundError(
            f"Preset {preset.id} is in the trash; restore it first (POST /api/presets/{preset.id}/restore).",
            status=409,
        )


@transaction.atomic
def preset_create(
    *,
    user: Any,
    name: str,
    description: str = "",
    tags: list[str] | None = None,
    content: PresetContent,
    builtin: bool = False,
    slug: str | None = None,
    forked_from: Preset | None = None,
    team_id: Any = None,
    visibility: str | None = None,
) -> Preset:
    """A new preset with its version 1 (in one of `user`'s teams when `team_id` is given)."""
    preset = Preset.objects.create(
        owner=None if builtin else user,
        builtin=builtin,
        slug=slug,
        name=name,
        description=description,
        tags=list(tags or []),
        forked_from=forked_from,
    )
    _version_add(preset=preset, content=content_to_json(content), user=None if builtin else user)
    if team_id is not None or visibility is not None:
        visibility_set(user=user, obj=preset, team_id=team_id, visibility=visibility)
    return preset


@transaction.atomic
def preset_edit(*, user: Any, preset: Preset, fields: dict[str, Any]) -> Preset:
    """Change name, description, tags, team or visibility without a new version of the content."""
    _writable(user=user, preset=preset)
    if "team" in fields or "visibility" in fields:
        visibility_set(user=user, obj=preset, team_id=fields.get("team"), visibility=fields.get("visibility"))
    for field in ("name", "description", "tags"):
        if field in fields:
            setattr(preset, field, fields[field])
    preset.save()
    return preset


@transaction.atomic
def preset_update(
    *,
    user: Any,
    preset: Preset,
    content: PresetContent,
    name: str | None = None,
    description: str | None = None,
    tags: list[str] | None = None,
) -> Preset:
    """Save changes: always a new version; name, description and tags change when given."""
    _writable(user=user, preset=preset)
    preset = Preset.objects.select_for_update().get(pk=preset.pk)
    if name is not None:
        preset.name = name
    if description is not None:
        preset.description = description
    if tags is not None:
        preset.tags = list(tags)
    preset.save()
    _version_add(preset=preset, content=content_to_json(content), user=user)
    return preset


@transaction.atomic
def preset_fork(*, user: Any, preset: Preset) -> Preset:
    """A copy owned by `user`; its version 1 is the source's current content."""
    source = selectors.preset_version_latest(preset=preset)
    note = f"Forked from “{preset.name}” ({preset.id}), version {source.number}."
    description = f"{preset.description}\n\n{note}" if preset.description else note
    fork = Preset.objects.create(
        owner=user, name=preset.name, description=description, tags=list(preset.tags or []), forked_from=preset
    )
    PresetVersion.objects.create(preset=fork, number=1, content=source.content, created_by=user)
    return fork


def preset_share(*, user: Any, preset: Preset) -> Preset:
    _writable(user=user, preset=preset)
    return share_link_create(obj=preset)


def preset_unshare(*, user: Any, preset: Preset) -> Preset:
    _may_change(user=user, preset=preset)
    return share_link_revoke(obj=preset)


def preset_trash(*, user: Any, preset: Preset) -> Preset:
    _writable(user=user, preset=preset)
    preset.deleted_at = timezone.now()
    preset.save(update_fields=["deleted_at", "updated_at"])
    return preset


def preset_restore(*, user: Any, preset: Preset) -> Preset:
    _may_change(user=user, preset=preset)
    preset.deleted_at = None
    preset.save(update_fields=["deleted_at", "updated_at"])
    return preset


def preset_import(*, user: Any, data: Any) -> Preset:
    """A new preset from a preset file (version 1, 2 or 3); a bad file raises 422 and creates nothing."""
    file: PresetFile = preset_file_parse(data)
    return preset_create(
        user=user, name=file.name, description=file.description, tags=list(file.tags), content=file.content
    )


@transaction.atomic
def presets_onboarding_load() -> tuple[int, int]:
    """Create or refresh the builtin onboarding presets by slug; returns (created, updated).

    Loading again changes nothing unless the definitions changed (then a new version is saved)."""
    from .onboarding import ONBOARDING_PRESETS

    created = updated = 0
    for spec in ONBOARDING_PRESETS:
        content = PresetContent.model_validate(spec["content"])
        preset = Preset.objects.filter(slug=spec["slug"]).first()
        if preset is None:
            preset_create(
                user=None,
                name=spec["name"],
                description=spec["description"],
                tags=spec["tags"],
                content=content,
                builtin=True,
                slug=spec["slug"],
            )
            created += 1
            continue
        changed = False
        for field in ("name", "description", "tags"):
            if getattr(preset, field) != spec[field]:
                setattr(preset, field, spec[field])
                changed = True
        if not preset.builtin or preset.owner_id is not None or preset.deleted_at is not None:
            preset.builtin, preset.owner, preset.deleted_at = True, None, None
            changed = True
        as_json = content_to_json(content)
        if selectors.preset_version_latest(preset=preset).content != as_json:
            _version_add(preset=preset, content=as_json, user=None)
            changed = True
        if changed:
            preset.save()
            updated += 1
    return created, updated


# --- sessions started from a preset --------------------------------------------------------------


def preset_session_setup(
    *, content: dict[str, Any], tool_outputs: dict[str, str] | None = None
) -> tuple[SessionConfig, CannedToolOutputs | None]:
    """The session config a preset version's content opens a session with, and the canned outputs
    that answer the model's calls to its tools (None when it has none); `tool_outputs` adds to and
    overrides the preset's (a check's own). 422 in words when the stored content is no longer valid
    (the schemas moved on since it was saved)."""
    try:
        config = SessionConfig.model_validate(content.get("session") or {})
    except ValueError as exc:
        raise PlaygroundError(
            f"The preset's content is not valid any more: {exc}", status=422, field="content"
        ) from exc
    outputs = {**(content.get("tool_outputs") or {}), **(tool_outputs or {})}
    canned = CannedToolOutputs(outputs=outputs, response=content.get("response") or None) if outputs else None
    return config, canned


def _opening_events(*, content: dict[str, Any], respond: bool) -> list[ClientEvent]:
    events = []
    response = content.get("response") or None
    try:
        for item in content.get("conversation") or []:
            events.append(parse_client_event({"type": "conversation.item.create", "item": item}))
        if respond and events:  # an empty opening conversation has nothing to answer
            events.append(
                parse_client_event({"type": "response.create", **({"response": response} if response else {})})
            )
    except ClientEventError as exc:  # stored content no longer valid: say so rather than fail half-way
        raise PlaygroundError(
            f"The preset's content is not valid any more: {exc}", status=422, field="content"
        ) from exc
    return events


async def preset_session_start(
    *,
    user: Any,
    preset: Preset,
    version: PresetVersion,
    upstream: str | None = None,
    team_id: Any = None,
    visibility: str | None = None,
    respond: bool = False,
    tool_outputs: dict[str, str] | None = None,
) -> RealtimeSession:
    """Open a live session with a preset version's session config, then create its opening conversation
    items (and, with `respond`, ask for the first response). The model's calls to tools the preset has
    canned outputs for (or `tool_outputs`, a check's own) are answered by the playground, followed by
    the next response.create."""
    config, canned = preset_session_setup(content=version.content, tool_outputs=tool_outputs)
    events = _opening_events(content=version.content, respond=respond)
    session = await realtime_services.session_create(
        user=user,
        upstream=upstream,
        session=config,
        preset=preset,
        preset_version=version.number,
        team_id=team_id,
        visibility=visibility,
        canned=canned,
    )
    for event in events:
        await realtime_services.client_event_send(session=session, event=event)
    await db(session.refresh_from_db, fields=LIVE_FIELDS)
    return session
