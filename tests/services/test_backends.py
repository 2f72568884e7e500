"""The services suite really runs on PostgreSQL and Redis (.ci/run sets their URLs).

Fails loudly when the URLs are missing or the services are down: a services run
that silently fell back to SQLite and the in-memory layer would prove nothing.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

import psycopg
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.db import connection

pytestmark = pytest.mark.services


def test_database_is_postgresql(transactional_db: None) -> None:
    assert os.environ.get("PLAYGROUND_DATABASE_URL"), "set PLAYGROUND_DATABASE_URL for the services suite"
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


async def test_channel_layer_is_redis_and_delivers() -> None:
    assert os.environ.get("PLAYGROUND_REDIS_URL"), "set PLAYGROUND_REDIS_URL for the services suite"
    layer = get_channel_layer()
    assert isinstance(layer, RedisPubSubChannelLayer | RedisChannelLayer), type(layer)
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ping", "n": 1})
    assert (await layer.receive(channel)) == {"type": "ping", "n": 1}


async def test_batched_publishes_arrive_complete_and_in_order() -> None:
    """The relay's publishes (group_send_nowait) go out as one pipeline per loop round: three groups'
    messages interleaved, 600 queued at once and more queued while those are written, all arrive at
    their group's watcher (another worker: a layer of its own) once and in order. drain() returns
    only when everything queued is in Redis: the publisher's connections are closed right after it."""
    from playground.realtime.runtime import messages
    from playground.realtime.runtime.pubsub_layer import BatchingPubSubChannelLayer

    hosts = [os.environ["PLAYGROUND_REDIS_URL"]]
    relay_worker, watch_worker = BatchingPubSubChannelLayer(hosts=hosts), BatchingPubSubChannelLayer(hosts=hosts)
    try:
        watchers = {}
        for group in ("a", "b", "c"):
            watchers[group] = await watch_worker.new_channel()
            await watch_worker.group_add(group, watchers[group])
        for n in range(200):
            for group in watchers:
                relay_worker.group_send_nowait(group, {"type": messages.FRAMES, "n": n})
        for _ in range(3):  # until the writer is sending the first batch: these go in the next one
            await asyncio.sleep(0)
        for group in watchers:
            relay_worker.group_send_nowait(group, {"type": messages.FRAMES, "n": 200})
        await relay_worker.drain()
        await relay_worker.flush()  # drops whatever was still queued
        for group, channel in watchers.items():
            got = [(await asyncio.wait_for(watch_worker.receive(channel), 5))["n"] for _ in range(201)]
            assert got == list(range(201)), group
    finally:
        await relay_worker.flush()
        await watch_worker.flush()


async def test_opening_many_sessions_holds_a_few_database_connections(api: Any, settings: Any) -> None:
    """API calls (bearer and login cookie) run their ORM code on the few pool threads that keep a
    connection (playground/db.py). Django's async ORM calls would each open a connection on a thread of
    the request's own, kept open past the request: two workers opening 200 sessions reached
    PostgreSQL's limit of 100."""
    from tests.test_abuse import _cookie_client

    def connections() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
            return int(cursor.fetchone()[0])

    settings.PLAYGROUND_SESSIONS_PER_MINUTE = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0  # no limit
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 100
    cookie, csrf = await _cookie_client(api, "alice")
    before = await database_sync_to_async(connections)()
    for client, headers in ((api, {}), (cookie, {"X-CSRFToken": csrf})):
        body = {"upstream": "emulator", "session": {"output_modalities": ["text"]}}
        opened = await asyncio.gather(*(client.post("/api/sessions", json=body, headers=headers) for _ in range(20)))
        assert [res.status_code for res in opened] == [201] * 20, opened[0].text
        for res in opened:
            closed = await client.post(f"/api/sessions/{res.json()['id']}/close", headers=headers)
            assert closed.status_code == 200, closed.text
    more = await database_sync_to_async(connections)() - before
    assert more <= 8, f"opening and closing 40 sessions left {more} more database connections"


def test_make_migrate_creates_a_missing_postgresql_database(tmp_path: Any) -> None:
    """`make serve` on a new server: the database in PLAYGROUND_DATABASE_URL is created, not a traceback."""
    from tests.test_settings import run

    name = f"ensure_{os.getpid()}"
    url = f"postgres://postgres@127.0.0.1:5432/{name}"
    server = "postgresql://postgres@127.0.0.1:5432/postgres"
    try:
        res = run(["manage.py", "database_ensure"], {"PLAYGROUND_DATABASE_URL": url}, tmp_path)
        assert res.returncode == 0 and f"Created the database '{name}'" in res.stdout, res.stdout + res.stderr
        res = run(["manage.py", "database_ensure"], {"PLAYGROUND_DATABASE_URL": url}, tmp_path)
        assert (res.returncode, res.stdout, res.stderr) == (0, "", ""), "a second run says and does nothing"
        with psycopg.connect(server, autocommit=True) as pg:
            assert pg.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() == (1,)
    finally:
        with psycopg.connect(server, autocommit=True) as pg:
            pg.execute(f'DROP DATABASE IF EXISTS "{name}"')
    # A server that does not answer: one line in words, no password, no traceback.
    res = run(
        ["manage.py", "database_ensure"],
        {"PLAYGROUND_DATABASE_URL": f"postgres://postgres:pw-9z@127.0.0.1:1/{name}"},
        tmp_path,
    )
    assert res.returncode == 1 and "Traceback" not in res.stderr and "pw-9z" not in res.stderr, res.stderr
    assert f"PostgreSQL at 127.0.0.1:1 could not be used to find or create the database '{name}'" in res.stderr
