"""Leases and resume (issue 6), in one process: SQLite, the in-memory layer, the emulator.

A worker's death is simulated faithfully enough for the lease: the relay's task is cancelled (what
a stopping process does; a SIGKILLed one does even less) and its heartbeat is made stale, so the
sweeper ends the session exactly as it would for a dead worker. tests/services/test_workers.py
does it for real, with two uvicorn processes and a SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from typing import Any

import httpx
from channels.db import database_sync_to_async
from django.utils import timezone

from playground.realtime.models import RealtimeSession
from playground.realtime.runtime import relay as relay_module
from tests.conftest import is_type, recorded_events
from tests.test_relay_path import create_session

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def user_says(text: str, item_id: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    if item_id:
        item["id"] = item_id
    return {"type": "conversation.item.create", "item": item}


def is_notice(kind: str) -> Any:
    return lambda f: (f.get("notice") or {}).get("kind") == kind


async def send(api: httpx.AsyncClient, session_id: str, type_: str, body: dict[str, Any]) -> int:
    res = await api.post(f"/api/sessions/{session_id}/client-events/{type_}", json=body)
    assert res.status_code == 200, res.text
    return int(res.json()["seq"])


async def kill_relay(session_id: str, *, stale: bool = True) -> None:
    """Stop the session's relay as a dying worker would, and let its lease go stale.

    A dead worker's recorder dies with it; this test process's recorder lives on and would write the
    relay's last frames late, after the sweeper's notice took their seqs: they are recorded first."""
    from playground.realtime.runtime import lease

    relay = next(r for r in lease.keeper_for_loop()._relays.values() if getattr(r, "session_id", None) == session_id)
    task = next(t for t in relay_module._running if t.get_name() == f"relay {session_id}")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await recorded_upto(session_id, relay.seq)  # type: ignore[attr-defined]
    if stale:
        await database_sync_to_async(RealtimeSession.objects.filter(pk=session_id).update)(
            heartbeat_at=timezone.now() - timedelta(minutes=1)
        )


async def recorded_upto(session_id: str, seq: int) -> list[Any]:
    """The recording once the recorder (which writes off the forwarding path) has reached `seq`."""
    for _ in range(250):
        events = await recorded_events(session_id)
        if events and events[-1].seq >= seq:
            return events
        await asyncio.sleep(0.02)
    raise AssertionError(f"seq {seq} was not recorded")


def frames_of(events: list[Any]) -> list[dict[str, Any]]:
    return [{"seq": e.seq, "direction": e.direction, "type": e.type, "data": json.loads(e.data)} for e in events]


async def test_an_interrupted_session_resumes_with_its_conversation(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(
        api, session={"output_modalities": ["text"], "instructions": "Be brief.", "tools": [WEATHER_TOOL]}
    )
    sid = session["id"]
    watcher = await watch(sid)
    # Later settings, an item deleted, a function call answered: all of it must come back.
    await send(api, sid, "session.update", {"session": {"instructions": "Be very brief."}})
    await send(api, sid, "conversation.item.create", user_says("forget this", item_id="gone"))
    await send(api, sid, "conversation.item.delete", {"item_id": "gone"})
    await send(api, sid, "conversation.item.create", user_says("hello there"))
    await send(api, sid, "response.create", {})
    await watcher.receive_until(lambda f: is_type("response.done")(f))
    await send(api, sid, "conversation.item.create", user_says("what is the weather in Paris"))
    await send(api, sid, "response.create", {})
    frames = await watcher.receive_until(
        lambda f: is_type("response.done")(f) and f["event"]["response"]["output"][0]["type"] == "function_call"
    )
    call = next(
        f["event"]["item"]
        for f in frames
        if is_type("response.output_item.done")(f) and f["event"]["item"]["type"] == "function_call"
    )
    await send(
        api,
        sid,
        "conversation.item.create",
        {"item": {"type": "function_call_output", "call_id": call["call_id"], "output": "sunny, 21 C"}},
    )
    await send(api, sid, "response.create", {})
    frames = await watcher.receive_until(lambda f: is_type("response.done")(f) and "sunny" in json.dumps(f["event"]))
    before = frames_of(await recorded_upto(sid, frames[-1]["seq"]))
    # The conversation as the emulator holds it, for comparison after the resume.
    expected_ids = []
    for f in before:
        if f["type"] == "conversation.item.done":
            expected_ids.append(f["data"]["item"]["id"])
    assert "gone" in expected_ids
    expected_ids.remove("gone")

    await kill_relay(sid)
    listed = (await api.get("/api/sessions")).json()
    assert listed[0]["state"] == "interrupted"
    assert "no heartbeat" in listed[0]["state_reason"]
    lost = await watcher.receive_until(is_notice("worker_lost"))
    lost_frame = next(f for f in lost if is_notice("worker_lost")(f))
    assert lost_frame["seq"] == before[-1]["seq"] + 1
    assert lost_frame["notice"]["state"] == "interrupted"

    res = await api.post(f"/api/sessions/{sid}/resume")
    assert res.status_code == 200, res.text
    assert res.json()["state"] == "live"
    assert res.json()["state_reason"] == ""
    resumed = await watcher.receive_until(is_notice("resumed"))
    notice = next(f for f in resumed if is_notice("resumed")(f))
    assert notice["seq"] == lost_frame["seq"] + 1
    assert notice["notice"]["state"] == "live"
    assert notice["notice"]["replayed"] == len(expected_ids)

    # The watcher, connected before the interruption, drives the resumed relay too.
    await watcher.send({"type": "response.create"})
    frames = await watcher.receive_until(lambda f: f["seq"] > notice["seq"] and is_type("response.done")(f))
    answer = next(f for f in frames if f["seq"] > notice["seq"] and is_type("response.done")(f))
    # The emulator answers the conversation's last user message or tool output: the replayed one.
    assert "sunny, 21 C" in json.dumps(answer["event"]["response"]["output"])

    after = frames_of(await recorded_upto(sid, frames[-1]["seq"]))
    assert [f["seq"] for f in after] == list(range(1, len(after) + 1))
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    new = [f for f in after if f["seq"] > lost_frame["seq"]]
    assert [f["type"] for f in new[:3]] == ["resumed", "session.created", "session.update"]
    assert new[2]["direction"] == "client"
    settings = new[2]["data"]["session"]
    assert settings["instructions"] == "Be very brief."
    assert settings["tools"][0]["name"] == "get_weather"
    replayed = [
        f["data"]["item"] for f in new if f["direction"] == "client" and f["type"] == "conversation.item.create"
    ]
    assert [item["id"] for item in replayed] == expected_ids
    assert [item["type"] for item in replayed] == [
        "message",
        "message",
        "message",
        "function_call",
        "function_call_output",
        "message",
    ]
    assert replayed[1] == {
        "type": "message",
        "id": expected_ids[1],
        "role": "assistant",
        "content": [{"type": "output_text", "text": 'You said: "hello there".'}],
    }
    assert replayed[3]["call_id"] == call["call_id"]
    assert json.loads(replayed[3]["arguments"]) == json.loads(call["arguments"])
    server_items = [f["data"]["item"]["id"] for f in new if f["type"] == "conversation.item.done"]
    assert server_items[: len(expected_ids)] == expected_ids

    detail = (await api.get(f"/api/sessions/{sid}")).json()
    assert detail["state"] == "live"
    closed = await api.post(f"/api/sessions/{sid}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "ended"


async def test_resume_is_refused_in_words(api: httpx.AsyncClient, other_token: str, application: Any) -> None:
    session = await create_session(api)
    sid = session["id"]
    live = await api.post(f"/api/sessions/{sid}/resume")
    assert live.status_code == 409
    assert "live" in live.json()["detail"]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {other_token}"},
    ) as stranger:
        assert (await stranger.post(f"/api/sessions/{sid}/resume")).status_code == 404
    await api.post(f"/api/sessions/{sid}/close")
    ended = await api.post(f"/api/sessions/{sid}/resume")
    assert ended.status_code == 409
    assert "Closed by the user" in ended.json()["detail"]
    assert "time limit" in ended.json()["detail"]
    assert (await api.post("/api/sessions/not-a-session/resume")).status_code == 404


async def test_a_session_the_upstream_ended_at_its_time_limit_resumes(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api, emulator={"lifetime": 1})
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "conversation.item.create", user_says("remember me"))
    frames = await watcher.receive_until(is_notice("upstream_closed"), within=15)
    end = next(f for f in frames if is_notice("upstream_closed")(f))
    assert end["notice"]["state"] == "ended"
    assert "expired" in end["notice"]["message"]

    res = await api.post(f"/api/sessions/{sid}/resume")
    assert res.status_code == 200, res.text
    await send(api, sid, "response.create", {})
    frames = await watcher.receive_until(lambda f: f["seq"] > end["seq"] and is_type("response.done")(f))
    assert "remember me" in json.dumps(frames[-1]["event"]["response"]["output"])
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    await api.post(f"/api/sessions/{sid}/close")


async def test_a_relay_that_lost_its_lease_stops_without_writing(api: httpx.AsyncClient, watch: Any) -> None:
    """A worker too slow to renew its lease (not dead): the sweeper wins, the relay stands down."""
    from playground.realtime.runtime import lease, state

    session = await create_session(api)
    sid = session["id"]
    watcher = await watch(sid)
    await database_sync_to_async(RealtimeSession.objects.filter(pk=sid).update)(
        heartbeat_at=timezone.now() - timedelta(minutes=1)
    )
    # A sweep may lose to the relay's recorder writing the same seq (IntegrityError: rolled back, the
    # next sweep tries again), or to this loop's own sweeper; within a few sweeps it is interrupted once.
    for _ in range(5):
        await database_sync_to_async(state.sessions_interrupt_stale)()
        if (await RealtimeSession.objects.aget(pk=sid)).state == "interrupted":
            break
    assert await database_sync_to_async(state.sessions_interrupt_stale)() == []  # exactly once
    await lease.keeper_for_loop().beat()
    task = next((t for t in relay_module._running if t.get_name() == f"relay {sid}"), None)
    if task is not None:
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
    events = frames_of(await recorded_events(sid))
    assert events[-1]["type"] == "worker_lost"
    assert [f["type"] for f in events].count("worker_lost") == 1
    row = await RealtimeSession.objects.aget(pk=sid)
    assert row.state == "interrupted" and row.last_seq == events[-1]["seq"]
    res = await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
    assert res.status_code == 409
    await watcher.close()


async def test_one_heartbeat_renews_every_relay_of_the_process(api: httpx.AsyncClient, monkeypatch: Any) -> None:
    from playground.realtime.runtime import lease, state

    first, second = await create_session(api), await create_session(api)
    for sid in (first["id"], second["id"]):
        seq = await send(api, sid, "conversation.item.create", user_says("count me"))
        await recorded_upto(sid, seq)
    await asyncio.sleep(0.2)  # the recorder tells each relay what is recorded just after writing
    almost_stale = timezone.now() - timedelta(seconds=5)
    await database_sync_to_async(RealtimeSession.objects.filter(pk__in=[first["id"], second["id"]]).update)(
        heartbeat_at=almost_stale, last_seq=0
    )
    calls: list[dict[str, int]] = []
    real = state.sessions_heartbeat

    def counting(*, held: dict[str, int]) -> list[str]:
        calls.append(held)
        return real(held=held)

    monkeypatch.setattr(state, "sessions_heartbeat", counting)
    await lease.keeper_for_loop().beat()
    # One call (one UPDATE) per beat holds both relays (the periodic beat may have run as well).
    assert calls and all(len(held) == 2 for held in calls)
    for sid in (first["id"], second["id"]):
        row = await RealtimeSession.objects.aget(pk=sid)
        assert row.heartbeat_at is not None and row.heartbeat_at > almost_stale
        assert row.last_seq >= 3


async def test_two_resumes_at_once_one_wins(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    sid = session["id"]
    await send(api, sid, "conversation.item.create", user_says("only once"))
    await kill_relay(sid)
    results = await asyncio.gather(*(api.post(f"/api/sessions/{sid}/resume") for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 409]
    winner = next(r for r in results if r.status_code == 200)
    assert winner.json()["state"] == "live"
    for _ in range(500):  # the notice is recorded off the forwarding path
        events = frames_of(await recorded_events(sid))
        if any(f["type"] == "resumed" for f in events):
            break
        await asyncio.sleep(0.02)
    assert [f["type"] for f in events].count("resumed") == 1, [(f["seq"], f["direction"], f["type"]) for f in events]
    await api.post(f"/api/sessions/{sid}/close")


async def test_watchers_learn_of_the_interruption_even_past_what_was_recorded(
    api: httpx.AsyncClient, watch: Any
) -> None:
    """The dead relay published frames it never recorded: the notice takes the recording's next seq,
    one the watcher already saw, and still reaches it; after a resume the watcher follows the recording."""
    from playground.realtime.models import SessionEvent

    session = await create_session(api)
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "conversation.item.create", user_says("lost in the crash"))
    await send(api, sid, "response.create", {})
    frames = await watcher.receive_until(is_type("response.done"))
    last = frames[-1]["seq"]
    await recorded_upto(sid, last)
    await kill_relay(sid, stale=False)
    # As if the last two frames had been published but not yet written when the worker died.
    await database_sync_to_async(SessionEvent.objects.filter(session_id=sid, seq__gt=last - 2).delete)()
    await database_sync_to_async(RealtimeSession.objects.filter(pk=sid).update)(
        last_seq=last - 2, heartbeat_at=timezone.now() - timedelta(minutes=1)
    )
    await api.get("/api/sessions")  # sweeps (the sweeper would, within 2 s)
    lost = await watcher.receive_until(is_notice("worker_lost"))
    notice = next(f for f in lost if is_notice("worker_lost")(f))
    assert notice["seq"] == last - 1
    assert (await api.post(f"/api/sessions/{sid}/resume")).status_code == 200
    resumed = await watcher.receive_until(is_notice("resumed"))
    assert next(f for f in resumed if is_notice("resumed")(f))["seq"] == last
    await send(api, sid, "response.create", {})
    after = await watcher.receive_until(lambda f: f["seq"] > last and is_type("response.done")(f))
    position = next(i for i, f in enumerate(after) if is_notice("worker_lost")(f))
    tail = [f["seq"] for f in after[position:]]
    assert tail == list(range(last - 1, last - 1 + len(tail))), "from the notice on, the recording's seqs"
    await api.post(f"/api/sessions/{sid}/close")
