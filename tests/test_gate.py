"""The session gate (playground/limits.py) under a burst: limits checked and taken in one step.

30 requests race for 5 places, all at once on the in-process application (SQLite, where the gate is one
`BEGIN IMMEDIATE` transaction): exactly 5 sessions open and 25 answers are 429 with `Retry-After` and the
limit in words, whichever limit binds and whichever ways the sessions open by.
tests/services/test_gate_workers.py does the same across two worker processes on PostgreSQL and Redis.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

import httpx
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from playground.accounts.services import api_token_create, user_get_or_create
from playground.realtime.models import RealtimeSession
from tests.test_openai_compat import Client as RealtimeClient
from tests.test_relay_path import create_session

BURST = 30
LIMIT = 5


def _assert_refusal(res: httpx.Response, setting: str) -> None:
    assert res.status_code == 429, res.text
    body = res.json()
    assert f"{setting}={LIMIT}" in body["detail"], body["detail"]
    assert re.search(r"(try again|retry) in \d+ s", body["detail"], re.I), body["detail"]
    assert 1 <= int(res.headers["Retry-After"]) <= 60
    assert body["retry_after"] == int(res.headers["Retry-After"])


async def _open_count(**filters: Any) -> int:
    return await database_sync_to_async(
        RealtimeSession.objects.filter(state__in=["live", "connecting"], **filters).count
    )()


async def _burst(api: httpx.AsyncClient) -> list[httpx.Response]:
    return list(await asyncio.gather(*(api.post("/api/sessions", json={"upstream": "emulator"}) for _ in range(BURST))))


async def test_a_burst_gets_exactly_the_live_sessions_allowed_per_user(api: httpx.AsyncClient, settings: Any) -> None:
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = LIMIT
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 100
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    answers = await _burst(api)
    assert Counter(r.status_code for r in answers) == {201: LIMIT, 429: BURST - LIMIT}
    for res in answers:
        if res.status_code == 429:
            _assert_refusal(res, "PLAYGROUND_LIVE_SESSIONS_PER_USER")
    assert await _open_count() == LIMIT
    # No row of a refused request: the gate refused before it wrote.
    assert await database_sync_to_async(RealtimeSession.objects.count)() == LIMIT


async def test_a_burst_gets_exactly_the_sessions_allowed_per_minute(api: httpx.AsyncClient, settings: Any) -> None:
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = LIMIT
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    answers = await _burst(api)
    assert Counter(r.status_code for r in answers) == {201: LIMIT, 429: BURST - LIMIT}
    for res in answers:
        if res.status_code == 429:
            _assert_refusal(res, "PLAYGROUND_SESSIONS_PER_MINUTE")
    assert await database_sync_to_async(RealtimeSession.objects.count)() == LIMIT


async def test_a_burst_from_many_users_gets_exactly_the_deployments_live_sessions(
    api: httpx.AsyncClient, settings: Any
) -> None:
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = LIMIT
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 0

    def tokens() -> list[str]:
        return [api_token_create(user=user_get_or_create(username=f"burst{i}")[0]) for i in range(3)]

    clients = [
        httpx.AsyncClient(
            transport=api._transport, base_url="http://testserver", headers={"Authorization": f"Bearer {t}"}, timeout=30
        )
        for t in await database_sync_to_async(tokens)()
    ]
    try:
        answers = await asyncio.gather(
            *(clients[i % 3].post("/api/sessions", json={"upstream": "emulator"}) for i in range(BURST))
        )
    finally:
        for client in clients:
            await client.aclose()
    assert Counter(r.status_code for r in answers) == {201: LIMIT, 429: BURST - LIMIT}
    for res in answers:
        if res.status_code == 429:
            _assert_refusal(res, "PLAYGROUND_MAX_LIVE_SESSIONS")
    assert await _open_count() == LIMIT


async def test_every_way_to_open_a_session_shares_the_one_gate(
    api: httpx.AsyncClient, application: Any, token: str, settings: Any
) -> None:
    """REST, preset runs, re-runs, resumes and /v1/realtime racing together still make exactly the limit."""
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 0
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    preset = (await api.post("/api/presets", json={"name": "Burst"})).json()["id"]
    recordings = [await create_session(api) for _ in range(4)]
    for rec in recordings:
        assert (await api.post(f"/api/sessions/{rec['id']}/close")).status_code == 200
    # Two of them as a killed worker leaves them: resumable.
    interrupted = [r["id"] for r in recordings[:2]]
    await database_sync_to_async(RealtimeSession.objects.filter(pk__in=interrupted).update)(state="interrupted")
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = LIMIT

    async def realtime() -> int:
        communicator = WebsocketCommunicator(
            application,
            "/v1/realtime?model=gpt-realtime",
            headers=[(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")],
        )
        assert (await communicator.connect(timeout=10))[0]
        client = RealtimeClient(communicator)
        first = await client.next()
        if first["type"] == "session.created":
            await communicator.disconnect()  # its session stays counted until closed: 201 as far as the gate goes
            return 201
        assert first["error"]["code"] == "session_limit_reached", first
        assert "PLAYGROUND_LIVE_SESSIONS_PER_USER=5" in first["error"]["message"]
        assert await client.closed() == 1013
        return 429

    async def status(call: Any) -> int:
        res = await call
        if res.status_code == 429:
            _assert_refusal(res, "PLAYGROUND_LIVE_SESSIONS_PER_USER")
        assert res.status_code in (200, 201, 429), res.text
        return 201 if res.status_code in (200, 201) else 429

    calls = (
        [status(api.post("/api/sessions", json={"upstream": "emulator"})) for _ in range(10)]
        + [status(api.post(f"/api/presets/{preset}/sessions", json={})) for _ in range(8)]
        + [status(api.post(f"/api/sessions/{recordings[3]['id']}/rerun", json={})) for _ in range(6)]
        + [status(api.post(f"/api/sessions/{sid}/resume")) for sid in interrupted]
        + [realtime() for _ in range(4)]
    )
    assert len(calls) == BURST
    results = await asyncio.gather(*calls)
    assert Counter(results) == {201: LIMIT, 429: BURST - LIMIT}
    # A /v1/realtime client that disconnected closes its session: count what the gate let in, not what is left.
    opened = await database_sync_to_async(
        RealtimeSession.objects.exclude(pk__in=[r["id"] for r in recordings[2:]]).exclude(state="interrupted").count
    )()
    assert opened == LIMIT
