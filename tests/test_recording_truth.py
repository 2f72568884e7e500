"""The recording is the truth: lost layer messages, stale relays and trimmed audio."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from playground.realtime.models import RealtimeSession
from playground.realtime.runtime import lease, messages
from tests.conftest import is_type
from tests.test_relay_path import USER_SAYS, create_session


async def test_watcher_fills_dropped_batches_from_the_recording(
    api: httpx.AsyncClient, watch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    layer = get_channel_layer()
    real_group_send = layer.group_send
    sent = {"n": 0, "dropped": 0}

    async def lossy_group_send(group: str, message: dict[str, Any]) -> None:
        # Like a full channel-layer queue: every third batch silently vanishes.
        sent["n"] += 1
        if message["type"] == messages.FRAMES and sent["n"] % 3 == 0:
            sent["dropped"] += 1
            return
        await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", lossy_group_send)
    if hasattr(layer, "group_send_nowait"):
        real_nowait = layer.group_send_nowait

        def lossy_nowait(group: str, message: dict[str, Any]) -> None:
            sent["n"] += 1
            if message["type"] == messages.FRAMES and sent["n"] % 3 == 0:
                sent["dropped"] += 1
                return
            real_nowait(group, message)

        monkeypatch.setattr(layer, "group_send_nowait", lossy_nowait)
    session = await create_session(api, emulator={"pace": 200})
    watcher = await watch(session["id"])
    await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    await api.post(
        f"/api/sessions/{session['id']}/client-events/response.create",
        json={"response": {"metadata": {"emulator_words": "60"}}},
    )
    frames = await watcher.receive_until(is_type("response.done"))
    assert sent["dropped"] >= 5
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


def drop_batches_with(monkeypatch: pytest.MonkeyPatch, text: str) -> dict[str, int]:
    """The channel layer loses every batch of frames whose text holds `text` (as a failed publish to Redis
    would): a lost *last* batch has no next batch whose seq would show the gap."""
    layer = get_channel_layer()
    dropped = {"n": 0}
    real_group_send, real_nowait = layer.group_send, getattr(layer, "group_send_nowait", None)

    def lost(message: dict[str, Any]) -> bool:
        if message["type"] == messages.FRAMES and text in message["text"]:
            dropped["n"] += 1
            return True
        return False

    async def lossy_group_send(group: str, message: dict[str, Any]) -> None:
        if not lost(message):
            await real_group_send(group, message)

    monkeypatch.setattr(layer, "group_send", lossy_group_send)
    if real_nowait is not None:
        monkeypatch.setattr(
            layer, "group_send_nowait", lambda group, message: lost(message) or real_nowait(group, message)
        )
    return dropped


async def test_a_lost_last_batch_reaches_the_watcher_from_the_recording(
    api: httpx.AsyncClient, watch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay, quiet with everything recorded, tells its watchers its seq; they fill the rest."""
    dropped = drop_batches_with(monkeypatch, '"type":"response.done"')
    session = await create_session(api)
    watcher = await watch(session["id"])
    await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    await api.post(f"/api/sessions/{session['id']}/client-events/response.create", json={})
    frames = await watcher.receive_until(is_type("response.done"), within=5)
    assert dropped["n"] == 1
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))


async def test_a_lost_last_batch_reaches_the_sse_stream_from_the_recording(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = drop_batches_with(monkeypatch, '"type":"response.done"')
    session = await create_session(api)
    await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/response.create",
        json={},
        headers={"Accept": "text/event-stream"},
        timeout=10,
    )
    names = [line.removeprefix("event: ") for line in res.text.splitlines() if line.startswith("event: ")]
    assert dropped["n"] == 1
    assert names[0] == "response.create" and names[-1] == "response.done", names


async def test_stale_live_session_is_shown_interrupted(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    # As if the worker holding the relay had died a minute ago: its heartbeats stop (a beat landing between
    # the update and the listing renewed the lease: CI saw it live once), and the last one is old.
    await lease.keeper_for_loop().stop()
    await database_sync_to_async(RealtimeSession.objects.filter(pk=session["id"]).update)(
        heartbeat_at=timezone.now() - timedelta(minutes=1)
    )
    listed = (await api.get("/api/sessions")).json()
    assert listed[0]["state"] == "interrupted"
    assert "no heartbeat" in listed[0]["state_reason"]
    res = await api.post(f"/api/sessions/{session['id']}/client-events/response.create", json={})
    assert res.status_code == 409


async def test_trimmed_audio_says_so_and_the_recording_keeps_it_whole(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    audio = base64.b64encode(b"\x01\x02" * 4000).decode()
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/input_audio_buffer.append", json={"audio": audio}
    )
    seq = res.json()["seq"]
    trimmed = await watch(session["id"], extra="&trim=1")
    frames = await trimmed.receive_until(lambda f: f["seq"] == seq)
    frame = next(f for f in frames if f["seq"] == seq)
    assert len(frame["event"]["audio"]) == 64
    assert frame["trimmed"] == {"event.audio": {"chars": len(audio), "bytes": 8000}}
    full = (await api.get(f"/api/sessions/{session['id']}/events", params={"after": seq - 1, "limit": 1})).json()
    assert full[0]["event"]["audio"] == audio
    short = (await api.get(f"/api/sessions/{session['id']}/events", params={"after": seq - 1, "trim": True})).json()
    assert short[0]["trimmed"]["event.audio"]["bytes"] == 8000
    assert json.dumps(short).count(audio) == 0


@pytest.mark.django_db(transaction=True)
def test_a_batch_written_twice_is_recorded_once() -> None:
    """The recorder retries a batch until the database answers, so a batch may land twice (on
    PostgreSQL the first try is a COPY, which cannot skip a row that is already there)."""
    from django.contrib.auth.models import User

    from playground.realtime.runtime.frames import Frame
    from playground.realtime.runtime.recorder import events_record

    user = User.objects.create_user(username="twice", password="x" * 12)
    session = RealtimeSession.objects.create(owner=user)
    sid = str(session.pk)

    def frame(seq: int) -> Frame:
        return Frame(seq=seq, direction="server", ts=1.0 + seq, type="delta", data=f'{{"n":{seq}}}')

    events_record(batch=[(sid, frame(1)), (sid, frame(2))])
    events_record(batch=[(sid, frame(1)), (sid, frame(2)), (sid, frame(3))])  # a retry, one row new
    recorded = list(session.events.order_by("seq").values_list("seq", "data"))
    assert recorded == [(1, '{"n":1}'), (2, '{"n":2}'), (3, '{"n":3}')]
