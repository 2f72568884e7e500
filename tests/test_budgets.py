"""Budgets (playground/usage/budgets.py) through the one gate: a used-up budget refuses a concurrent burst with
429 in words naming it and when it resets; a runaway of live sessions is stopped after their current
responses, overshooting by no more than those; a budget past its alert says so, once, in the sessions.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async

from playground.realtime.models import RealtimeSession
from playground.usage.models import UsageRecord
from tests.test_relay_path import create_session
from tests.test_teams import _client, _join, _token
from tests.test_usage import say, wait_for_records

BURST = 20


def month_end() -> datetime:
    now = datetime.now(UTC)
    return datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)


def assert_budget_refusal(res: httpx.Response, words: str) -> None:
    assert res.status_code == 429, res.text
    body = res.json()
    assert words in body["detail"], body["detail"]
    assert f"resets on {month_end():%Y-%m-%d} 00:00 UTC" in body["detail"], body["detail"]
    assert "Usage page (/usage/)" in body["detail"]
    left = (month_end() - datetime.now(UTC)).total_seconds()
    assert abs(int(res.headers["Retry-After"]) - left) < 60
    assert body["retry_after"] == int(res.headers["Retry-After"])


async def talk(api: httpx.AsyncClient, sid: str, text: str = "hello there") -> httpx.Response:
    """One turn; with SSE the answer streams back until response.done (or the session's end notice)."""
    res = await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=say(text))
    if res.status_code != 200:
        return res
    return await api.post(
        f"/api/sessions/{sid}/client-events/response.create", json={}, headers={"Accept": "text/event-stream"}
    )


