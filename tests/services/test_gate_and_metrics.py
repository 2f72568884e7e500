"""Several workers for real, on PostgreSQL and Redis: the session gate holds under a burst spread over two
worker processes, and a scrape on either worker of `make serve`'s uvicorn shows every worker's figures.

Like test_workers.py this fails, never skips, when PostgreSQL or Redis is missing. .ci/run runs this file
twice: with the default channel layer and with PLAYGROUND_CHANNEL_LAYER=redis.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.live_server import manage, served_process
from tests.services.test_workers import services_env  # noqa: F401 - the fixture
from tests.test_ops import scrape, value

pytestmark = pytest.mark.services

BURST = 30
LIMITS = {
    "PLAYGROUND_LIVE_SESSIONS_PER_USER": "5",
    "PLAYGROUND_SESSIONS_PER_MINUTE": "30",
    "PLAYGROUND_MAX_LIVE_SESSIONS": "10",
}


async def _burst(clients: list[httpx.AsyncClient]) -> list[httpx.Response]:
    """BURST session creations at once, alternating between the workers."""
    calls = [clients[i % len(clients)].post("/api/sessions", json={"upstream": "emulator"}) for i in range(BURST)]
    return list(await asyncio.gather(*calls))


def _refused_naming(answers: list[httpx.Response], setting: str) -> None:
    for res in answers:
        if res.status_code == 429:
            assert setting in res.json()["detail"], res.text
            assert 1 <= int(res.headers["Retry-After"]) <= 60


async def test_a_burst_over_two_workers_gets_exactly_the_sessions_allowed(
    services_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    env = {**services_env, **LIMITS}
    with (
        served_process(tmp_path, env=env, name="worker-a") as a,
        served_process(tmp_path, env=env, migrate=False, name="worker-b") as b,
    ):
        tokens = [
            manage(tmp_path, "create_api_token", name, env=env).strip().splitlines()[-1]
            for name in ("alice", "bob", "carol")
        ]

        def clients(token: str) -> list[httpx.AsyncClient]:
            auth = {"Authorization": f"Bearer {token}"}
            return [httpx.AsyncClient(base_url=w.url, headers=auth, timeout=60) for w in (a, b)]

        by_user = [clients(t) for t in tokens]
        try:
            # One user: five live at once (PLAYGROUND_LIVE_SESSIONS_PER_USER), whichever worker each lands on.
            answers = await _burst(by_user[0])
            assert Counter(r.status_code for r in answers) == {201: 5, 429: BURST - 5}, [r.text for r in answers]
            _refused_naming(answers, "PLAYGROUND_LIVE_SESSIONS_PER_USER=5")
            # A second user fills the deployment (PLAYGROUND_MAX_LIVE_SESSIONS=10); a third gets nothing.
            answers = await _burst(by_user[1])
            assert Counter(r.status_code for r in answers) == {201: 5, 429: BURST - 5}
            answers = await _burst(by_user[2])
            assert Counter(r.status_code for r in answers) == {429: BURST}
            _refused_naming(answers, "PLAYGROUND_MAX_LIVE_SESSIONS=10")
            sessions = (await by_user[0][1].get("/api/sessions")).json()
            assert sorted(s["state"] for s in sessions) == ["live"] * 5
        finally:
            for pair in by_user:
                for client in pair:
                    await client.aclose()
        assert a.proc.poll() is None and b.proc.poll() is None, a.log() + b.log()


async def test_a_scrape_on_any_worker_shows_every_workers_figures(
    services_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
) -> None:
    with served_process(tmp_path, env=services_env, name="serve", workers=2) as served:
        token = manage(tmp_path, "create_api_token", "alice", env=services_env).strip().splitlines()[-1]
        async with (
            httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {token}"}, timeout=30) as api,
            httpx.AsyncClient(base_url=served.url, timeout=30) as local,
        ):
            # Both workers are up once each has written its `playground_worker_up` (at start).
            deadline = time.monotonic() + 30
            while True:
                pids = {dict(ls)["pid"] for (n, ls) in (await scrape(local)) if n == "playground_worker_up"}
                if len(pids) == 2:
                    break
                assert time.monotonic() < deadline, f"workers seen: {pids}\n{served.log()}"
                await asyncio.sleep(0.2)
            before = await scrape(local)
            res = await api.post(
                "/api/sessions", json={"upstream": "emulator", "session": {"output_modalities": ["text"]}}
            )
            assert res.status_code == 201, res.text
            sid = res.json()["id"]
            for type_, body in (
                (
                    "conversation.item.create",
                    {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
                ),
                ("response.create", {}),
            ):
                assert (await api.post(f"/api/sessions/{sid}/client-events/{type_}", json=body)).status_code == 200
            for _ in range(20):
                assert (await local.get("/healthz")).status_code == 200
            assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
            # Whichever worker answers each scrape (the kernel spreads connections), all of them count the same.
            scrapes = []
            for _ in range(6):
                async with httpx.AsyncClient(base_url=served.url, timeout=30) as fresh:  # a new connection each
                    scrapes.append(await scrape(fresh))
            for after in scrapes:
                served_by = {dict(ls)["pid"] for (n, ls) in after if n == "playground_worker_up"}
                assert served_by == pids
                client_events = value(after, "playground_relay_events_total", direction="client") - value(
                    before, "playground_relay_events_total", direction="client"
                )
                assert client_events == 3  # the initial session.update, the item, response.create
                healthz = value(after, "django_http_requests_total_by_view_transport_method_total", view="healthz")
                assert (
                    healthz - value(before, "django_http_requests_total_by_view_transport_method_total", view="healthz")
                    == 20
                )
                assert value(after, "playground_upstream_connect_seconds_count", upstream="emulator") == 1
                assert value(after, "playground_sessions_live", upstream="emulator", state="live") == 0
        assert served.proc.poll() is None, served.log()
