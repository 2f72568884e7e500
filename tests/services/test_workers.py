"""Several workers for real: two uvicorn processes sharing PostgreSQL and Redis (issue 6).

A session opened on worker A is driven by REST calls served by worker B while a WebSocket watcher
on B receives it; then A is SIGKILLed: B's sweeper finds the stale lease, B's watcher is told, and
the session resumes on B with its conversation. Like test_backends.py this fails, never skips, when
PostgreSQL or Redis is missing: a services run that proved nothing must not pass.

The workers use a database of their own (created and dropped here, so it never clashes with
pytest-django's test database or another run's) and a Redis database number of their own.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import pytest
import redis
from websockets.asyncio.client import connect

from playground.realtime import selectors
from playground.realtime.runtime import lease
from tests.live_server import manage, served_process

pytestmark = pytest.mark.services

REDIS_DB = 11  # the workers' channel layer, away from db 0 (the suite's own)
USER_SAYS = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello from worker B"}]},
}


def _with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


@pytest.fixture
def services_env() -> Iterator[dict[str, str]]:
    """PLAYGROUND_DATABASE_URL and PLAYGROUND_REDIS_URL for the workers, on a database of their own."""
    database_url = os.environ.get("PLAYGROUND_DATABASE_URL", "")
    redis_url = os.environ.get("PLAYGROUND_REDIS_URL", "")
    assert database_url.startswith(("postgres://", "postgresql://")), "set PLAYGROUND_DATABASE_URL (PostgreSQL)"
    assert redis_url.startswith("redis://"), "set PLAYGROUND_REDIS_URL for the services suite"
    redis.Redis.from_url(redis_url, socket_timeout=5).ping()  # fails loudly when Redis is down
    name = f"test_workers_{os.getpid()}"
    admin = _with_path(database_url, "/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            "PLAYGROUND_DATABASE_URL": _with_path(database_url, f"/{name}"),
            "PLAYGROUND_REDIS_URL": _with_path(redis_url, f"/{REDIS_DB}"),
        }
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class WsWatcher:
    """A WebSocket watcher on one worker, collecting frames in the background."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.ws:
            batch = json.loads(text)
            assert isinstance(batch, list)
            self.frames.extend(batch)

    async def until(self, predicate: Any, within: float = 15) -> dict[str, Any]:
        deadline = time.monotonic() + within
        while True:
            for frame in self.frames:
                if predicate(frame):
                    return frame
            if self.task.done():
                self.task.result()
                raise AssertionError("the watcher's socket closed")
            if time.monotonic() > deadline:
                raise AssertionError(f"nothing matched within {within} s; last frames: {self.frames[-3:]}")
            await asyncio.sleep(0.02)


def is_type(t: str, after: int = 0) -> Any:
    return lambda f: f["seq"] is not None and f["seq"] > after and (f.get("event") or {}).get("type") == t


def is_notice(kind: str) -> Any:
    return lambda f: (f.get("notice") or {}).get("kind") == kind


async def recorded_upto(client: httpx.AsyncClient, sid: str, seq: int) -> list[dict[str, Any]]:
    """The recording once it holds `seq` (the recorder writes off the forwarding path)."""
    for _ in range(500):
        recorded: list[dict[str, Any]] = (
            await client.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})
        ).json()
        if recorded and recorded[-1]["seq"] >= seq:
            return recorded
        await asyncio.sleep(0.02)
    raise AssertionError(f"seq {seq} was not recorded within 10 s")


@pytest.fixture
async def watcher_factory() -> AsyncIterator[Any]:
    opened: list[WsWatcher] = []

    async def _open(url: str, token: str) -> WsWatcher:
        ws = await connect(url, additional_headers={"Authorization": f"Bearer {token}"}, max_size=None)
        watcher = WsWatcher(ws)
        opened.append(watcher)
        return watcher

    yield _open
    for watcher in opened:
        await watcher.ws.close()
        watcher.task.cancel()
        await asyncio.gather(watcher.task, return_exceptions=True)