async def ended_notice(api: httpx.AsyncClient, sid: str, *, within: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(within):
        while True:
            frames = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
            notices = [f["notice"] for f in frames if f.get("notice") and f["notice"].get("state")]
            if notices and notices[-1]["state"] != "live":
                return dict(notices[-1])
            await asyncio.sleep(0.05)


@pytest.fixture
async def team(api: httpx.AsyncClient) -> AsyncIterator[str]:
    res = await api.post("/api/teams", json={"name": "Acme"})
    assert res.status_code == 201, res.text
    yield res.json()["id"]


async def test_a_used_up_budget_refuses_a_concurrent_burst_every_way_in(
    api: httpx.AsyncClient, team: str, settings: Any
) -> None:
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 0
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    res = await api.post("/api/budgets", json={"team": team, "cost_limit": 0.000001})
    assert res.status_code == 201, res.text
    assert res.json()["state"] == "ok" and res.json()["scope"] == "team “Acme”"
    first = await create_session(api, team=team)
    answer = await talk(api, first["id"])
    assert "event: response.done" in answer.text
    # That response used the budget up: the session ends after it, saying why.
    notice = await ended_notice(api, first["id"])
    assert notice["kind"] == "budget_exceeded" and notice["state"] == "ended"
    assert notice["message"].startswith("The monthly budget of team “Acme” is used up: ≈")
    assert "The session ended after its current response" in notice["message"]
    budget = (await api.get("/api/budgets")).json()[0]
    assert budget["state"] == "exceeded" and budget["used_percent"] >= 100

    rows_before = await database_sync_to_async(RealtimeSession.objects.count)()
    preset = (await api.post("/api/presets", json={"name": "Burst", "team": team})).json()["id"]
    await database_sync_to_async(RealtimeSession.objects.filter(pk=first["id"]).update)(state="interrupted")
    calls = (
        [api.post("/api/sessions", json={"upstream": "emulator", "team": team}) for _ in range(BURST - 4)]
        + [api.post(f"/api/presets/{preset}/sessions", json={"team": team}) for _ in range(2)]
        + [api.post(f"/api/sessions/{first['id']}/resume") for _ in range(2)]
    )
    answers = await asyncio.gather(*calls)
    assert Counter(r.status_code for r in answers) == {429: BURST}
    for res in answers:
        assert_budget_refusal(res, "The monthly budget of team “Acme” is used up: ≈")
    assert await database_sync_to_async(RealtimeSession.objects.count)() == rows_before
    # The budget binds the team's sessions only: a private session of the same user still opens.
    assert (await api.post("/api/sessions", json={"upstream": "emulator"})).status_code == 201
    # Raised by its owner, the team's sessions open again.
    res = await api.patch(f"/api/budgets/{budget['id']}", json={"cost_limit": 1000})
    assert res.status_code == 200 and res.json()["state"] == "ok"
    assert (await api.post("/api/sessions", json={"upstream": "emulator", "team": team})).status_code == 201


async def test_a_runaway_burst_stops_within_what_the_live_sessions_spend(
    api: httpx.AsyncClient, team: str, settings: Any
) -> None:
    """Four scripts loop on responses in the team's sessions, all live before the budget is used up. Each
    session ends after the response it was running when the budget ran out, and one it started after is cut,
    so the team spends at most the budget plus one response per live session. (The emulator is paced so an
    answer takes about as long as a short one of Yandex's: the playground learns of the budget a database
    round trip after the response that used it up is recorded, and an answer started and finished within
    that moment would be counted too: docs/usage.md.)"""
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 0
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    live = 4
    # What one answer costs here, measured on a private session (the emulator's usage is deterministic).
    probe = await create_session(api)
    await talk(api, probe["id"], "loop 0")
    one = float((await wait_for_records(probe["id"], 1))[0].cost)
    await api.post(f"/api/sessions/{probe['id']}/close")
    limit = one * 6
    assert (await api.post("/api/budgets", json={"team": team, "cost_limit": limit})).status_code == 201

    opened = await asyncio.gather(*(create_session(api, team=team, emulator={"pace": 40}) for _ in range(live)))

    async def runaway(sid: str) -> int:
        for n in range(100):
            res = await talk(api, sid, f"loop {n}")
            if res.status_code != 200 or "event: response.done" not in res.text:
                return n
        raise AssertionError("the budget never stopped this session")

    await asyncio.gather(*(runaway(s["id"]) for s in opened))
    for s in opened:
        notice = await ended_notice(api, s["id"])
        assert notice["kind"] == "budget_exceeded", notice
    spent = await database_sync_to_async(lambda: [float(r.cost) for r in UsageRecord.objects.filter(team_id=team)])()
    biggest = max(spent)
    assert limit <= sum(spent) <= limit + live * biggest + 1e-9, (sum(spent), limit, biggest)
    # And nothing more opens in the team.
    answers = await asyncio.gather(*(api.post("/api/sessions", json={"team": team}) for _ in range(10)))
    assert {r.status_code for r in answers} == {429}


async def test_an_alert_is_said_once_in_the_session_then_the_budget_ends_it(api: httpx.AsyncClient, team: str) -> None:
    session = await create_session(api, team=team)
    sid = session["id"]
    await talk(api, sid, "one")
    one = float((await wait_for_records(sid, 1))[0].cost)
    # 25% used; the next answer (a longer context, so dearer) passes the alert at 50%, the third the limit.
    res = await api.post("/api/budgets", json={"team": team, "cost_limit": one * 4, "alert_percent": 50})
    assert res.status_code == 201 and res.json()["state"] == "ok", res.text
    await talk(api, sid, "two")
    await wait_for_records(sid, 2)

    async def alerts() -> list[dict[str, Any]]:
        frames = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
        return [f["notice"] for f in frames if (f.get("notice") or {}).get("kind") == "budget_alert"]

    async with asyncio.timeout(10):
        while not await alerts():  # noqa: ASYNC110 - polling the API, as a client would
            await asyncio.sleep(0.05)
    [alert] = await alerts()
    assert re.match(r"The monthly budget of team “Acme” is \d+% used \(≈", alert["message"]), alert["message"]
    assert "the alert is at 50%" in alert["message"] and alert["usage_url"] == "/usage/"
    assert (await api.get("/api/budgets")).json()[0]["state"] == "alert"
    await talk(api, sid, "three")
    notice = await ended_notice(api, sid)
    assert notice["kind"] == "budget_exceeded"
    assert len(await alerts()) == 1  # said once


async def test_who_sets_budgets(api: httpx.AsyncClient, team: str) -> None:
    tokens = {name: await _token(name) for name in ("bob", "carol", "dave", "root")}
    bob, dave, root = _client(api, tokens["bob"]), _client(api, tokens["dave"]), _client(api, tokens["root"])
    await _join(api, bob, team, "member")
    await database_sync_to_async(
        lambda: (
            __import__("django.contrib.auth", fromlist=["get_user_model"])
            .get_user_model()
            .objects.filter(username="root")
            .update(is_staff=True)
        )
    )()
    try:
        res = await bob.post("/api/budgets", json={"team": team, "cost_limit": 5})
        assert res.status_code == 403 and res.json()["field"] == "team"
        assert "Only an owner of Acme or an admin" in res.json()["detail"]
        res = await dave.post("/api/budgets", json={"team": team, "cost_limit": 5})
        assert res.status_code == 422 and res.json()["field"] == "team"
        res = await api.post("/api/budgets", json={"user": "bob", "cost_limit": 5})
        assert res.status_code == 403 and res.json()["field"] == "user"
        assert "Only an admin (a Django staff user)" in res.json()["detail"]
        res = await api.post("/api/budgets", json={"team": team})
        assert res.status_code == 422 and res.json()["field"] == "cost_limit"
        res = await api.post("/api/budgets", json={"team": team, "user": "dave", "cost_limit": 5})
        assert res.status_code == 422 and res.json()["field"] == "user"
        res = await api.post("/api/budgets", json={"team": team, "cost_limit": -1})
        assert res.status_code == 422 and res.json()["field"] == "cost_limit"
        assert (await api.get("/api/budgets")).json() == []  # none of those changed anything

        team_budget = await api.post("/api/budgets", json={"team": team, "cost_limit": 5, "audio_minutes_limit": 30})
        assert team_budget.status_code == 201, team_budget.text
        member_budget = await api.post("/api/budgets", json={"team": team, "user": "bob", "audio_minutes_limit": 10})
        assert member_budget.status_code == 201 and member_budget.json()["scope"] == "bob in team “Acme”"
        again = await api.post("/api/budgets", json={"team": team, "cost_limit": 9})
        assert again.status_code == 409
        admin_budget = await root.post("/api/budgets", json={"user": "dave", "cost_limit": 1})
        assert admin_budget.status_code == 201, admin_budget.text

        # Bob sees what binds him (can change neither); Dave only his own; the owner the team's two.
        seen = {b["scope"]: b["can_change"] for b in (await bob.get("/api/budgets")).json()}
        assert seen == {"team “Acme”": False, "bob in team “Acme”": False}
        assert [b["scope"] for b in (await dave.get("/api/budgets")).json()] == ["dave"]
        assert {b["scope"] for b in (await api.get("/api/budgets")).json()} == {"team “Acme”", "bob in team “Acme”"}
        assert len((await root.get("/api/budgets")).json()) == 3

        bid = team_budget.json()["id"]
        res = await bob.patch(f"/api/budgets/{bid}", json={"cost_limit": 500})
        assert res.status_code == 403
        res = await dave.patch(f"/api/budgets/{bid}", json={"cost_limit": 500})
        assert res.status_code == 404
        res = await api.patch(f"/api/budgets/{bid}", json={"cost_limit": None, "audio_minutes_limit": None})
        assert res.status_code == 422 and res.json()["field"] == "cost_limit"
        res = await api.patch(f"/api/budgets/{bid}", json={"cost_limit": 50})
        assert res.status_code == 200 and res.json()["cost_limit"] == 50
        res = await root.patch(f"/api/budgets/{bid}", json={"cost_limit": 60})
        assert res.status_code == 200 and res.json()["cost_limit"] == 60
        assert (await bob.delete(f"/api/budgets/{bid}")).status_code == 403
        assert (await api.delete(f"/api/budgets/{bid}")).status_code == 204
    finally:
        for client in (bob, dave, root):
            await client.aclose()
