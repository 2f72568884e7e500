"""Writes for teams: create, rename, delete; roles; invitation links."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from playground.errors import PlaygroundError

from .models import EDITOR_ROLES, Invitation, Membership, Role, Team, Visibility


def team_create(*, user: Any, name: str) -> Team:
    """A new team; its creator is its first owner."""
    with transaction.atomic():
        team = Team.objects.create(name=name)
        Membership.objects.create(team=team, user=user, role=Role.OWNER)
    return team


def team_rename(*, team: Team, name: str) -> Team:
    team.name = name
    team.save(update_fields=["name"])
    return team


def team_delete(*, team: Team) -> None:
    """The team goes; its presets and recordings stay with their owners, private again."""
    team.delete()


def _membership(team: Team, username: str) -> Membership:
    membership = Membership.objects.filter(team=team, user__username=username).select_related("user").first()
    if membership is None:
        raise PlaygroundError(f"{username} is not a member of {team.name}.", status=404, field="username")
    return membership


def _keep_an_owner(team: Team, membership: Membership) -> None:
    if membership.role == Role.OWNER and Membership.objects.filter(team=team, role=Role.OWNER).count() == 1:
        raise PlaygroundError(
            f"{membership.user.get_username()} is the last owner of {team.name}: make someone else owner first.",
            status=409,
        )


def membership_set_role(*, team: Team, username: str, role: str) -> Membership:
    with transaction.atomic():
        membership = _membership(team, username)
        if role != Role.OWNER:
            _keep_an_owner(team, membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


def membership_remove(*, team: Team, username: str) -> None:
    with transaction.atomic():
        membership = _membership(team, username)
        _keep_an_owner(team, membership)
        membership.delete()


def invitation_create(*, team: Team, by: Any, role: str, days: int = 7) -> Invitation:
    return Invitation.objects.create(
        team=team,
        token=secrets.token_urlsafe(24),
        role=role,
        created_by=by,
        expires_at=timezone.now() + timedelta(days=days),
    )


def invitation_revoke(*, team: Team, invitation_id: Any) -> None:
    try:
        pk = uuid.UUID(str(invitation_id))
    except ValueError:  # a malformed id is simply not found (UUIDField would raise it as a 500)
        raise PlaygroundError(f"No open invitation {invitation_id}.", status=404) from None
    updated = Invitation.objects.filter(team=team, pk=pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    if not updated:
        raise PlaygroundError(f"No open invitation {invitation_id}.", status=404)


def invitation_accept(*, invitation: Invitation, user: Any) -> Membership:
    """Join the team with the invitation's role; someone already in it keeps the role they have."""
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            team=invitation.team, user=user, defaults={"role": invitation.role}
        )
        if created:
            Invitation.objects.filter(pk=invitation.pk).update(accepted_count=F("accepted_count") + 1)
    return membership


# Sharing, the same for presets and recordings (both have owner, team, visibility, share_token).


def share_link_create(*, obj: Any) -> Any:
    """Share by link; an object already shared keeps its link."""
    if not obj.share_token:
        obj.share_token = secrets.token_urlsafe(24)
        obj.save(update_fields=["share_token"])
    return obj


def share_link_revoke(*, obj: Any) -> Any:
    """The link stops working at once; sharing again makes a new one."""
    obj.share_token = None
    obj.save(update_fields=["share_token"])
    return obj


def sharing_target(*, user: Any, team_id: Any, visibility: str | None) -> tuple[Team | None, str]:
    """Check where `user` may put an object: (team or None, visibility). Raises 422/403 naming the field.

    A team given without a visibility makes it visible to the team; no team makes it private."""
    team = None
    if team_id is not None:
        membership = Membership.objects.filter(team_id=team_id, user=user).select_related("team").first()
        if membership is None:
            raise PlaygroundError(f"You are in no team {team_id}.", status=422, field="team")
        if membership.role not in EDITOR_ROLES:
            raise PlaygroundError(f"Viewers of {membership.team.name} cannot share into it.", status=403, field="team")
        team = membership.team
    visibility = visibility or (Visibility.TEAM if team else Visibility.PRIVATE)
    if visibility == Visibility.TEAM and team is None:
        raise PlaygroundError("Visibility “team” needs a team.", status=422, field="visibility")
    return team, visibility


def visibility_set(*, user: Any, obj: Any, team_id: Any, visibility: str | None) -> Any:
    """Put `obj` in one of `user`'s teams (or none) and say who sees it. Only its owner may."""
    if obj.owner_id != user.pk:
        raise PlaygroundError("Only its owner can change who sees it.", status=403, field="visibility")
    obj.team, obj.visibility = sharing_target(user=user, team_id=team_id, visibility=visibility)
    obj.save(update_fields=["team", "visibility"])
    return obj
