"""The Usage page: what it may show the viewer, as json_script data for static/playground/pages/usage.js, which
draws everything else from GET /api/usage and /api/budgets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from playground.teams.models import Membership, Role

from . import budgets, selectors


def _views(user: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """The page's "View" choices (everything I may see, only mine, each of my teams), and the usernames its
    "User" filter offers (me, and the members of the teams I own)."""
    memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))
    owned = [m.team_id for m in memberships if m.role == Role.OWNER]
    views: list[dict[str, Any]] = [
        {"value": "", "label": "Everyone's (admin)" if selectors.is_admin(user) else "Everything I can see"},
        {"value": "me", "label": "Only mine"},
    ]
    for m in memberships:
        note = "" if m.role == Role.OWNER else " (mine in it)"
        views.append({"value": f"team:{m.team_id}", "label": f"Team {m.team.name}{note}", "role": m.role})
    names = {user.get_username()}
    names.update(Membership.objects.filter(team_id__in=owned).values_list("user__username", flat=True))
    return views, sorted(names)


def usage_page_data(user: Any) -> dict[str, Any]:
    views, usernames = _views(user)
    today = timezone.now().astimezone(dt.UTC).date()
    budget_teams = selectors.teams_for_budgets(user=user)
    members = {str(team_id): sorted(names) for team_id, names in _members_by_team([t.pk for t in budget_teams]).items()}
    return {
        "me": user.get_username(),
        "isAdmin": selectors.is_admin(user),
        "views": views,
        "usernames": usernames,
        "currency": str(settings.PLAYGROUND_PRICES.get("currency", "")),
        "today": today.isoformat(),
        "monthStart": today.replace(day=1).isoformat(),
        # Where this viewer may set budgets: the teams they own (all, for admins) with their members.
        "budgetTeams": [{"id": str(t.pk), "name": t.name, "members": members.get(str(t.pk), [])} for t in budget_teams],
    }


def _members_by_team(team_ids: list[Any]) -> dict[Any, list[str]]:
    out: dict[Any, list[str]] = {}
    for team_id, name in Membership.objects.filter(team_id__in=team_ids).values_list("team_id", "user__username"):
        out.setdefault(team_id, []).append(name)
    return out


def budget_notices(*, user: Any, team_id: Any) -> list[dict[str, str]]:
    """The budgets a session of `user` in `team_id` counts against that are past their alert or used up, in
    words: the console shows them when it opens (live sessions also hear a crossing as it happens)."""
    now = timezone.now()
    out = []
    for budget in selectors.budgets_binding(user_id=user.pk, team_id=team_id):
        status = selectors.budget_status(budget, now=now)
        if status.state == "alert":
            out.append({"state": "alert", "message": budgets.alert_words(status)})
        elif status.state == "exceeded":
            words = f"{budgets.whose(budget, user_id=user.pk)} is used up: {budgets.spent_words(status)} this month."
            out.append({"state": "exceeded", "message": words})
    return out


@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    return render(request, "usage/usage.html", {"page_data": usage_page_data(request.user)})
