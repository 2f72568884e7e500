"""Teams: people who share presets and recordings, each with a role.

Roles, from most to least: an owner manages the team (members, invitations, its name);
a member also creates and changes the team's presets and recordings; a viewer only reads
(and may fork or run what they read: that changes nothing of the team's).
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    OWNER = "owner", "owner"
    MEMBER = "member", "member"
    VIEWER = "viewer", "viewer"


# Roles that may change a team's presets and recordings.
EDITOR_ROLES = (Role.OWNER, Role.MEMBER)


class Visibility(models.TextChoices):
    """Who sees a preset or a recording besides its owner. A share link is separate: it adds
    "anyone with the link" to either, and revoking it leaves the team's access as it was."""

    PRIVATE = "private", "private"
    TEAM = "team", "team"


class Team(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "joined_at"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="membership_team_user_unique")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.team_id} ({self.role})"


class Invitation(models.Model):
    """A link that makes whoever opens it (signed in) a member of the team with `role`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    # secrets.token_urlsafe(24): 192 random bits, the whole of the link's secret.
    token = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    accepted_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation to {self.team_id} as {self.role}"
