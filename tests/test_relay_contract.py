"""The relay's contract, event by event: what reaches the upstream, and the answer that comes back to it.

1. Against a recording fake upstream (a real WebSocket server on loopback that keeps every text frame it
   got and answers each client event with an `error` naming that event's `event_id` and a code of its
   own): each of the eleven client events, over REST and over `/ws/sessions/…`, reaches the upstream as
   exactly the JSON text expected (byte for byte: `type`, `event_id`, then the fields as given), and the
   answer reaches the watcher with the same `event_id` and code, after the event's own frame.
2. Against the emulator, the success paths that need state: retrieve, truncate and delete a real item,
   commit audio that is in the buffer, cancel a response while it streams.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve

from playground.realtime.events import CLIENT_EVENTS, compact_json
from tests.conftest import Watcher, is_type
from tests.test_client_events import CASES

PCM_100MS = base64.b64encode(b"\x10\x00" * 4410).decode()  # 0.1 s at 44.1 kHz, not silence
# The upstream gets an event's fields in its schema's order (playground/realtime/events.py), whatever order the
# client wrote them in: the one case below where that differs from the body sent.
WIRE_FIELDS = {"response.create": {"response": {"output_modalities": ["text"], "instructions": "Answer in one word."}}}


def wire(event_type: str, event_id: str) -> str:
    """The exact text the upstream must get for CASES[event_type]'s body."""
    fields = WIRE_FIELDS.get(event_type, CASES[event_type][0])
    return compact_json({"type": event_type, "event_id": event_id, **fields})


