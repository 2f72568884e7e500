"""WebSocket `/v1/realtime`: the OpenAI realtime protocol through the playground, on the full ASGI app
with Channels' communicator (the session, the recording, errors, the socket's lifecycle).

Real clients against a served playground are in test_openai_clients.py; the translation on its own in
test_dialect.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import call_command

from playground.realtime.events import CLIENT_EVENTS
from playground.realtime.sockets.openai import split_frames

USER_SAYS = {
    "type": "conversation.item.create",
    "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]},
}


@pytest.fixture(autouse=True)
def _emulator_by_default(settings: Any) -> None:
    """The default upstream is the emulator whatever the developer's environment holds."""
    settings.YC_API_KEY = settings.YC_IAM_TOKEN = ""


class Client:
    """An OpenAI-realtime client on the ASGI app: one JSON event per message, both ways."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.events: list[dict[str, Any]] = []

    async def send(self, event: dict[str, Any] | str) -> None:
        await self.communicator.send_to(text_data=event if isinstance(event, str) else json.dumps(event))

    async def next(self, within: float = 10) -> dict[str, Any]:
        text = await self.communicator.receive_from(timeout=within)
        event = json.loads(text)
        assert isinstance(event, dict) and isinstance(event.get("type"), str), f"not one event: {text[:200]}"
        self.events.append(event)
        return event

    async def until(self, type_: str, *, count: int = 1, within: float = 10) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            while sum(1 for e in self.events if e["type"] == type_) < count:
                await self.next(within)
        return self.events

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def closed(self, within: float = 10) -> int:
        """Read what is left until the server closes; returns the close code."""
        async with asyncio.timeout(within):
            while True:
                message = await self.communicator.receive_output(timeout=within)
                if message["type"] == "websocket.close":
                    return int(message.get("code", 1000))
                self.events.append(json.loads(message["text"]))


@pytest.fixture
async def connect(application: Any, token: str, api: httpx.AsyncClient) -> AsyncIterator[Any]:
    clients: list[Client] = []

    async def _connect(model: str = "gpt-realtime", *, bearer: str | None = None) -> Client:
        communicator = WebsocketCommunicator(
            application,
            f"/v1/realtime?model={model}",
            headers=[(b"authorization", f"Bearer {bearer or token}".encode()), (b"host", b"testserver")],
        )
        connected, code = await communicator.connect(timeout=10)
        assert connected, f"refused with close code {code}"
        client = Client(communicator)
        clients.append(client)
        return client

    yield _connect
    for client in clients:
        await client.communicator.disconnect()


def _at_24_khz(node: Any) -> Any:
    """An upstream event as the adapter shows it in a text session: its 44.1 kHz formats at 24 kHz."""
    if isinstance(node, list):
        return [_at_24_khz(value) for value in node]
    if not isinstance(node, dict):
        return node
    if node == {"type": "audio/pcm", "rate": 44100}:
        return {"type": "audio/pcm", "rate": 24000}
    return {key: _at_24_khz(value) for key, value in node.items()}


async def _session_id(api: httpx.AsyncClient) -> str:
    sessions = (await api.get("/api/sessions")).json()
    assert len(sessions) == 1
    return str(sessions[0]["id"])


async def _recorded(api: httpx.AsyncClient, session_id: str, until_type: str, count: int = 1) -> list[dict[str, Any]]:
    """The recorded frames once the recorder (which writes off the forwarding path) has `until_type`."""
    async with asyncio.timeout(10):
        while True:
            frames = (await api.get(f"/api/sessions/{session_id}/events")).json()
            if sum(1 for f in frames if f.get("event", {}).get("type") == until_type) >= count:
                return list(frames)
            await asyncio.sleep(0.05)


async def _wait_state(api: httpx.AsyncClient, session_id: str, state: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            session = (await api.get(f"/api/sessions/{session_id}")).json()
            if session["state"] == state:
                return dict(session)
            await asyncio.sleep(0.05)


async def test_text_conversation_one_event_per_message_recorded_and_closed_on_disconnect(
    connect: Any, api: httpx.AsyncClient
) -> None:
    client = await connect()
    assert (await client.next())["type"] == "session.created"
    await client.send({"type": "session.update", "event_id": "evt_mine_1", "session": {"output_modalities": ["text"]}})
    await client.send(USER_SAYS)
    await client.send({"type": "response.create"})
    await client.until("response.done")

    types = client.types()
    assert types[:2] == ["session.created", "session.updated"]
    assert "response.output_text.delta" in types and types[-1] == "response.done"
    assert not set(types) & set(CLIENT_EVENTS), "the client's own events are not echoed back"
    text = "".join(e["delta"] for e in client.events if e["type"] == "response.output_text.delta")
    assert "Hello there" in text

    sid = await _session_id(api)
    session = (await api.get(f"/api/sessions/{sid}")).json()
    assert session["state"] == "live" and session["upstream"] == "emulator"
    # The recorder writes off the forwarding path: the socket can be ahead of the recording for a moment.
    async with asyncio.timeout(5):
        while True:
            frames = (await api.get(f"/api/sessions/{sid}/events")).json()
            if any(f["direction"] == "server" and f["event"]["type"] == "response.done" for f in frames):
                break
            await asyncio.sleep(0.02)
    client_events = [f["event"] for f in frames if f["direction"] == "client"]
    assert [e["type"] for e in client_events] == ["session.update", "conversation.item.create", "response.create"]
    assert client_events[0]["event_id"] == "evt_mine_1"
    # The recording keeps the upstream's wire: Yandex's 44.1 kHz in its session and response objects, which
    # the client got in OpenAI's terms (24 kHz); everything else as it came, in the same order.
    server_events = [f["event"] for f in frames if f["direction"] == "server"]
    assert [e["type"] for e in server_events] == client.types()
    assert server_events[0]["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 44100}
    assert client.events[0]["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert client.events == [_at_24_khz(e) for e in server_events]

    await client.communicator.disconnect()
    ended = await _wait_state(api, sid, "ended")
    assert "disconnected" in ended["state_reason"]


async def test_invalid_events_get_an_openai_error_and_nothing_is_forwarded(
    connect: Any, api: httpx.AsyncClient
) -> None:
    client = await connect()
    await client.until("session.created")
    await client.send({"type": "session.update", "event_id": "evt_bad_1", "session": {"output_modalities": ["smell"]}})
    error = await client.next()
    assert error["type"] == "error" and error["event_id"].startswith("event_")
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["param"] == "session.output_modalities[0]"
    assert error["error"]["event_id"] == "evt_bad_1"
    assert error["error"]["code"] == "invalid_value" and error["error"]["message"]

    await client.send({"type": "response.create", "respons": {}})
    error = (await client.next())["error"]
    assert (error["code"], error["param"], error["event_id"]) == ("unknown_parameter", "respons", None)

    await client.send({"type": "response.make"})
    error = (await client.next())["error"]
    assert error["param"] == "type" and "response.create" in error["message"]

    await client.send("{not json")
    error = (await client.next())["error"]
    assert error["code"] == "invalid_json" and error["type"] == "invalid_request_error"

    # Nothing of that reached the relay: the first client event recorded is the next valid one.
    await client.send(USER_SAYS)
    await client.until("conversation.item.done")
    frames = await _recorded(api, await _session_id(api), "conversation.item.done")
    assert [f["event"]["type"] for f in frames if f["direction"] == "client"] == ["conversation.item.create"]


async def test_a_bad_or_missing_token_is_refused_with_4401(application: Any, transactional_db: None) -> None:
    for headers in ([(b"authorization", b"Bearer not-a-token")], []):
        communicator = WebsocketCommunicator(application, "/v1/realtime?model=gpt-realtime", headers=headers)
        connected, code = await communicator.connect(timeout=10)
        assert (connected, code) == (False, 4401)
        await communicator.disconnect()


async def test_model_naming_a_preset_applies_its_session_config(connect: Any, api: httpx.AsyncClient) -> None:
    content = {
        "session": {
            "output_modalities": ["text"],
            "instructions": "Answer like a pirate.",
            "tools": [{"type": "function", "name": "lookup", "parameters": {"type": "object"}}],
        }
    }
    res = await api.post("/api/presets", json={"name": "Pirate", "content": content})
    assert res.status_code == 201, res.text
    preset = res.json()

    client = await connect(preset["id"])
    await client.until("session.updated")
    assert client.types()[:2] == ["session.created", "session.updated"]
    assert client.events[1]["session"]["instructions"] == "Answer like a pirate."

    sid = await _session_id(api)
    session = (await api.get(f"/api/sessions/{sid}")).json()
    assert session["preset"]["id"] == preset["id"]
    frames = await _recorded(api, sid, "session.updated")
    update = next(f["event"] for f in frames if f["direction"] == "client")
    assert update["type"] == "session.update"
    assert update["session"]["instructions"] == "Answer like a pirate."
    assert update["session"]["tools"][0]["name"] == "lookup"


async def test_builtin_preset_slug_answers_function_calls_from_its_canned_outputs(
    connect: Any, api: httpx.AsyncClient
) -> None:
    await database_sync_to_async(call_command)("load_onboarding_presets")
    client = await connect("function-calling-weather")
    await client.until("session.updated")
    await client.send(
        {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "What is the weather in Moscow right now?"}],
            },
        }
    )
    await client.send({"type": "response.create"})
    await client.until("response.done", count=2)

    done = [e for e in client.events if e["type"] == "response.done"]
    call = next(item for item in done[0]["response"]["output"] if item["type"] == "function_call")
    assert call["name"] == "get_weather"
    assert "The tool answered" in json.dumps(done[1]["response"]["output"], ensure_ascii=False)
    sid = await _session_id(api)
    frames = await _recorded(api, sid, "response.done", count=2)
    client_frames = [f["event"] for f in frames if f["direction"] == "client"]
    canned = [e for e in client_frames if e["event_id"].startswith("evt_canned_")]
    assert [e["type"] for e in canned] == ["conversation.item.create", "response.create"]
    assert canned[0]["item"]["call_id"] == call["call_id"]


async def test_the_session_ending_is_an_error_event_then_close_1000(connect: Any, api: httpx.AsyncClient) -> None:
    client = await connect()
    await client.until("session.created")
    sid = await _session_id(api)
    assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
    assert await client.closed() == 1000
    error = client.events[-1]
    assert error["type"] == "error" and error["error"]["code"] == "session_ended"
    assert sid in error["error"]["message"] and "Closed by the user" in error["error"]["message"]


async def test_session_limit_is_an_error_event_then_close_1013(
    application: Any, token: str, api: httpx.AsyncClient, settings: Any
) -> None:
    settings.PLAYGROUND_MAX_LIVE_SESSIONS = 0
    communicator = WebsocketCommunicator(
        application, "/v1/realtime?model=gpt-realtime", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    assert (await communicator.connect(timeout=10))[0]
    client = Client(communicator)
    assert await client.closed() == 1013
    assert [e["error"]["code"] for e in client.events] == ["session_limit_reached"]
    assert "PLAYGROUND_MAX_LIVE_SESSIONS=0" in client.events[0]["error"]["message"]


async def test_unreachable_upstream_is_an_error_event_then_close_1011(
    application: Any, token: str, api: httpx.AsyncClient, settings: Any
) -> None:
    settings.PLAYGROUND_EMULATOR_URL = "ws://127.0.0.1:9/v1/realtime"
    communicator = WebsocketCommunicator(
        application, "/v1/realtime?model=gpt-realtime", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    assert (await communicator.connect(timeout=10))[0]
    client = Client(communicator)
    assert await client.closed() == 1011
    assert client.events[0]["error"]["code"] == "upstream_error"
    assert "Could not connect" in client.events[0]["error"]["message"]
    assert (await api.get("/api/sessions")).json()[0]["state"] == "failed"


@pytest.fixture
async def burst_upstream(settings: Any) -> AsyncIterator[None]:
    """An upstream that answers response.create with 500 deltas at once, and drops the connection (no close
    frame) on input_audio_buffer.clear."""
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "e0", "session": {"type": "realtime"}}))
        async for text in ws:
            kind = json.loads(text)["type"]
            if kind == "input_audio_buffer.clear":
                ws.transport.abort()
                return
            if kind == "response.create":
                for i in range(1, 501):
                    await ws.send(
                        json.dumps({"type": "response.output_text.delta", "event_id": f"e{i}", "delta": f"w{i} "})
                    )
                await ws.send(
                    json.dumps({"type": "response.done", "event_id": "e501", "response": {"status": "completed"}})
                )

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        settings.PLAYGROUND_EMULATOR_URL = f"ws://127.0.0.1:{port}/v1/realtime"
        yield


async def test_a_burst_arrives_whole_one_event_per_message_and_a_dropped_upstream_closes_1011(
    connect: Any, api: httpx.AsyncClient, burst_upstream: None
) -> None:
    client = await connect()
    await client.until("session.created")
    await client.send({"type": "response.create"})
    await client.until("response.done")
    deltas = [e for e in client.events if e["type"] == "response.output_text.delta"]
    assert [e["event_id"] for e in deltas] == [f"e{i}" for i in range(1, 501)]
    assert client.types() == ["session.created"] + ["response.output_text.delta"] * 500 + ["response.done"]

    await client.send({"type": "input_audio_buffer.clear"})
    assert await client.closed() == 1011
    error = client.events[-1]["error"]
    assert error["code"] == "session_interrupted" and error["type"] == "server_error"
    assert (await _wait_state(api, await _session_id(api), "interrupted"))["state_reason"]


def test_split_frames_slices_events_as_sent_and_falls_back_on_other_shapes() -> None:
    event = '{"type": "response.output_text.delta", "delta": "a \\"},{\\"seq\\":9 b", "n": 1.50}'
    notice = '{"kind":"session_closed","message":"Bye.","state":"ended"}'
    text = (
        f'[{{"seq":3,"direction":"server","ts":1764160000.123456,"event":{event}}},'
        f'{{"seq":4,"direction":"playground","ts":1764160000.2,"notice":{notice}}}]'
    )
    assert list(split_frames(text)) == [("server", event), ("playground", notice)]
    # A shape of its own (extra keys, other spacing): parsed, each event re-written compactly.
    odd = '[{"seq": 5, "direction": "server", "ts": 1.0, "event": {"type": "x"}, "trimmed": {}}]'
    assert list(split_frames(odd)) == [("server", '{"type":"x"}')]


# --- the adapter: OpenAI's dialect in, Yandex's upstream ---------------------------------------------------------


async def test_a_field_yandex_lacks_is_named_in_an_error_and_the_rest_applies(
    connect: Any, api: httpx.AsyncClient
) -> None:
    client = await connect()
    await client.until("session.created")
    session = {
        "type": "realtime",
        "instructions": "Answer like a pirate.",
        "audio": {"input": {"noise_reduction": {"type": "far_field"}}, "output": {"voice": "sage"}},
    }
    await client.send({"type": "session.update", "event_id": "evt_nr", "session": session})
    await client.until("session.updated")
    error, updated = client.events[1:3]
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["param"] == "session.audio.input.noise_reduction"
    assert error["error"]["event_id"] == "evt_nr" and "dropped" in error["error"]["message"]
    assert updated["session"]["instructions"] == "Answer like a pirate."
    assert updated["session"]["audio"]["output"]["voice"] == "sage"
    assert updated["session"]["audio"]["input"]["noise_reduction"] is None  # not in effect: not shown as on
    # What Yandex got: its own dialect, the dropped field left out.
    frames = await _recorded(api, await _session_id(api), "session.updated")
    [sent] = [f["event"] for f in frames if f["direction"] == "client"]
    assert sent["event_id"] == "evt_nr"
    assert sent["session"] == {
        "type": "realtime",
        "instructions": "Answer like a pirate.",
        "audio": {"output": {"voice": "julia"}},
    }


async def test_an_event_that_cannot_be_served_is_refused_whole_and_nothing_is_sent(
    connect: Any, api: httpx.AsyncClient
) -> None:
    client = await connect()
    await client.until("session.created")
    transcription = {"type": "transcription", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}
    await client.send({"type": "session.update", "event_id": "evt_t", "session": transcription})
    error = (await client.next())["error"]
    assert (error["type"], error["param"], error["event_id"]) == ("invalid_request_error", "session.type", "evt_t")
    assert "transcription" in error["message"]
    # Nothing changed, not even the format the refused event named; nothing reached the recording.
    await client.send(USER_SAYS)
    await client.until("conversation.item.done")
    frames = await _recorded(api, await _session_id(api), "conversation.item.done")
    assert [f["event"]["type"] for f in frames if f["direction"] == "client"] == ["conversation.item.create"]
    # Translated, but refused by Yandex's schema (a bad value elsewhere in it): nothing of it applies either.
    bad = {"output_modalities": ["smell"], "audio": {"output": {"format": {"type": "audio/pcma"}, "voice": "ash"}}}
    await client.send({"type": "session.update", "event_id": "evt_s", "session": bad})
    error = (await client.next())["error"]
    assert (error["param"], error["event_id"]) == ("session.output_modalities[0]", "evt_s")
    await client.send({"type": "session.update", "session": {"type": "realtime"}})
    updated = (await client.until("session.updated"))[-1]
    assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert updated["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert updated["session"]["audio"]["output"]["voice"] == "marina"


async def test_the_session_says_its_client_spoke_the_openai_dialect(connect: Any, api: httpx.AsyncClient) -> None:
    await (await connect()).until("session.created")
    [openai_session] = (await api.get("/api/sessions")).json()
    assert openai_session["client_dialect"] == "openai"
    created = (await api.post("/api/sessions", json={"upstream": "emulator"})).json()
    assert created["client_dialect"] == "yandex"
