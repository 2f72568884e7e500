"""What an operator sees: /healthz, /readyz, /metrics (docs/operations.md), on the whole ASGI application."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from django.db import OperationalError
from prometheus_client.parser import text_string_to_metric_families

from playground import ops
from tests.conftest import is_type
from tests.test_relay_path import USER_SAYS, create_session

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def client_at(application: Any, address: str, **headers: str) -> httpx.AsyncClient:
    """A client that the application sees coming from `address`."""
    transport = httpx.ASGITransport(app=application, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers, timeout=30)


@pytest.fixture
async def local(application: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with client_at(application, "127.0.0.1") as client:
        yield client


async def scrape(client: httpx.AsyncClient) -> Samples:
    res = await client.get("/metrics")
    assert res.status_code == 200, res.text
    assert res.headers["Content-Type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(res.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample; with some labels given, the sum of the samples that have them."""
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= set(ls))


async def test_healthz_answers_while_the_process_runs(local: httpx.AsyncClient) -> None:
    res = await local.get("/healthz")
    assert res.status_code == 200 and res.json() == {"status": "ok"}


async def test_readyz_checks_the_database_and_the_channel_layer(
    local: httpx.AsyncClient, transactional_db: None
) -> None:
    res = await local.get("/readyz")
    assert res.status_code == 200, res.text
    assert res.json() == {"status": "ok", "checks": {"database": "ok", "channel_layer": "ok"}}


async def test_readyz_names_what_is_down(
    local: httpx.AsyncClient, transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PLAYGROUND_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    res = await local.get("/readyz")
    assert res.status_code == 503
    body = res.json()
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["channel_layer"].startswith("The channel layer (Redis) is unreachable (")
    assert body["detail"] == body["checks"]["channel_layer"]

    def database_down() -> None:
        raise OperationalError('connection to server at "10.0.0.5" failed: password authentication failed')

    monkeypatch.setattr(ops, "_database_check", database_down)
    body = (await local.get("/readyz")).json()
    assert body["checks"]["database"] == "The database is unreachable (OperationalError)."
    assert "10.0.0.5" not in str(body) and "password" not in str(body)  # the error's words stay in the log


async def test_metrics_answer_loopback_and_elsewhere_only_with_the_token(
    application: Any, transactional_db: None, settings: Any
) -> None:
    async with client_at(application, "203.0.113.9") as remote:
        res = await remote.get("/metrics")
        assert res.status_code == 403
        assert "PLAYGROUND_METRICS_TOKEN" in res.json()["detail"]
        settings.PLAYGROUND_METRICS_TOKEN = "scrape-me-0f3a"
        res = await remote.get("/metrics")
        assert res.status_code == 401 and res.headers["WWW-Authenticate"] == "Bearer"
        res = await remote.get("/metrics", headers={"Authorization": "Bearer wrong"})
        assert res.status_code == 401
        res = await remote.get("/metrics", headers={"Authorization": "Bearer scrape-me-0f3a"})
        assert res.status_code == 200 and "playground_sessions_live" in res.text
    # Through a reverse proxy on this host, a request looks like loopback: its forwarding header says it is not.
    async with client_at(application, "127.0.0.1", **{"X-Forwarded-For": "203.0.113.9"}) as proxied:
        assert (await proxied.get("/metrics")).status_code == 401
    async with client_at(application, "::1") as local6:
        assert (await local6.get("/metrics")).status_code == 200


async def test_a_scrape_after_a_session_shows_it(
    api: httpx.AsyncClient, local: httpx.AsyncClient, watch: Any, settings: Any
) -> None:
    before = await scrape(local)
    session = await create_session(api)
    live = await scrape(local)
    assert value(live, "playground_sessions_live", upstream="emulator", state="live") == 1
    watcher = await watch(session["id"])
    for type_, body in (("conversation.item.create", USER_SAYS), ("response.create", {})):
        assert (await api.post(f"/api/sessions/{session['id']}/client-events/{type_}", json=body)).status_code == 200
    await watcher.receive_until(is_type("response.done"))
    assert (await api.post(f"/api/sessions/{session['id']}/close")).status_code == 200
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 1
    await create_session(api)
    assert (await api.post("/api/sessions", json={"upstream": "emulator"})).status_code == 429
    settings.PLAYGROUND_EMULATOR_URL = "ws://127.0.0.1:9/v1/realtime"  # nothing listens on port 9
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 5
    assert (await api.post("/api/sessions", json={"upstream": "emulator"})).status_code == 502
    await asyncio.sleep(0.1)  # the recorder's last batch
    after = await scrape(local)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("playground_relay_events_total", direction="client", type="response.create") == 1
    assert grew("playground_relay_events_total", direction="client", type="session.update") == 2
    assert grew("playground_relay_events_total", direction="server", type="response.done") == 1
    assert grew("playground_relay_events_total", direction="server", type="response.output_text.delta") >= 1
    assert grew("playground_upstream_connect_seconds_count", upstream="emulator") == 2
    assert grew("playground_upstream_faults_total", upstream="emulator", kind="unreachable") == 1
    assert grew("playground_session_refusals_total", limit="user_live") == 1
    assert grew("playground_watcher_delivery_lag_seconds_count") >= 1
    assert grew("playground_recorder_write_seconds_count") >= 1
    assert value(after, "playground_recorder_queue_frames") >= 0
    assert value(after, "playground_worker_up") >= 1
    assert value(after, "playground_sessions_live", upstream="emulator", state="live") == 1
    # django-prometheus: requests by view and status, and database queries.
    assert grew("django_http_responses_total_by_status_view_method_total", status="429", method="POST") == 1
    assert grew("django_db_execute_total") > 0
