"""Teams, roles, invitation links, visibility, share links, and the permission matrix.

The matrix: every endpoint tried as a stranger, a viewer and a member of the team that a preset and
a recording are shared with. 404 for what you may not see, 403 for what you may see but not change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.utils import timezone

from playground.accounts.services import api_token_create, user_get_or_create
from playground.presets.models import Preset, PresetVersion
from playground.realtime.models import RealtimeSession, SessionEvent
from playground.teams.models import Invitation, Membership
from tests.conftest import is_type, recorded_events
from tests.test_presets import CONTENT
from tests.test_relay_path import USER_SAYS


@dataclass
class Crew:
    owner: httpx.AsyncClient  # alice, who made the team and owns the preset and the recordings
    member: httpx.AsyncClient  # carol
    viewer: httpx.AsyncClient  # bob
    stranger: httpx.AsyncClient  # mallory, in no team
    anonymous: httpx.AsyncClient
    team: dict[str, Any]
    preset: dict[str, Any]
    recording: dict[str, Any]  # ended
    live: dict[str, Any]  # still live
    tokens: dict[str, str]

    def by_role(self) -> dict[str, httpx.AsyncClient]:
        return {"stranger": self.stranger, "viewer": self.viewer, "member": self.member}


def _client(api: httpx.AsyncClient, token: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(transport=api._transport, base_url="http://testserver", headers=headers, timeout=30)


async def _token(username: str) -> str:
    def make() -> str:
        user, _ = user_get_or_create(username=username)
        return api_token_create(user=user)

    return await database_sync_to_async(make)()


async def _join(owner: httpx.AsyncClient, guest: httpx.AsyncClient, team_id: str, role: str) -> None:
    res = await owner.post(f"/api/teams/{team_id}/invitations", json={"role": role})
    assert res.status_code == 201, res.text
    token = res.json()["url"].rstrip("/").rsplit("/", 1)[1]
    res = await guest.post(f"/api/invitations/{token}/accept")
    assert res.status_code == 200, res.text
    assert res.json()["role"] == role


async def _talk(client: httpx.AsyncClient, sid: str) -> None:
    await client.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=USER_SAYS)
    res = await client.post(
        f"/api/sessions/{sid}/client-events/response.create", json={}, headers={"Accept": "text/event-stream"}
    )
    assert "event: response.done" in res.text


@pytest.fixture
async def crew(api: httpx.AsyncClient, token: str) -> AsyncIterator[Crew]:
    tokens = {"alice": token, "bob": await _token("bob"), "carol": await _token("carol")}
    tokens["mallory"] = await _token("mallory")
    member, viewer = _client(api, tokens["carol"]), _client(api, tokens["bob"])
    stranger, anonymous = _client(api, tokens["mallory"]), _client(api, None)
    res = await api.post("/api/teams", json={"name": "Voice squad"})
    assert res.status_code == 201, res.text
    team = res.json()
    await _join(api, viewer, team["id"], "viewer")
    await _join(api, member, team["id"], "member")
    res = await api.post("/api/presets", json={"name": "Team preset", "content": CONTENT, "team": team["id"]})
    assert res.status_code == 201, res.text
    preset = res.json()
    assert preset["team"] == {"id": team["id"], "name": "Voice squad"} and preset["visibility"] == "team"
    res = await api.post(f"/api/presets/{preset['id']}/sessions", json={})
    assert res.status_code == 201, res.text
    recording = res.json()
    await _talk(api, recording["id"])
    res = await api.patch(f"/api/sessions/{recording['id']}", json={"team": team["id"]})
    assert res.status_code == 200, res.text
    await api.post(f"/api/sessions/{recording['id']}/close")
    res = await api.post("/api/sessions", json={"upstream": "emulator", "team": team["id"]})
    assert res.status_code == 201, res.text
    live = res.json()
    yield Crew(api, member, viewer, stranger, anonymous, team, preset, recording, live, tokens)
    for client in (member, viewer, stranger, anonymous):
        await client.aclose()


# (method, path, JSON body, expected status for stranger, viewer, member). In order: later rows
# may depend on what earlier ones did (the member's edits, then trash and delete last).
MATRIX: list[tuple[str, str, Any, tuple[int, int, int]]] = [
    # presets
    ("GET", "/api/presets/{P}", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/versions", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/versions/1", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/diff?from=1&to=1", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/export", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/code?lang=openai", None, (404, 200, 200)),
    ("GET", "/api/presets/{P}/code?lang=curl", None, (404, 200, 200)),
    ("PUT", "/api/presets/{P}", {"content": CONTENT, "name": "Edited"}, (404, 403, 200)),
    ("PATCH", "/api/presets/{P}", {"description": "edited"}, (404, 403, 200)),
    # Who sees it is its owner's call only.
    ("PATCH", "/api/presets/{P}", {"visibility": "private"}, (404, 403, 403)),
    ("POST", "/api/presets/{P}/share", None, (404, 403, 200)),
    ("DELETE", "/api/presets/{P}/share", None, (404, 403, 200)),
    ("POST", "/api/presets/{P}/fork", None, (404, 201, 201)),
    ("POST", "/api/presets/{P}/sessions", {}, (404, 201, 201)),
    # recordings
    ("GET", "/api/sessions/{R}", None, (404, 200, 200)),
    ("GET", "/api/sessions/{R}/events", None, (404, 200, 200)),
    ("GET", "/api/sessions/{R}/export?format=jsonl", None, (404, 200, 200)),
    ("GET", "/api/sessions/{R}/export?format=md", None, (404, 200, 200)),
    ("GET", "/api/sessions/{R}/export?format=wav&side=user", None, (404, 200, 200)),
    ("GET", "/api/sessions/{R}/compare/{R}", None, (404, 200, 200)),
    ("POST", "/api/sessions/{R}/rerun", {}, (404, 201, 201)),
    ("PATCH", "/api/sessions/{R}", {"visibility": "private"}, (404, 403, 403)),
    ("POST", "/api/sessions/{R}/share", None, (404, 403, 200)),
    ("DELETE", "/api/sessions/{R}/share", None, (404, 403, 200)),
    ("POST", "/api/sessions/{R}/close", None, (404, 403, 409)),
    ("POST", "/api/sessions/{R}/client-events/response.create", {}, (404, 403, 409)),
    # a live session: watched by the team, driven by its members
    ("GET", "/api/sessions/{L}", None, (404, 200, 200)),
    ("POST", "/api/sessions/{L}/client-events/conversation.item.create", USER_SAYS, (404, 403, 200)),
    ("POST", "/api/sessions/{L}/client-events/input_audio_buffer.clear", {}, (404, 403, 200)),
    # the team
    ("GET", "/api/teams/{T}", None, (404, 200, 200)),
    ("PATCH", "/api/teams/{T}", {"name": "Renamed"}, (404, 403, 403)),
    ("POST", "/api/teams/{T}/invitations", {"role": "member"}, (404, 403, 403)),
    ("PUT", "/api/teams/{T}/members/alice", {"role": "member"}, (404, 403, 403)),
    ("DELETE", "/api/teams/{T}/members/alice", None, (404, 403, 403)),
    ("DELETE", "/api/teams/{T}", None, (404, 403, 403)),
    # last: the destructive ones
    ("DELETE", "/api/presets/{P}", None, (404, 403, 200)),
    ("POST", "/api/presets/{P}/restore", None, (404, 403, 200)),
    ("DELETE", "/api/sessions/{R}", None, (404, 403, 204)),
]


async def test_every_endpoint_as_stranger_viewer_and_member(crew: Crew) -> None:
    ids = {"P": crew.preset["id"], "R": crew.recording["id"], "L": crew.live["id"], "T": crew.team["id"]}
    failures = []
    for method, template, body, expected in MATRIX:
        path = template.format(**ids)
        for (role, client), want in zip(crew.by_role().items(), expected, strict=True):
            res = await client.request(method, path, json=body)
            if res.status_code != want:
                failures.append(f"{method} {path} as {role}: {res.status_code}, expected {want}: {res.text[:160]}")
            elif res.status_code in (403, 404):
                assert res.json()["detail"], f"{method} {path}: an error must say why"
    assert not failures, "\n".join(failures)
    # The viewer's and stranger's refused writes changed nothing: the member's edits are the only ones.
    preset = await database_sync_to_async(Preset.objects.get)(pk=crew.preset["id"])
    assert (preset.name, preset.description, preset.visibility) == ("Edited", "edited", "team")
    assert await database_sync_to_async(PresetVersion.objects.filter(preset=preset).count)() == 2
    # The member deleted the recording, and its events (its audio) went with it.
    assert not await database_sync_to_async(RealtimeSession.objects.filter(pk=crew.recording["id"]).exists)()
    assert not await database_sync_to_async(SessionEvent.objects.filter(session_id=crew.recording["id"]).exists)()


async def test_lists_show_the_team_what_it_may_see_and_strangers_nothing(crew: Crew) -> None:
    for client, sees in ((crew.viewer, True), (crew.member, True), (crew.stranger, False)):
        presets = {p["id"] for p in (await client.get("/api/presets")).json()}
        assert (crew.preset["id"] in presets) is sees
        sessions = {s["id"] for s in (await client.get("/api/sessions")).json()}
        assert (crew.recording["id"] in sessions) is sees
        assert (crew.live["id"] in sessions) is sees
    # Filters: by owner, preset, team, state and date.
    viewer = crew.viewer
    by_owner = (await viewer.get("/api/sessions", params={"user": "alice"})).json()
    assert {s["id"] for s in by_owner} == {crew.recording["id"], crew.live["id"]}
    by_preset = (await viewer.get("/api/sessions", params={"preset": crew.preset["id"]})).json()
    assert [s["id"] for s in by_preset] == [crew.recording["id"]]
    assert by_preset[0]["preset"] == {"id": crew.preset["id"], "name": "Team preset", "version": 1}
    assert by_preset[0]["can_change"] is False and by_preset[0]["share_url"] is None
    ended = (await viewer.get("/api/sessions", params={"state": "ended", "team": crew.team["id"]})).json()
    assert [s["id"] for s in ended] == [crew.recording["id"]]
    tomorrow = (timezone.now() + timedelta(days=1)).isoformat()
    assert (await viewer.get("/api/sessions", params={"since": tomorrow})).json() == []
    assert len((await viewer.get("/api/sessions", params={"until": tomorrow})).json()) == 2
    res = await viewer.get("/api/sessions", params={"since": "yesterday"})
    assert res.status_code == 422 and res.json()["field"] == "since"
    # A private recording of a team member stays private.
    res = await crew.member.post("/api/sessions", json={"upstream": "emulator"})
    mine = res.json()["id"]
    assert mine not in {s["id"] for s in (await viewer.get("/api/sessions")).json()}
    assert (await viewer.get(f"/api/sessions/{mine}")).status_code == 404


async def test_a_viewer_watches_a_live_session_but_cannot_drive_it(crew: Crew, watch: Any) -> None:
    sid = crew.live["id"]
    watcher = await watch(sid, bearer=crew.tokens["bob"])
    await watcher.send({"type": "input_audio_buffer.clear"})
    frames = await watcher.receive_until(lambda f: (f.get("notice") or {}).get("kind") == "rejected")
    rejected = next(f for f in frames if (f.get("notice") or {}).get("kind") == "rejected")
    assert rejected["notice"]["status"] == 403
    # What the owner says reaches the viewer.
    await crew.owner.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=USER_SAYS)
    await watcher.receive_until(is_type("conversation.item.done"))
    recorded = [f.type for f in await recorded_events(sid) if f.direction == "client"]
    assert "input_audio_buffer.clear" not in recorded  # the viewer's event was not forwarded
    # A stranger cannot even watch.
    with pytest.raises(AssertionError, match="close code"):
        await watch(sid, bearer=crew.tokens["mallory"])


async def test_share_links_open_read_only_for_anyone_and_stop_when_revoked(crew: Crew) -> None:
    pid, rid = crew.preset["id"], crew.recording["id"]
    shared = (await crew.owner.post(f"/api/presets/{pid}/share")).json()
    url = shared["share_url"]
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert url.startswith("http://testserver/s/p/") and len(token) >= 32  # token_urlsafe(24): 192 bits
    # Sharing again keeps the same link; the viewer does not see it (they cannot revoke it either).
    assert (await crew.member.post(f"/api/presets/{pid}/share")).json()["share_url"] == url
    assert (await crew.viewer.get(f"/api/presets/{pid}")).json()["share_url"] is None
    # Anyone with the link reads it, signed in or not; it is still 404 by id to a stranger.
    res = await crew.anonymous.get(f"/api/shared/presets/{token}")
    assert res.status_code == 200 and res.json()["name"] == "Team preset"
    assert res.json()["can_change"] is False and res.json()["share_url"] is None
    assert (await crew.stranger.get(f"/api/presets/{pid}")).status_code == 404
    assert (await crew.anonymous.get(f"/api/shared/presets/{token}/export")).json()["content"]["session"]
    code = (await crew.anonymous.get(f"/api/shared/presets/{token}/code", params={"lang": "websockets"})).json()
    assert code["lang"] == "websockets" and "websockets" in code["code"] and "YC_API_KEY" in code["code"]
    res = await crew.anonymous.get(f"/api/shared/presets/{token}/code", params={"lang": "rust"})
    assert res.status_code == 422 and res.json()["field"] == "lang"
    # Forking from the link needs an account; the fork is the stranger's own, private.
    assert (await crew.anonymous.post(f"/api/shared/presets/{token}/fork")).status_code == 401
    fork = await crew.stranger.post(f"/api/shared/presets/{token}/fork")
    assert fork.status_code == 201, fork.text
    assert fork.json()["owner"] == "mallory" and fork.json()["visibility"] == "private"
    assert fork.json()["forked_from"] == pid and fork.json()["content"] == CONTENT
    # Revoked: the link is dead at once, and sharing again makes a new one.
    await crew.owner.delete(f"/api/presets/{pid}/share")
    assert (await crew.anonymous.get(f"/api/shared/presets/{token}")).status_code == 404
    assert (await crew.stranger.post(f"/api/shared/presets/{token}/fork")).status_code == 404
    again = (await crew.owner.post(f"/api/presets/{pid}/share")).json()["share_url"]
    assert again != url

    # A recording, the same way: detail and events by link, read-only.
    rurl = (await crew.owner.post(f"/api/sessions/{rid}/share")).json()["share_url"]
    rtoken = rurl.rstrip("/").rsplit("/", 1)[1]
    assert rurl.startswith("http://testserver/s/r/") and len(rtoken) >= 32
    res = await crew.anonymous.get(f"/api/shared/sessions/{rtoken}")
    assert res.status_code == 200 and res.json()["state"] == "ended" and res.json()["can_change"] is False
    events = (await crew.anonymous.get(f"/api/shared/sessions/{rtoken}/events")).json()
    assert events[0]["seq"] == 1 and any(e.get("event", {}).get("type") == "response.done" for e in events)
    transcript = await crew.anonymous.get(f"/api/shared/sessions/{rtoken}/export", params={"format": "md"})
    assert transcript.status_code == 200 and "**You:**" in transcript.text
    await crew.owner.delete(f"/api/sessions/{rid}/share")
    assert (await crew.anonymous.get(f"/api/shared/sessions/{rtoken}/events")).status_code == 404
    assert (await crew.anonymous.get("/api/shared/sessions/" + "x" * 32)).status_code == 404


async def test_roles_invitations_and_leaving(crew: Crew) -> None:
    tid = crew.team["id"]
    detail = (await crew.owner.get(f"/api/teams/{tid}")).json()
    assert {m["username"]: m["role"] for m in detail["member_list"]} == {
        "alice": "owner",
        "bob": "viewer",
        "carol": "member",
    }
    assert len(detail["invitations"]) == 2 and all(i["accepted"] == 1 for i in detail["invitations"])
    # Only owners see the invitation links.
    assert (await crew.member.get(f"/api/teams/{tid}")).json()["invitations"] == []
    # Promote the viewer: now they may change the team's preset.
    res = await crew.owner.put(f"/api/teams/{tid}/members/bob", json={"role": "member"})
    assert res.status_code == 200
    res = await crew.viewer.patch(f"/api/presets/{crew.preset['id']}", json={"description": "bob was here"})
    assert res.status_code == 200, res.text
    # A bad role names the field; the last owner cannot step down or leave.
    res = await crew.owner.put(f"/api/teams/{tid}/members/bob", json={"role": "boss"})
    assert res.status_code == 422 and res.json()["field"] == "role"
    res = await crew.owner.put(f"/api/teams/{tid}/members/alice", json={"role": "viewer"})
    assert res.status_code == 409 and "last owner" in res.json()["detail"]
    assert (await crew.owner.delete(f"/api/teams/{tid}/members/alice")).status_code == 409
    # A member may leave; then the team's things are 404 to them.
    assert (await crew.member.delete(f"/api/teams/{tid}/members/carol")).status_code == 204
    assert (await crew.member.get(f"/api/presets/{crew.preset['id']}")).status_code == 404
    assert (await crew.member.get(f"/api/teams/{tid}")).status_code == 404
    # Revoked and expired invitations are dead links.
    inv = (await crew.owner.post(f"/api/teams/{tid}/invitations", json={"role": "viewer"})).json()
    token = inv["url"].rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 32
    info = (await crew.stranger.get(f"/api/invitations/{token}")).json()
    assert info == {**info, "team": "Voice squad", "role": "viewer", "already_member": False}
    assert (await crew.owner.delete(f"/api/teams/{tid}/invitations/{inv['id']}")).status_code == 204
    assert (await crew.stranger.post(f"/api/invitations/{token}/accept")).status_code == 404
    inv = (await crew.owner.post(f"/api/teams/{tid}/invitations", json={"role": "viewer"})).json()
    token = inv["url"].rstrip("/").rsplit("/", 1)[1]
    await database_sync_to_async(Invitation.objects.filter(pk=inv["id"]).update)(expires_at=timezone.now())
    assert (await crew.stranger.post(f"/api/invitations/{token}/accept")).status_code == 404
    assert not await database_sync_to_async(Membership.objects.filter(user__username="mallory").exists)()


async def test_a_team_is_one_of_several_and_its_deletion_keeps_everything_private(crew: Crew) -> None:
    other = (await crew.member.post("/api/teams", json={"name": "Second"})).json()
    assert other["role"] == "owner"
    teams = (await crew.member.get("/api/teams")).json()
    assert {(t["name"], t["role"]) for t in teams} == {("Voice squad", "member"), ("Second", "owner")}
    # Sharing into a team you are not in, or only view, is refused with the field named; nothing changes.
    res = await crew.owner.patch(f"/api/presets/{crew.preset['id']}", json={"team": other["id"]})
    assert res.status_code == 422 and res.json()["field"] == "team"
    res = await crew.viewer.post("/api/presets", json={"name": "x", "team": crew.team["id"]})
    assert res.status_code == 403 and res.json()["field"] == "team"
    res = await crew.viewer.post("/api/sessions", json={"upstream": "emulator", "team": crew.team["id"]})
    assert res.status_code == 403 and res.json()["field"] == "team"
    res = await crew.owner.post("/api/presets", json={"name": "x", "visibility": "team"})
    assert res.status_code == 422 and res.json()["field"] == "visibility"
    assert await database_sync_to_async(Preset.objects.filter(name="x").count)() == 0
    # The owner deletes the team: its preset and recordings stay, private to alice.
    assert (await crew.owner.delete(f"/api/teams/{crew.team['id']}")).status_code == 204
    preset = (await crew.owner.get(f"/api/presets/{crew.preset['id']}")).json()
    assert preset["team"] is None and preset["visibility"] == "team"
    assert (await crew.viewer.get(f"/api/presets/{crew.preset['id']}")).status_code == 404
    assert (await crew.owner.get(f"/api/sessions/{crew.recording['id']}")).status_code == 200
    assert (await crew.viewer.get(f"/api/sessions/{crew.recording['id']}")).status_code == 404


async def test_retention_deletes_old_recordings_with_their_audio_and_spares_live_ones(
    crew: Crew, settings: Any
) -> None:
    from django.core.management import call_command

    old = timezone.now() - timedelta(days=40)
    rid = crew.recording["id"]
    await database_sync_to_async(RealtimeSession.objects.filter(pk=rid).update)(created_at=old, ended_at=old)
    await database_sync_to_async(RealtimeSession.objects.filter(pk=crew.live["id"]).update)(created_at=old)
    assert len(await recorded_events(rid)) > 5
    out = await database_sync_to_async(_call)(call_command, "prune_recordings", "--days", "30")
    assert "Deleted 1 recording(s) older than 30 day(s)." in out
    assert not await database_sync_to_async(SessionEvent.objects.filter(session_id=rid).exists)()
    assert (await crew.owner.get(f"/api/sessions/{rid}")).status_code == 404
    assert (await crew.owner.get(f"/api/sessions/{crew.live['id']}")).json()["state"] == "live"


def _call(call_command: Any, *args: str) -> str:
    import io

    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_pages_check_membership(transactional_db: None, client: Any) -> None:
    """Every page, as a stranger (404), a viewer and a member (200); anonymous goes to the login page."""
    from playground.presets import services as preset_services
    from playground.presets.schemas import PresetContent
    from playground.teams import services as team_services

    alice, _ = user_get_or_create(username="alice")
    team = team_services.team_create(user=alice, name="Pages")
    people = {}
    for name, role in (("mallory", None), ("bob", "viewer"), ("carol", "member")):
        people[name], _ = user_get_or_create(username=name)
        if role:
            Membership.objects.create(team=team, user=people[name], role=role)
    preset = preset_services.preset_create(
        user=alice, name="P", content=PresetContent.model_validate(CONTENT), team_id=team.id
    )
    session = RealtimeSession.objects.create(
        owner=alice, upstream="emulator", state="ended", team=team, visibility="team", preset=preset
    )
    pages = [
        f"/teams/{team.id}/",
        f"/presets/{preset.id}/",
        f"/sessions/{session.id}/",
        f"/sessions/{session.id}/replay/",
        f"/sessions/{session.id}/compare/{session.id}/",
    ]
    for path in pages:
        assert client.get(path).status_code == 302, f"{path} must ask an anonymous visitor to sign in"
    for name, want in (("mallory", 404), ("bob", 200), ("carol", 200)):
        client.force_login(people[name])
        for path in pages:
            assert client.get(path).status_code == want, f"{path} as {name}"
        listed = client.get("/recordings/").content.decode()
        assert (f"/sessions/{session.id}/replay/" in listed) is (want == 200)
    # The team page's owner forms are 403 to a member.
    client.force_login(people["carol"])
    res = client.post(f"/teams/{team.id}/", {"action": "invite", "role": "member"})
    assert res.status_code == 403
    assert not Invitation.objects.filter(team=team).exists()
    # The owner makes an invitation link on the page; a stranger opens it and joins as a viewer.
    client.force_login(alice)
    client.post(f"/teams/{team.id}/", {"action": "invite", "role": "viewer"})
    invitation = Invitation.objects.get(team=team)
    page = client.get(f"/teams/{team.id}/").content.decode()
    assert f"/invite/{invitation.token}/" in page
    client.force_login(people["mallory"])
    assert "Join Pages" in client.get(f"/invite/{invitation.token}/").content.decode()
    assert client.post(f"/invite/{invitation.token}/").status_code == 302
    assert Membership.objects.get(team=team, user=people["mallory"]).role == "viewer"
    assert client.get(f"/presets/{preset.id}/").status_code == 200
    # Recordings filtered by a preset I may not see is a form error, not someone else's list.
    body = client.get("/recordings/", {"preset": "00000000-0000-0000-0000-000000000000"}).content.decode()
    assert "preset:" in body.lower() and "Select a valid choice" in body