async def test_a_killed_workers_session_is_interrupted_then_resumed_on_another(
    services_env: dict[str, str], tmp_path: Path, watcher_factory: Any
) -> None:
    with (
        served_process(tmp_path, env=services_env, name="worker-a") as a,
        served_process(tmp_path, env=services_env, migrate=False, name="worker-b") as b,
    ):
        token = manage(tmp_path, "create_api_token", "alice", env=services_env).strip().splitlines()[-1]
        auth = {"Authorization": f"Bearer {token}"}
        async with (
            httpx.AsyncClient(base_url=a.url, headers=auth, timeout=30) as on_a,
            httpx.AsyncClient(base_url=b.url, headers=auth, timeout=30) as on_b,
        ):
            res = await on_a.post(
                "/api/sessions", json={"upstream": "emulator", "session": {"output_modalities": ["text"]}}
            )
            assert res.status_code == 201, res.text
            sid = res.json()["id"]
            ws_url = b.url.replace("http://", "ws://") + f"/ws/sessions/{sid}/?after=0"
            watcher = await watcher_factory(ws_url, token)

            # Driven through worker B; the relay is in worker A; B's watcher sees it all.
            for type_, body in (("conversation.item.create", USER_SAYS), ("response.create", {})):
                res = await on_b.post(f"/api/sessions/{sid}/client-events/{type_}", json=body)
                assert res.status_code == 200, res.text
            done = await watcher.until(is_type("response.done"))
            deltas = [f for f in watcher.frames if is_type("response.output_text.delta")(f)]
            assert "".join(f["event"]["delta"] for f in deltas) == 'You said: "hello from worker B".'
            seqs = [f["seq"] for f in watcher.frames]
            assert seqs == list(range(1, done["seq"] + 1)), "every seq once, in order"

            # Worker A dies without a word; B's sweeper finds its lease stale. Killed once A has recorded
            # what it published: frames a dead relay never recorded are lost with it (the recording is
            # the truth), and this test checks exact seqs; test_resume.py covers that case.
            await recorded_upto(on_b, sid, done["seq"])
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(5)
            killed_at = time.monotonic()
            limit = selectors.STALE_AFTER.total_seconds() + lease.SWEEP_S + lease.HEARTBEAT_S + 3
            lost = await watcher.until(is_notice("worker_lost"), within=limit)
            took = time.monotonic() - killed_at
            assert lost["notice"]["state"] == "interrupted"
            assert lost["seq"] == done["seq"] + 1, "the notice is the recording's next seq"
            detail = (await on_b.get(f"/api/sessions/{sid}")).json()
            assert detail["state"] == "interrupted"
            assert "no heartbeat" in detail["state_reason"]
            assert detail["last_seq"] == lost["seq"]
            print(f"interrupted notice on worker B {took:.1f} s after SIGKILL of worker A")

            # Resumed on B: a new relay there, seq going on, the conversation replayed.
            res = await on_b.post(f"/api/sessions/{sid}/resume")
            assert res.status_code == 200, res.text
            assert res.json()["state"] == "live"
            resumed = await watcher.until(is_notice("resumed"))
            assert resumed["seq"] == lost["seq"] + 1
            assert resumed["notice"]["state"] == "live" and resumed["notice"]["replayed"] == 2
            res = await on_b.post(f"/api/sessions/{sid}/client-events/response.create", json={})
            assert res.status_code == 200, res.text
            answer = await watcher.until(is_type("response.done", after=resumed["seq"]))
            # The emulator answers the conversation's last user message: the replayed one.
            said = json.dumps(answer["event"]["response"]["output"])
            assert "hello from worker B" in said
            seqs = [f["seq"] for f in watcher.frames if f["seq"] is not None]
            assert seqs == list(range(1, answer["seq"] + 1)), "no gap, no repeat across the resume"

            recorded = await recorded_upto(on_b, sid, answer["seq"])
            assert [f["seq"] for f in recorded][: answer["seq"]] == list(range(1, answer["seq"] + 1))
            replayed = [
                f["event"]["item"]
                for f in recorded
                if f["seq"] > resumed["seq"] and f["direction"] == "client"
                if f["event"]["type"] == "conversation.item.create"
            ]
            assert [(i["role"], i["content"][0]["text"]) for i in replayed] == [
                ("user", "hello from worker B"),
                ("assistant", 'You said: "hello from worker B".'),
            ]

            closed = await on_b.post(f"/api/sessions/{sid}/close")
            assert closed.status_code == 200, closed.text
            assert closed.json()["state"] == "ended"
            assert b.proc.poll() is None, b.log()
