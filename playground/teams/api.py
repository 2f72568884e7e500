"""REST: teams, their members and roles, and invitation links.

A team you do not belong to is 404; what only a team's owner may do is 403 for its other members.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Field, Router, Schema, Status

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.schemas import ErrorOut

from . import selectors, services
from .models import Invitation, Role, Team

router = Router(auth=api_auth, tags=["teams"])

TeamName = Field(..., min_length=1, max_length=100)


class TeamIn(Schema):
    name: str = TeamName


class TeamOut(Schema):
    id: str
    name: str
    role: Literal["owner", "member", "viewer"]
    members: int


class MemberOut(Schema):
    username: str
    role: str = Field(..., description="owner, member or viewer")
    joined_at: datetime


class InvitationIn(Schema):
    role: Literal["member", "viewer", "owner"] = "member"
    expires_in_days: int = Field(7, ge=1, le=90)


class InvitationOut(Schema):
    id: str
    role: str
    url: str
    created_at: datetime
    expires_at: datetime
    accepted: int


class TeamDetailOut(TeamOut):
    member_list: list[MemberOut]
    # Only a team's owners see its invitation links (each one lets anybody in).
    invitations: list[InvitationOut]


class RoleIn(Schema):
    role: Literal["owner", "member", "viewer"]


class InvitationInfoOut(Schema):
    team: str
    role: str
    expires_at: datetime
    already_member: bool


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def invitation_url(request: HttpRequest, invitation: Invitation) -> str:
    return request.build_absolute_uri(f"/invite/{invitation.token}/")


def _team_out(team: Team) -> TeamOut:
    return TeamOut(id=str(team.id), name=team.name, role=team.my_role, members=team.member_count)  # type: ignore[attr-defined]


def _detail(request: HttpRequest, team: Team) -> TeamDetailOut:
    members = selectors.membership_list(team=team)
    invitations = selectors.invitation_list(team=team) if team.my_role == Role.OWNER else []  # type: ignore[attr-defined]
    return TeamDetailOut(
        **_team_out(team).model_dump(),
        member_list=[MemberOut(username=m.user.get_username(), role=m.role, joined_at=m.joined_at) for m in members],
        invitations=[
            InvitationOut(
                id=str(i.id),
                role=i.role,
                url=invitation_url(request, i),
                created_at=i.created_at,
                expires_at=i.expires_at,
                accepted=i.accepted_count,
            )
            for i in invitations
        ],
    )


async def _team(request: HttpRequest, team_id: str, *, owner: bool = False) -> Team:
    team = await db(selectors.team_get, user=_user(request), team_id=team_id)
    if team is None:
        raise PlaygroundError(f"No team {team_id}.", status=404)
    if owner and team.my_role != Role.OWNER:  # type: ignore[attr-defined]
        raise PlaygroundError(f"Only an owner of {team.name} may do that; you are a {team.my_role}.", status=403)  # type: ignore[attr-defined]
    return team


async def _reload(request: HttpRequest, team: Team) -> TeamDetailOut:
    fresh = await db(selectors.team_get, user=_user(request), team_id=team.id)
    assert fresh is not None
    return await db(_detail, request, fresh)


@router.get("/teams", response=list[TeamOut])
async def team_list(request: HttpRequest) -> list[TeamOut]:
    """The teams I belong to, with my role in each."""
    return [_team_out(t) for t in await db(selectors.team_list, user=_user(request))]


@router.post("/teams", response={201: TeamDetailOut, 422: ErrorOut})
async def team_create(request: HttpRequest, payload: TeamIn) -> Status[TeamDetailOut]:
    """A new team with me as its owner."""
    team = await db(services.team_create, user=_user(request), name=payload.name)
    return Status(201, await _reload(request, team))


@router.get("/teams/{team_id}", response={200: TeamDetailOut, 404: ErrorOut})
async def team_detail(request: HttpRequest, team_id: str) -> TeamDetailOut:
    return await db(_detail, request, await _team(request, team_id))


@router.patch("/teams/{team_id}", response={200: TeamDetailOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
async def team_rename(request: HttpRequest, team_id: str, payload: TeamIn) -> TeamDetailOut:
    team = await _team(request, team_id, owner=True)
    await db(services.team_rename, team=team, name=payload.name)
    return await _reload(request, team)


@router.delete("/teams/{team_id}", response={204: None, 403: ErrorOut, 404: ErrorOut})
async def team_delete(request: HttpRequest, team_id: str) -> Status[None]:
    """Delete the team. Its presets and recordings stay with their owners, private again."""
    team = await _team(request, team_id, owner=True)
    await db(services.team_delete, team=team)
    return Status(204, None)


@router.put(
    "/teams/{team_id}/members/{username}",
    response={200: TeamDetailOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
async def member_set_role(request: HttpRequest, team_id: str, username: str, payload: RoleIn) -> TeamDetailOut:
    team = await _team(request, team_id, owner=True)
    await db(services.membership_set_role, team=team, username=username, role=payload.role)
    return await _reload(request, team)


@router.delete("/teams/{team_id}/members/{username}", response={204: None, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
async def member_remove(request: HttpRequest, team_id: str, username: str) -> Status[None]:
    """Remove a member (owners), or leave the team (anyone, as themselves)."""
    leaving = username == _user(request).get_username()
    team = await _team(request, team_id, owner=not leaving)
    await db(services.membership_remove, team=team, username=username)
    return Status(204, None)


@router.post("/teams/{team_id}/invitations", response={201: InvitationOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
async def invitation_create(request: HttpRequest, team_id: str, payload: InvitationIn) -> Status[InvitationOut]:
    """An invitation link: whoever opens it signed in joins with `role`, until it expires or is revoked."""
    team = await _team(request, team_id, owner=True)
    inv = await db(
        services.invitation_create, team=team, by=_user(request), role=payload.role, days=payload.expires_in_days
    )
    out = InvitationOut(
        id=str(inv.id),
        role=inv.role,
        url=invitation_url(request, inv),
        created_at=inv.created_at,
        expires_at=inv.expires_at,
        accepted=0,
    )
    return Status(201, out)


@router.delete("/teams/{team_id}/invitations/{invitation_id}", response={204: None, 403: ErrorOut, 404: ErrorOut})
async def invitation_revoke(request: HttpRequest, team_id: str, invitation_id: str) -> Status[None]:
    team = await _team(request, team_id, owner=True)
    await db(services.invitation_revoke, team=team, invitation_id=invitation_id)
    return Status(204, None)


async def _invitation(token: str) -> Invitation:
    invitation = await db(selectors.invitation_get, token=token)
    if invitation is None:
        raise PlaygroundError("This invitation link is unknown, revoked or expired.", status=404)
    return invitation


@router.get("/invitations/{token}", response={200: InvitationInfoOut, 404: ErrorOut})
async def invitation_info(request: HttpRequest, token: str) -> InvitationInfoOut:
    invitation = await _invitation(token)
    mine = await db(selectors.team_get, user=_user(request), team_id=invitation.team_id)
    return InvitationInfoOut(
        team=invitation.team.name, role=invitation.role, expires_at=invitation.expires_at, already_member=bool(mine)
    )


@router.post("/invitations/{token}/accept", response={200: TeamOut, 404: ErrorOut})
async def invitation_accept(request: HttpRequest, token: str) -> TeamOut:
    invitation = await _invitation(token)
    await db(services.invitation_accept, invitation=invitation, user=_user(request))
    team = await db(selectors.team_get, user=_user(request), team_id=invitation.team_id)
    assert team is not None
    return _team_out(team)
