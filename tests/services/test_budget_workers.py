"""A budget across two worker processes on PostgreSQL and Redis: the response that uses it up is accounted by
the worker whose relay recorded it (driven by REST calls served by the other), that session ends with the
budget's notice, and a burst spread over both workers is refused at the one gate, each refusal counted.

Like test_workers.py this fails, never skips, when PostgreSQL or Redis is missing.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.live_server import manage, served_process
from tests.services.test_workers import services_env  # noqa: F401 - the fixture
from tests.test_ops import scrape, value

pytestmark = pytest.mark.services

BURST = 30
ENV = {"PLAYGROUND_LIVE_SESSIONS_PER_USER": "0", "PLAYGROUND_SESSIONS_PER_MINUTE": "0"}


async def test_a_budget_used_up_on_one_worker_refuses_a_burst_on_both(
    services_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {**services_env, **ENV}
    with (
        served_process(tmp_path, env=env, name="worker-a") as a,
        served_process(tmp_path, env=env, migrate=False, name="worker-b") as b,
    ):
        token = manage(tmp_path, "create_api_token", "alice", env=env).strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=a.url, headers=auth, timeout=60) as on_a,
            httpx.AsyncClient(base_url=b.url, headers=auth, timeout=60) as on_b,
            httpx.AsyncClient(base_url=a.url, timeout=30) as local_a,
            httpx.AsyncClient(base_url=b.url, timeout=30) as local_b,
        ):
            team = (await on_a.post("/api/teams", json={"name": "Acme"})).json()["id"]
            res = await on_b.post("/api/budgets", json={"team": team, "cost_limit": 0.000001})
            assert res.status_code == 201, res.text
            res = await on_a.post(
                "/api/sessions", json={"upstream": "emulator", "team": team, "session": {"output_modalities": ["text"]}}
            )
            assert res.status_code == 201, res.text
            sid = res.json()["id"]
            item = {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}
            assert (
                await on_b.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=item)
            ).is_success
            res = await on_b.post(
                f"/api/sessions/{sid}/client-events/response.create", json={}, headers={"Accept": "text/event-stream"}
            )
            assert "event: response.done" in res.text
            async with asyncio.timeout(15):
                while (await on_b.get(f"/api/sessions/{sid}")).json()["state"] == "live":  # noqa: ASYNC110 - polling
                    await asyncio.sleep(0.1)
            frames = (await on_b.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
            assert frames[-1]["notice"]["kind"] == "budget_exceeded", frames[-1]
            usage = (await on_b.get(f"/api/sessions/{sid}/usage")).json()
            assert usage["totals"]["responses"] == 1 and usage["totals"]["cost"] > 0

            before = [await scrape(c) for c in (local_a, local_b)]
            calls = [
                (on_a if i % 2 else on_b).post("/api/sessions", json={"upstream": "emulator", "team": team})
                for i in range(BURST)
            ]
            answers = await asyncio.gather(*calls)
            assert Counter(r.status_code for r in answers) == {429: BURST}, [r.text for r in answers[:3]]
            for res in answers:
                assert res.json()["detail"].startswith("The monthly budget of team “Acme” is used up: ≈")
                assert int(res.headers["Retry-After"]) > 0
            after = [await scrape(c) for c in (local_a, local_b)]
            refused = sum(
                value(x, "playground_session_refusals_total", limit="budget")
                - value(y, "playground_session_refusals_total", limit="budget")
                for x, y in zip(after, before, strict=True)
            )
            assert refused == BURST
            assert [s["id"] for s in (await on_a.get("/api/sessions")).json()] == [sid]
        assert a.proc.poll() is None and b.proc.poll() is None, a.log() + b.log()
