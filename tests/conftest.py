"""Shared fixtures: a user with an API token, HTTP and WebSocket clients on the full ASGI app."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from playground.accounts.services import api_token_create, user_get_or_create
from tests.loopback import LoopbackGuard

# Yandex's credentials and folder: a developer may have them exported; no test may use them by accident.
YC_VARIABLES = ("YC_API_KEY", "YC_IAM_TOKEN", "YC_FOLDER_ID")


@pytest.fixture(autouse=True)
def _no_yandex(monkeypatch: pytest.MonkeyPatch, settings: Any) -> Any:
    """No test reaches Yandex: every YC_* variable is cleared from the environment (servers and scripts the
    test starts inherit it) and from the settings (read once, at start-up), and nothing may leave loopback.

    A test that plays Yandex sets the settings again itself, pointing PLAYGROUND_YANDEX_URL at a local fake
    (tests/test_yandex_upstream.py); tests/test_no_yandex.py runs tests with real-looking credentials exported."""
    import os

    for name in [n for n in os.environ if n.startswith("YC_")]:
        monkeypatch.delenv(name)
    for name in YC_VARIABLES:
        setattr(settings, name, "")
    guard = LoopbackGuard()
    guard.install(monkeypatch)
    yield guard
    assert not guard.refused, f"the test tried to leave loopback: {guard.refused}"


@pytest.fixture(autouse=True)
def _media_of_its_own(monkeypatch: pytest.MonkeyPatch, settings: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Recordings' media (the `recordings` storage) go to a directory of each test's own: never a developer's
    var/media/, nor a bucket of theirs. The PLAYGROUND_MEDIA_* variables are cleared from the environment, so
    servers and scripts a test starts keep theirs in their own PLAYGROUND_VAR_DIR; tests of S3 configure it
    themselves (tests/services/test_media_s3.py)."""
    import os

    for name in [n for n in os.environ if n.startswith("PLAYGROUND_MEDIA_")]:
        monkeypatch.delenv(name)
    location = str(tmp_path_factory.mktemp("media", numbered=True))
    storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    settings.STORAGES = {
        **settings.STORAGES,
        "recordings": {**storage, "OPTIONS": {"location": location, "allow_overwrite": True}},
    }


@pytest.fixture
def application() -> Any:
    from playground.asgi import application

    return application


@pytest.fixture
def user_and_token(transactional_db: None) -> tuple[Any, str]:
    user, _ = user_get_or_create(username="alice")
    return user, api_token_create(user=user)


@pytest.fixture
def token(user_and_token: tuple[Any, str]) -> str:
    return user_and_token[1]


@pytest.fixture
def other_token(transactional_db: None) -> str:
    user, _ = user_get_or_create(username="mallory")
    return api_token_create(user=user)


async def _shutdown_relays_and_threads() -> None:
    from asgiref.sync import sync_to_async
    from channels.layers import channel_layers
    from django.db import connections

    from playground.checks.services import check_runs_shutdown
    from playground.db import db_close_all
    from playground.realtime.runtime.relay import relays_shutdown
    from playground.recordings.services import reruns_shutdown

    await check_runs_shutdown()  # a check run drives relays: stopped first
    await reruns_shutdown()  # a re-run drives a relay: stopped first
    await relays_shutdown()
    layer = channel_layers.backends.get("default")
    if layer is not None and hasattr(layer, "close_pools"):
        await layer.close_pools()
    # Threads that keep their connection (asgiref's, playground.db's): a test database can't be
    # dropped (PostgreSQL) or flushed cleanly under them.
    await sync_to_async(connections.close_all)()
    await db_close_all()


@pytest.fixture
async def api(application: Any, token: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the full ASGI application, authenticated with a bearer token.

    Its teardown stops the relays the test started: it runs before the database fixture's
    flush (it depends on it), so no relay writes while the tables are truncated."""
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client
    await _shutdown_relays_and_threads()


@pytest.fixture(autouse=True)
async def _fresh_layer() -> AsyncIterator[None]:
    """Each test gets a channel layer of its own event loop, and nothing outlives it."""
    from channels.layers import channel_layers

    from playground.accounts.selectors import api_token_cache_clear

    # channels_redis binds locks to the loop that first used them: a layer kept from an
    # earlier test (another loop) would fail with "bound to a different event loop".
    channel_layers.backends.clear()
    api_token_cache_clear()
    yield
    await _shutdown_relays_and_threads()


class Watcher:
    """A WebSocket watcher of a session, collecting frames from message arrays."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.frames: list[dict[str, Any]] = []
        self.messages = 0

    async def receive_until(self, predicate: Any, within: float = 10) -> list[dict[str, Any]]:
        import asyncio

        async with asyncio.timeout(within):
            while not any(predicate(f) for f in self.frames):
                text = await self.communicator.receive_from(timeout=within)
                batch = json.loads(text)
                assert isinstance(batch, list), f"a message must be a JSON array of frames, got {text[:100]}"
                self.messages += 1
                self.frames.extend(batch)
        return self.frames

    def types(self, direction: str | None = None) -> list[str]:
        return [
            f["event"]["type"]
            for f in self.frames
            if "event" in f and (direction is None or f["direction"] == direction)
        ]

    async def send(self, event: dict[str, Any]) -> None:
        await self.communicator.send_to(text_data=json.dumps(event))

    async def close(self) -> None:
        await self.communicator.disconnect()


@pytest.fixture
async def watch(application: Any, token: str) -> AsyncIterator[Any]:
    watchers: list[Watcher] = []

    async def _watch(session_id: str, *, after: int = 0, bearer: str | None = None, extra: str = "") -> Watcher:
        communicator = WebsocketCommunicator(
            application,
            f"/ws/sessions/{session_id}/?after={after}{extra}",
            headers=[(b"authorization", f"Bearer {bearer or token}".encode()), (b"host", b"testserver")],
        )
        connected, code = await communicator.connect(timeout=10)
        assert connected, f"websocket refused with close code {code}"
        watcher = Watcher(communicator)
        watchers.append(watcher)
        return watcher

    yield _watch
    for watcher in watchers:
        await watcher.close()


def is_type(t: str) -> Any:
    return lambda f: "event" in f and f["event"]["type"] == t


def recorded_texts() -> list[str]:
    """Every recorded event's text, of every session, as read back: what a search for a secret must see."""
    from playground.realtime.models import RealtimeSession
    from playground.realtime.reading import frames_read

    return [f.data for pk in RealtimeSession.objects.values_list("pk", flat=True) for f in frames_read(session_id=pk)]


async def recorded_events(session_id: str) -> list[Any]:
    """Every recorded frame as the playground reads it back (blocks opened, audio put back)."""
    from playground.realtime.reading import frames_read

    return await database_sync_to_async(lambda: list(frames_read(session_id=session_id)))()


@pytest.fixture(scope="session", autouse=True)
def _release_test_database(django_db_setup: None, django_db_blocker: Any) -> Any:
    """On PostgreSQL, end connections left in finished worker threads so the test database can be dropped."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
