"""The whole path through the real ASGI application, against the emulator on a real socket.

REST creates a session and sends client events; the WebSocket (and SSE) receive
what the emulator streams; the recording holds every event both ways.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from tests.conftest import is_type, recorded_events

USER_SAYS = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]},
}


async def create_session(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("upstream", "emulator")
    body.setdefault("session", {"output_modalities": ["text"]})
    res = await api.post("/api/sessions", json=body)
    assert res.status_code == 201, res.text
    return res.json()


def answer_text(frames: list[dict[str, Any]]) -> str:
    return "".join(
        f["event"]["delta"] for f in frames if "event" in f and f["event"]["type"] == "response.output_text.delta"
    )


async def test_text_conversation_streams_to_the_websocket_and_is_recorded(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    assert session["state"] == "live"
    assert session["ws_url"] == f"ws://testserver/ws/sessions/{session['id']}/"
    watcher = await watch(session["id"])

    res = await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    assert res.status_code == 200, res.text
    item_ack = res.json()
    assert item_ack["event_id"].startswith("evt_")
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/response.create",
        json={"type": "response.create", "event_id": "my-event-1"},
    )
    assert res.status_code == 200, res.text
    assert res.json()["event_id"] == "my-event-1"
    assert res.json()["seq"] > item_ack["seq"]

    frames = await watcher.receive_until(is_type("response.done"))
    server_types = watcher.types("server")
    assert server_types[0] == "session.created"
    for expected in ("response.created", "response.output_text.delta", "response.output_text.done", "response.done"):
        assert expected in server_types
    assert "hello there" in answer_text(frames)

    # Seq: 1, 2, 3… with no gap or repeat, both directions interleaved.
    seqs = [f["seq"] for f in frames]
    assert seqs == list(range(1, len(seqs) + 1))
    client = [f for f in frames if f["direction"] == "client"]
    assert [f["event"]["type"] for f in client] == ["session.update", "conversation.item.create", "response.create"]
    assert client[-1]["event"]["event_id"] == "my-event-1"

    # The recording holds the same events, in the same order, byte for byte.
    await asyncio.sleep(0.2)
    rows = await recorded_events(session["id"])
    assert [r.seq for r in rows[: len(frames)]] == seqs
    for row, frame in zip(rows, frames, strict=False):
        assert json.loads(row.data) == frame["event"]
        assert row.direction == frame["direction"]


@pytest.fixture
async def burst_upstream(settings: Any) -> Any:
    """An upstream that answers response.create with 500 deltas written back to back, as a fast
    server on another machine would: they reach the relay together, not one per loop round."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": {"type": "realtime"}}))
        async for text in ws:
            if json.loads(text)["type"] != "response.create":
                continue
            frames = [
                json.dumps({"type": "response.output_text.delta", "event_id": f"e{i}", "delta": f"w{i} "})
                for i in range(1, 501)
            ]
            frames.append(
                json.dumps({"type": "response.done", "event_id": "e501", "response": {"status": "completed"}})
            )
            for frame in frames:
                await ws.send(frame)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        settings.PLAYGROUND_EMULATOR_URL = f"ws://127.0.0.1:{port}/v1/realtime"
        yield


async def test_burst_arrives_batched_in_fewer_messages_than_events(
    api: httpx.AsyncClient, watch: Any, burst_upstream: None
) -> None:
    res = await api.post("/api/sessions", json={"upstream": "emulator"})
    session = res.json()
    watcher = await watch(session["id"])
    await watcher.receive_until(lambda f: f["seq"] == 1)
    before = watcher.messages
    res = await api.post(f"/api/sessions/{session['id']}/client-events/response.create", json={})
    assert res.status_code == 200
    frames = await watcher.receive_until(is_type("response.done"))
    deltas = [f for f in frames if "event" in f and f["event"]["type"] == "response.output_text.delta"]
    assert "".join(f["event"]["delta"] for f in deltas) == "".join(f"w{i} " for i in range(1, 501))
    # Complete and in order, in far fewer WebSocket messages than events.
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert watcher.messages - before < len(deltas) / 10


async def test_lone_event_is_not_held_back(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    watcher = await watch(session["id"])
    await watcher.receive_until(is_type("session.updated"))
    before = watcher.messages
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/conversation.item.retrieve",
        json={"type": "conversation.item.retrieve", "item_id": "item_missing"},
    )
    assert res.status_code == 200
    # The client frame and the upstream's answer each arrive without waiting for more.
    await watcher.receive_until(lambda f: f["seq"] == res.json()["seq"] + 1, within=5)
    assert watcher.messages > before


async def test_sse_streams_the_server_events_until_response_done(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/response.create",
        json={"type": "response.create"},
        headers={"Accept": "text/event-stream"},
    )
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/event-stream")
    events = [block for block in res.text.split("\n\n") if block.strip()]
    names = [
        line.removeprefix("event: ") for block in events for line in block.splitlines() if line.startswith("event: ")
    ]
    assert names[0] == "response.create"
    assert names[-1] == "response.done"
    assert "response.output_text.delta" in names
    datas = [
        json.loads(line.removeprefix("data: ")) for b in events for line in b.splitlines() if line.startswith("data: ")
    ]
    assert "hello there" in answer_text(datas)
    ids = [int(line.removeprefix("id: ")) for b in events for line in b.splitlines() if line.startswith("id: ")]
    assert ids == list(range(ids[0], ids[0] + len(ids)))
    assert ids[0] == int(res.headers["X-Seq"])


