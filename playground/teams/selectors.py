"""Reads for teams: mine, one with my role, its members and open invitations."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import Count, OuterRef, Subquery
from django.utils import timezone

from .models import Invitation, Membership, Team


def _with_role(user: Any) -> Any:
    role = Membership.objects.filter(team=OuterRef("pk"), user=user).values("role")[:1]
    return Team.objects.annotate(my_role=Subquery(role), member_count=Count("memberships", distinct=True))


def team_list(*, user: Any) -> list[Team]:
    """The teams `user` belongs to, each with `my_role` and `member_count`."""
    return list(_with_role(user).filter(memberships__user=user).order_by("name"))


def team_get(*, user: Any, team_id: Any) -> Team | None:
    """The team with `my_role` if `user` belongs to it; None when missing or not theirs."""
    try:
        pk = uuid.UUID(str(team_id))
    except ValueError:
        return None
    return _with_role(user).filter(pk=pk, memberships__user=user).first()


def membership_list(*, team: Team) -> list[Membership]:
    return list(Membership.objects.filter(team=team).select_related("user").order_by("joined_at"))


def invitation_list(*, team: Team) -> list[Invitation]:
    """Invitations still usable: not revoked, not expired."""
    return list(
        Invitation.objects.filter(team=team, revoked_at__isnull=True, expires_at__gt=timezone.now()).order_by(
            "-created_at"
        )
    )


def invitation_get(*, token: str) -> Invitation | None:
    """A usable invitation by its link token (None when unknown, revoked or expired)."""
    return (
        Invitation.objects.filter(token=token, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("team")
        .first()
    )
