"""Pages: my teams, one team (members, roles, invitation links), and accepting an invitation.

Plain forms posting back to the page; each action is one service call. A team you are not in is 404,
an owner's action tried by anyone else is 403 (the same rule as the API).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import redirect, render

from playground.errors import PlaygroundError

from . import selectors, services
from .models import Role


@login_required
def team_list_page(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        name = request.POST.get("name", "").strip()
        if not name or len(name) > 100:
            messages.error(request, "Name: give the team a name of 1 to 100 characters.")
        else:
            team = services.team_create(user=request.user, name=name)
            return redirect("team", team_id=team.id)
    return render(request, "teams/list.html", {"teams": selectors.team_list(user=request.user)})


@login_required
def team_page(request: HttpRequest, team_id: str) -> HttpResponse:
    team = selectors.team_get(user=request.user, team_id=team_id)
    if team is None:
        raise Http404("No such team")
    is_owner = team.my_role == Role.OWNER  # type: ignore[attr-defined]
    if request.method == "POST":
        action = request.POST.get("action", "")
        username = request.POST.get("username", "")
        leaving = action == "remove" and username == request.user.get_username()
        if not (is_owner or leaving):
            return HttpResponseForbidden(f"Only an owner of {team.name} may do that.")
        try:
            if action == "rename":
                name = request.POST.get("name", "").strip()
                if not name or len(name) > 100:
                    raise PlaygroundError("Name: 1 to 100 characters.", status=422, field="name")
                services.team_rename(team=team, name=name)
            elif action == "role":
                role = request.POST.get("role", "")
                if role not in Role.values:
                    raise PlaygroundError(f"Role: one of {', '.join(Role.values)}.", status=422, field="role")
                services.membership_set_role(team=team, username=username, role=role)
            elif action == "remove":
                services.membership_remove(team=team, username=username)
                if leaving:
                    messages.info(request, f"You left {team.name}.")
                    return redirect("teams")
            elif action == "invite":
                role = request.POST.get("role", Role.MEMBER)
                if role not in Role.values:
                    raise PlaygroundError(f"Role: one of {', '.join(Role.values)}.", status=422, field="role")
                services.invitation_create(team=team, by=request.user, role=role)
            elif action == "revoke":
                services.invitation_revoke(team=team, invitation_id=request.POST.get("invitation", ""))
            elif action == "delete":
                services.team_delete(team=team)
                messages.info(request, f"Team {team.name} deleted; its presets and recordings are private again.")
                return redirect("teams")
            else:
                raise PlaygroundError(f"Unknown action {action!r}.", status=422, field="action")
        except PlaygroundError as exc:
            messages.error(request, exc.message)
        return redirect("team", team_id=team.id)
    context = {
        "team": team,
        "is_owner": is_owner,
        "members": selectors.membership_list(team=team),
        "invitations": selectors.invitation_list(team=team) if is_owner else [],
        "roles": Role.values,
    }
    return render(request, "teams/team.html", context)


@login_required
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    invitation = selectors.invitation_get(token=token)
    if invitation is None:
        raise Http404("This invitation link is unknown, revoked or expired.")
    if request.method == "POST":
        services.invitation_accept(invitation=invitation, user=request.user)
        return redirect("team", team_id=invitation.team_id)
    member = selectors.team_get(user=request.user, team_id=invitation.team_id)
    return render(request, "teams/invitation.html", {"invitation": invitation, "member": member})
