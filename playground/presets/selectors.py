"""Reads for presets: what a user may see, their versions, diffs and exports."""

from __future__ import annotations

import difflib
import json
import uuid
from typing import Any

from django.db.models import Max, Q, QuerySet

from playground.teams.access import visible_q, with_my_role

from .models import Preset, PresetVersion
from .schemas import FILE_VERSION, FORMAT


def presets_visible(*, user: Any) -> QuerySet[Preset]:
    """Mine, my teams' (where shared with the team) and the builtin ones; each with `my_role`."""
    qs = Preset.objects.filter(visible_q(user=user) | Q(builtin=True)).select_related("owner", "team")
    return with_my_role(qs, user=user)


def preset_list(*, user: Any, tag: str | None = None, trashed: bool = False) -> list[Preset]:
    """My presets, my teams' and the builtin ones (not the trash unless `trashed`), newest first.

    Each carries `latest_number`, its current version number."""
    qs = (
        presets_visible(user=user)
        .filter(deleted_at__isnull=not trashed)
        .annotate(latest_number=Max("versions__number"))
    )
    presets: list[Preset] = list(qs)
    if tag:  # tags are a JSON list; filtered here so it works the same on SQLite and PostgreSQL
        presets = [p for p in presets if tag in (p.tags or [])]
    return presets


def preset_get(*, user: Any, preset_id: Any) -> Preset | None:
    """The preset if `user` may read it (theirs, their team's, or builtin); None otherwise."""
    try:
        pk = uuid.UUID(str(preset_id))
    except ValueError:
        return None
    return presets_visible(user=user).filter(pk=pk).first()


def preset_get_by_share_token(*, token: str) -> Preset | None:
    """A preset shared by link (not in the trash); None for an unknown or revoked token."""
    if not token:
        return None
    return Preset.objects.filter(share_token=token, deleted_at__isnull=True).select_related("owner", "team").first()


def preset_version_latest(*, preset: Preset) -> PresetVersion:
    version = PresetVersion.objects.filter(preset=preset).order_by("-number").select_related("created_by").first()
    assert version is not None, f"preset {preset.id} has no version"
    return version


def preset_for_model(*, user: Any, model: str) -> tuple[Preset, PresetVersion] | None:
    """The preset an OpenAI client's `model` names (its id, or a builtin's slug) if `user` may read it,
    with its latest version; None otherwise (the model is then the upstream's own)."""
    if not model:
        return None
    preset = preset_get(user=user, preset_id=model)
    if preset is None:
        preset = presets_visible(user=user).filter(slug=model, builtin=True, deleted_at__isnull=True).first()
    if preset is None:
        return None
    return preset, preset_version_latest(preset=preset)


def preset_version_list(*, preset: Preset) -> list[PresetVersion]:
    return list(PresetVersion.objects.filter(preset=preset).order_by("number").select_related("created_by"))


def preset_version_get(*, preset: Preset, number: int) -> PresetVersion | None:
    return PresetVersion.objects.filter(preset=preset, number=number).select_related("created_by").first()


def _pretty(content: dict[str, Any]) -> list[str]:
    return json.dumps(content, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def preset_version_diff(*, older: PresetVersion, newer: PresetVersion) -> str:
    """A unified line diff of two versions' pretty JSON."""
    lines = difflib.unified_diff(
        _pretty(older.content),
        _pretty(newer.content),
        fromfile=f"version {older.number}",
        tofile=f"version {newer.number}",
        lineterm="",
    )
    return "\n".join(lines)


def preset_export(*, preset: Preset) -> dict[str, Any]:
    """The preset's current content as a version-2 preset file."""
    version = preset_version_latest(preset=preset)
    return {
        "format": FORMAT,
        "version": FILE_VERSION,
        "name": preset.name,
        "description": preset.description,
        "tags": list(preset.tags or []),
        "content": version.content,
    }
