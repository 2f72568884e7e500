"""Who may see and who may change a shared object (a preset or a recording).

Both carry `owner`, `team` and `visibility`. The rule, one for both:
- see: the owner, or any member of its team (any role) when its visibility is "team";
- change: the owner, or an owner/member of its team when its visibility is "team".
What you may not see is answered 404 (it does not exist for you); what you may see but
not change is answered 403.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, OuterRef, Q, QuerySet, Subquery

from .models import EDITOR_ROLES, Membership, Visibility

M = TypeVar("M", bound=Model)


def my_team_ids(*, user: Any) -> QuerySet[Membership, Any]:
    return Membership.objects.filter(user=user).values("team_id")


def visible_q(*, user: Any) -> Q:
    return Q(owner=user) | Q(visibility=Visibility.TEAM, team__in=my_team_ids(user=user))


def with_my_role(qs: QuerySet[M], *, user: Any) -> QuerySet[M]:
    """Each object carries `my_role`: the user's role in its team, or None (one query, no N+1)."""
    role = Membership.objects.filter(team=OuterRef("team"), user=user).values("role")[:1]
    return qs.annotate(my_role=Subquery(role))  # type: ignore[return-value]


def can_change(*, user: Any, obj: Any) -> bool:
    """For an object read through `with_my_role`."""
    if getattr(obj, "builtin", False):
        return False
    if obj.owner_id == user.pk:
        return True
    return obj.visibility == Visibility.TEAM and getattr(obj, "my_role", None) in EDITOR_ROLES
