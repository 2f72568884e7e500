"""The services suite really runs on PostgreSQL and Redis (.ci/run sets their URLs).

Fails loudly when the URLs are missing or the services are down: a services run
that silently fell back to SQLite and the in-memory layer would prove nothing.
"""

from __future__ import annotations

import os

import pytest
from channels.layers import get_channel_layer
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
    assert type(layer).__module__.startswith("channels_redis")
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "ping", "n": 1})
    assert (await layer.receive(channel)) == {"type": "ping", "n": 1}