async def test_reconnect_with_after_gets_exactly_what_was_missed(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    first = await watch(session["id"])
    await first.receive_until(is_type("session.updated"))
    seen = max(f["seq"] for f in first.frames)
    await first.close()
    await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json=USER_SAYS)
    await api.post(f"/api/sessions/{session['id']}/client-events/response.create", json={"type": "response.create"})
    second = await watch(session["id"], after=seen)
    frames = await second.receive_until(is_type("response.done"))
    assert [f["seq"] for f in frames] == list(range(seen + 1, seen + 1 + len(frames)))


async def test_events_api_pages_by_after(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    sid = session["id"]
    res = await api.post(
        f"/api/sessions/{sid}/client-events/response.create",
        json={"type": "response.create"},
        headers={"Accept": "text/event-stream"},
    )
    assert res.status_code == 200
    await asyncio.sleep(0.2)
    all_frames = (await api.get(f"/api/sessions/{sid}/events")).json()
    assert [f["seq"] for f in all_frames] == list(range(1, len(all_frames) + 1))
    page = (await api.get(f"/api/sessions/{sid}/events", params={"after": 3, "limit": 2})).json()
    assert [f["seq"] for f in page] == [4, 5]
    assert page == all_frames[3:5]


async def test_session_list_and_close(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    listed = (await api.get("/api/sessions")).json()
    assert [s["id"] for s in listed] == [session["id"]]
    assert listed[0]["state"] == "live"
    res = await api.post(f"/api/sessions/{session['id']}/close")
    assert res.status_code == 200
    assert res.json()["state"] == "ended"
    assert res.json()["state_reason"] == "Closed by the user."
    assert (await api.get("/api/sessions", params={"state": "ended"})).json()[0]["id"] == session["id"]
    assert (await api.get("/api/sessions", params={"state": "live"})).json() == []
    frames = (await api.get(f"/api/sessions/{session['id']}/events")).json()
    assert frames[-1]["direction"] == "playground"
    assert frames[-1]["notice"]["kind"] == "session_closed"


async def test_upstream_end_reaches_watchers_in_words_and_sets_state(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api, emulator={"lifetime": 0.5})
    watcher = await watch(session["id"])
    frames = await watcher.receive_until(lambda f: f["direction"] == "playground")
    notice = frames[-1]["notice"]
    assert notice["kind"] == "upstream_closed"
    assert "closed the session" in notice["message"]
    assert notice["state"] == "ended"
    # The emulator said why before closing; that event is recorded and shown too.
    assert "error" in watcher.types("server")
    detail = (await api.get(f"/api/sessions/{session['id']}")).json()
    assert detail["state"] == "ended"
    assert "closed the session" in detail["state_reason"]


async def test_live_session_limit_answers_429(api: httpx.AsyncClient, settings: Any) -> None:
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 2
    await create_session(api)
    await create_session(api)
    res = await api.post("/api/sessions", json={"upstream": "emulator"})
    assert res.status_code == 429
    assert "PLAYGROUND_MAX_LIVE_SESSIONS=2" in res.json()["detail"]
    assert len((await api.get("/api/sessions")).json()) == 2


async def test_yandex_unconfigured_is_refused_with_the_field(api: httpx.AsyncClient, settings: Any) -> None:
    settings.YC_API_KEY = settings.YC_IAM_TOKEN = settings.YC_FOLDER_ID = ""
    res = await api.post("/api/sessions", json={"upstream": "yandex"})
    assert res.status_code == 422
    assert res.json()["field"] == "upstream"
    assert "YC_API_KEY" in res.json()["detail"]
    # Without an explicit upstream the emulator is used.
    res = await api.post("/api/sessions", json={})
    assert res.status_code == 201
    assert res.json()["upstream"] == "emulator"


async def test_unreachable_upstream_answers_502_in_words(api: httpx.AsyncClient, settings: Any) -> None:
    settings.PLAYGROUND_EMULATOR_URL = "ws://127.0.0.1:9/v1/realtime"
    res = await api.post("/api/sessions", json={"upstream": "emulator"})
    assert res.status_code == 502
    assert "Could not connect to The emulator" in res.json()["detail"]
    listed = (await api.get("/api/sessions")).json()
    assert listed[0]["state"] == "failed"


async def test_api_requires_authentication(application: Any, transactional_db: None) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
        res = await c.get("/api/sessions")
    assert res.status_code == 401
    assert "create_api_token" in res.json()["detail"]


@pytest.mark.parametrize("bad", ["Bearer nope", "Bearer rtp_wrong"])
async def test_bad_token_is_refused(application: Any, transactional_db: None, bad: str) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", headers={"Authorization": bad}
    ) as c:
        assert (await c.get("/api/sessions")).status_code == 401
