"""Presets: a named, tagged realtime set-up, with every saved version kept.

Onboarding presets are `builtin`: owned by no one (owner is null) and found by their `slug`.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from playground.teams.models import Visibility


class Preset(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Null only for builtin (onboarding) presets.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presets", null=True, blank=True
    )
    builtin = models.BooleanField(default=False)
    # Stable key of a builtin preset, so loading them again updates instead of duplicating.
    slug = models.SlugField(max_length=80, null=True, blank=True, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    # Shared with a team (see playground/teams/access.py for who may see and change it).
    team = models.ForeignKey("teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="presets")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    # "Anyone with the link": secrets.token_urlsafe(24) (192 bits); null when not shared. Revoking
    # clears it, and sharing again makes a new one, so an old link never comes back to life.
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    forked_from = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="forks")
    # Set while the preset is in the trash.
    deleted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["owner", "-updated_at"]), models.Index(fields=["builtin"])]

    def __str__(self) -> str:
        return self.name


class PresetVersion(models.Model):
    """One saved state of a preset's content; the latest one is the preset's current content."""

    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    # {"session": {...}, "response": {...}, "conversation": [...], "tool_outputs": {...}}
    content = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["preset", "number"]
        constraints = [models.UniqueConstraint(fields=["preset", "number"], name="preset_version_number_unique")]

    def __str__(self) -> str:
        return f"{self.preset_id} v{self.number}"
