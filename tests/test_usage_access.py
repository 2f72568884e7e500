"""Who sees whose usage: everyone their own; a team's owners the team's sessions (every member's); its members
and viewers only their own in it; admins (Django staff) everyone's. A session moved to another team later
keeps its usage where it was spent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from tests.test_budgets import talk
from tests.test_relay_path import create_session
from tests.test_teams import _client, _join, _token


@dataclass
class People:
    alice: httpx.AsyncClient  # owns Acme
    bob: httpx.AsyncClient  # member of Acme
    carol: httpx.AsyncClient  # viewer of Acme
    dave: httpx.AsyncClient  # in no team
    root: httpx.AsyncClient  # an admin (is_staff)
    team: str
    sessions: dict[str, str]


async def _session(client: httpx.AsyncClient, name: str, team: str | None) -> str:
    session = await create_session(client, **({"team": team} if team else {}))
    res = await talk(client, session["id"], f"{name} says hello")
    assert "event: response.done" in res.text
    assert (await client.post(f"/api/sessions/{session['id']}/close")).status_code == 200
    return str(session["id"])


@pytest.fixture
async def people(api: httpx.AsyncClient) -> AsyncIterator[People]:
    clients = {name: _client(api, await _token(name)) for name in ("bob", "carol", "dave", "root")}
    await database_sync_to_async(get_user_model().objects.filter(username="root").update)(is_staff=True)
    team = (await api.post("/api/teams", json={"name": "Acme"})).json()["id"]
    await _join(api, clients["bob"], team, "member")
    await _join(api, clients["carol"], team, "viewer")
    sessions = {
        "alice in Acme": await _session(api, "alice", team),
        "alice alone": await _session(api, "alice", None),
        "bob in Acme": await _session(clients["bob"], "bob", team),
        "bob alone": await _session(clients["bob"], "bob", None),
        "carol alone": await _session(clients["carol"], "carol", None),
        "dave alone": await _session(clients["dave"], "dave", None),
    }
    yield People(api, clients["bob"], clients["carol"], clients["dave"], clients["root"], team, sessions)
    for client in clients.values():
        await client.aclose()


async def rows(client: httpx.AsyncClient, **params: str) -> dict[str, int]:
    res = await client.get("/api/usage", params={"group_by": "user", **params})
    assert res.status_code == 200, res.text
    return {r["label"]: r["sessions"] for r in res.json()["rows"]}


async def test_members_see_their_own_owners_their_team_admins_everyone(people: People) -> None:
    # The owner: her own, and the team's sessions (Bob's in Acme, not Bob's private one).
    assert await rows(people.alice) == {"alice": 2, "bob": 1}
    assert await rows(people.alice, team=people.team) == {"alice": 1, "bob": 1}
    assert await rows(people.alice, user="bob") == {"bob": 1}
    # A member and a viewer: only their own, in the team too.
    assert await rows(people.bob) == {"bob": 2}
    assert await rows(people.bob, team=people.team) == {"bob": 1}
    assert await rows(people.carol, team=people.team) == {}
    assert await rows(people.carol) == {"carol": 1}
    assert await rows(people.dave) == {"dave": 1}
    # An admin: everyone's.
    assert await rows(people.root) == {"alice": 2, "bob": 2, "carol": 1, "dave": 1}
    # Grouped by team, the owner's view splits the team from her private sessions.
    by_team = (await people.alice.get("/api/usage", params={"group_by": "team"})).json()["rows"]
    assert {(r["label"], r["sessions"]) for r in by_team} == {("Acme", 2), ("(no team)", 1)}


async def test_asking_for_someone_elses_usage_is_refused_in_words(people: People) -> None:
    res = await people.bob.get("/api/usage", params={"user": "alice"})
    assert res.status_code == 403 and res.json()["field"] == "user"
    assert (
        res.json()["detail"] == "You can see your own usage only; alice's is for the owners of their teams and admins."
    )
    res = await people.alice.get("/api/usage", params={"user": "dave"})  # not in a team Alice owns
    assert res.status_code == 403 and res.json()["field"] == "user"
    res = await people.dave.get("/api/usage", params={"team": people.team})
    assert res.status_code == 422 and res.json()["field"] == "team"
    assert (await people.bob.get("/api/usage.csv", params={"user": "alice"})).status_code == 403


async def test_a_sessions_usage_is_shown_to_who_may_see_that_usage(people: People) -> None:
    team_session = people.sessions["alice in Acme"]
    assert (await people.alice.get(f"/api/sessions/{team_session}/usage")).status_code == 200
    assert (await people.root.get(f"/api/sessions/{team_session}/usage")).status_code == 200
    # Bob may read the team's recording, not what Alice spent on it.
    res = await people.bob.get(f"/api/sessions/{team_session}/usage")
    assert res.status_code == 403, res.text
    # Dave may not even see the session.
    assert (await people.dave.get(f"/api/sessions/{team_session}/usage")).status_code == 404
    # Alice, the team's owner, sees Bob's team session's usage.
    assert (await people.alice.get(f"/api/sessions/{people.sessions['bob in Acme']}/usage")).status_code == 200


async def test_usage_stays_where_it_was_spent(people: People) -> None:
    """A session moved out of the team (or deleted) later: what it spent stays the team's, and its owner's."""
    bob_team = people.sessions["bob in Acme"]
    assert (await people.bob.patch(f"/api/sessions/{bob_team}", json={"team": None})).status_code == 200
    assert (await people.bob.delete(f"/api/sessions/{bob_team}")).status_code == 204
    assert await rows(people.alice, team=people.team) == {"alice": 1, "bob": 1}
    assert await rows(people.bob) == {"bob": 2}


async def test_the_usage_page_offers_what_each_may_see(people: People) -> None:
    """The page's data: the views (everything, mine, each team) and, for owners, the teams to budget (the page
    itself is driven in the browser suite, tests/browser/test_usage.py)."""
    from playground.usage.views import usage_page_data

    def data(username: str) -> dict[str, Any]:
        return usage_page_data(get_user_model().objects.get(username=username))

    alice, bob = await database_sync_to_async(data)("alice"), await database_sync_to_async(data)("bob")
    assert [v["label"] for v in alice["views"]] == ["Everything I can see", "Only mine", "Team Acme"]
    assert [t["name"] for t in alice["budgetTeams"]] == ["Acme"] and alice["usernames"] == ["alice", "bob", "carol"]
    assert [v["label"] for v in bob["views"]] == ["Everything I can see", "Only mine", "Team Acme (mine in it)"]
    assert bob["budgetTeams"] == [] and bob["usernames"] == ["bob"]