class RecordingUpstream:
    """Keeps every text it receives; answers each client event with an error correlated to it."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.arrived = asyncio.Event()

    @staticmethod
    def code_for(event_type: str) -> str:
        return "fake_" + event_type.replace(".", "_")

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "srv_0", "session": {"type": "realtime"}}))
        async for text in ws:
            assert isinstance(text, str)
            self.received.append(text)
            self.arrived.set()
            event = json.loads(text)
            error = {
                "type": "invalid_request_error",
                "code": self.code_for(event["type"]),
                "message": f"The fake refuses {event['type']}.",
                "param": None,
                "event_id": event["event_id"],
            }
            await ws.send(json.dumps({"type": "error", "event_id": f"srv_{len(self.received)}", "error": error}))

    async def next_text(self, within: float = 10) -> str:
        async with asyncio.timeout(within):
            while not self.received:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received.pop(0)


@pytest.fixture
async def upstream(settings: Any) -> AsyncIterator[RecordingUpstream]:
    fake = RecordingUpstream()
    async with serve(fake.handler, "127.0.0.1", 0) as server:
        settings.PLAYGROUND_EMULATOR_URL = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/realtime"
        yield fake


async def _open(api: httpx.AsyncClient, **body: Any) -> str:
    # No initial config: the first client event the upstream sees is the test's own.
    res = await api.post("/api/sessions", json={"upstream": "emulator", **body})
    assert res.status_code == 201, res.text
    return str(res.json()["id"])


def _answer_to(watcher: Watcher, event_id: str) -> Any:
    return lambda f: "event" in f and f["event"]["type"] == "error" and f["event"]["error"]["event_id"] == event_id


def _assert_correlated(watcher: Watcher, event_type: str, event_id: str, seq: int) -> None:
    client = next(f for f in watcher.frames if f["seq"] == seq)
    assert client["direction"] == "client" and client["event"]["event_id"] == event_id
    answer = next(f for f in watcher.frames if _answer_to(watcher, event_id)(f))
    assert answer["direction"] == "server" and answer["seq"] > seq
    assert answer["event"]["error"]["code"] == RecordingUpstream.code_for(event_type)


def test_the_contract_covers_all_eleven() -> None:
    assert set(CASES) == set(CLIENT_EVENTS) and len(CLIENT_EVENTS) == 11


@pytest.mark.parametrize("event_type", list(CASES))
async def test_over_rest_the_upstream_gets_exactly_the_event_and_its_answer_comes_back(
    api: httpx.AsyncClient, watch: Any, upstream: RecordingUpstream, event_type: str
) -> None:
    good = CASES[event_type][0]
    sid = await _open(api)
    watcher = await watch(sid)
    await watcher.receive_until(is_type("session.created"))
    # Once with the caller's event_id, once with none (the playground makes one and answers it).
    for given in (f"rest-{event_type}", None):
        body = {"type": event_type, **({"event_id": given} if given else {}), **good}
        res = await api.post(f"/api/sessions/{sid}/client-events/{event_type}", json=body)
        assert res.status_code == 200, res.text
        ack = res.json()
        event_id = ack["event_id"]
        if given:
            assert event_id == given
        else:
            assert event_id.startswith("evt_")
        assert await upstream.next_text() == wire(event_type, event_id)
        await watcher.receive_until(_answer_to(watcher, event_id))
        _assert_correlated(watcher, event_type, event_id, ack["seq"])
    assert upstream.received == [], "nothing else reached the upstream"


@pytest.mark.parametrize("event_type", list(CASES))
async def test_over_the_session_socket_the_same(
    api: httpx.AsyncClient, watch: Any, upstream: RecordingUpstream, event_type: str
) -> None:
    good = CASES[event_type][0]
    sid = await _open(api)
    watcher = await watch(sid)
    await watcher.receive_until(is_type("session.created"))
    event_id = f"ws-{event_type}"
    await watcher.send({"type": event_type, "event_id": event_id, **good})
    assert await upstream.next_text() == wire(event_type, event_id)
    await watcher.receive_until(_answer_to(watcher, event_id))
    seq = next(f["seq"] for f in watcher.frames if f["direction"] == "client" and f["event"]["event_id"] == event_id)
    _assert_correlated(watcher, event_type, event_id, seq)
    # Without an event_id the socket's event gets one, the same upstream and in the recording.
    await watcher.send({"type": event_type, **good})
    text = await upstream.next_text()
    made = json.loads(text)["event_id"]
    assert made.startswith("evt_") and text == wire(event_type, made)
    await watcher.receive_until(_answer_to(watcher, made))


# --- success paths, against the emulator ---------------------------------------------------------------------


async def _send(api: httpx.AsyncClient, sid: str, event_type: str, **fields: Any) -> dict[str, Any]:
    res = await api.post(f"/api/sessions/{sid}/client-events/{event_type}", json={"type": event_type, **fields})
    assert res.status_code == 200, res.text
    return dict(res.json())


def _after(seq: int, type_: str, **match: Any) -> Any:
    def predicate(f: dict[str, Any]) -> bool:
        event = f.get("event") or {}
        return (
            f["seq"] is not None
            and f["seq"] > seq
            and event.get("type") == type_
            and all(event.get(k) == v for k, v in match.items())
        )

    return predicate


def _no_error_for(watcher: Watcher, event_id: str) -> None:
    errors = [f for f in watcher.frames if _answer_to(watcher, event_id)(f)]
    assert not errors, errors


async def test_retrieve_and_delete_a_real_item(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await _open(api, session={"output_modalities": ["text"]})
    watcher = await watch(sid)
    item = {"id": "item_contract", "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
    ack = await _send(api, sid, "conversation.item.create", item=item)
    await watcher.receive_until(_after(ack["seq"], "conversation.item.done"))

    ack = await _send(api, sid, "conversation.item.retrieve", item_id="item_contract")
    frames = await watcher.receive_until(_after(ack["seq"], "conversation.item.retrieved"))
    retrieved = next(f for f in frames if _after(ack["seq"], "conversation.item.retrieved")(f))["event"]["item"]
    assert retrieved["id"] == "item_contract" and retrieved["content"][0]["text"] == "hi"
    _no_error_for(watcher, ack["event_id"])

    ack = await _send(api, sid, "conversation.item.delete", item_id="item_contract")
    await watcher.receive_until(_after(ack["seq"], "conversation.item.deleted", item_id="item_contract"))
    _no_error_for(watcher, ack["event_id"])
    # Gone: retrieving it again is the emulator's item_not_found, correlated to that event.
    ack = await _send(api, sid, "conversation.item.retrieve", item_id="item_contract")
    frames = await watcher.receive_until(_answer_to(watcher, ack["event_id"]))
    assert (
        next(f for f in frames if _answer_to(watcher, ack["event_id"])(f))["event"]["error"]["code"] == "item_not_found"
    )


async def test_truncate_a_real_assistant_audio_item(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await _open(api, session={"output_modalities": ["audio"]})
    watcher = await watch(sid)
    await _send(api, sid, "conversation.item.create", item=CASES["conversation.item.create"][0]["item"])
    ack = await _send(api, sid, "response.create")
    frames = await watcher.receive_until(_after(ack["seq"], "response.done"))
    done = next(f for f in frames if _after(ack["seq"], "response.done")(f))["event"]["response"]
    item_id = done["output"][0]["id"]
    assert done["output"][0]["content"][0]["type"] == "output_audio"

    ack = await _send(api, sid, "conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=10)
    await watcher.receive_until(
        _after(ack["seq"], "conversation.item.truncated", item_id=item_id, content_index=0, audio_end_ms=10)
    )
    _no_error_for(watcher, ack["event_id"])


async def test_commit_audio_that_is_in_the_buffer(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await _open(api, session={"output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}})
    watcher = await watch(sid)
    await _send(api, sid, "input_audio_buffer.append", audio=PCM_100MS)
    ack = await _send(api, sid, "input_audio_buffer.commit")
    frames = await watcher.receive_until(_after(ack["seq"], "input_audio_buffer.committed"))
    committed = next(f for f in frames if _after(ack["seq"], "input_audio_buffer.committed")(f))["event"]
    # The committed audio is the conversation's new user item.
    await watcher.receive_until(
        lambda f: _after(ack["seq"], "conversation.item.added")(f) and f["event"]["item"]["id"] == committed["item_id"]
    )
    _no_error_for(watcher, ack["event_id"])
    # The buffer is empty again: a second commit is the emulator's refusal, correlated to it.
    ack = await _send(api, sid, "input_audio_buffer.commit")
    frames = await watcher.receive_until(_answer_to(watcher, ack["event_id"]))
    error = next(f for f in frames if _answer_to(watcher, ack["event_id"])(f))["event"]["error"]
    assert error["code"] == "input_audio_buffer_commit_empty"


async def test_cancel_a_response_while_it_streams(api: httpx.AsyncClient, watch: Any) -> None:
    # Paced: the emulator sends 20 events a second, so the response is still streaming when the cancel comes.
    sid = await _open(api, session={"output_modalities": ["text"]}, emulator={"pace": 20})
    watcher = await watch(sid)
    await _send(api, sid, "conversation.item.create", item=CASES["conversation.item.create"][0]["item"])
    ack = await _send(api, sid, "response.create")
    frames = await watcher.receive_until(_after(ack["seq"], "response.created"))
    response_id = next(f for f in frames if _after(ack["seq"], "response.created")(f))["event"]["response"]["id"]
    cancel = await _send(api, sid, "response.cancel", response_id=response_id)
    frames = await watcher.receive_until(_after(cancel["seq"], "response.done"))
    done = next(f for f in frames if _after(cancel["seq"], "response.done")(f))["event"]["response"]
    assert done["id"] == response_id and done["status"] == "cancelled"
    assert done["status_details"]["reason"] == "client_cancelled"
    _no_error_for(watcher, cancel["event_id"])
