"""Each of the eleven client events over REST: its happy path and a bad body.

A refused request stores nothing and forwards nothing: the recording and the
emulator's answers are checked, not just the status code.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from playground.realtime.events import CLIENT_EVENTS
from tests.conftest import recorded_events
from tests.test_relay_path import create_session

PCM_SILENCE = base64.b64encode(b"\x00\x00" * 4410).decode()

# type -> (good body, the server event the emulator answers with, bad body, the field the 422 names). An
# `error:<code>` answer is the emulator's refusal (the event names an item that is not there, an empty buffer,
# no response to cancel, an event Yandex does not support yet): its code, and its `event_id` the event's own.
# tests/test_relay_contract.py has the success paths of those, on real items and audio.
CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any], str]] = {
    "session.update": (
        {"session": {"instructions": "Be brief.", "audio": {"output": {"voice": "dasha", "role": "good"}}}},
        "session.updated",
        {"session": {"output_modalities": ["smell"]}},
        "session.output_modalities[0]",
    ),
    "input_audio_buffer.append": (
        {"audio": PCM_SILENCE},
        "",
        {"audio": "not base64!!"},
        "audio",
    ),
    "input_audio_buffer.commit": ({}, "error:input_audio_buffer_commit_empty", {"audio": "AAAA"}, "audio"),
    "input_audio_buffer.clear": ({}, "input_audio_buffer.cleared", {"item_id": "x"}, "item_id"),
    "conversation.item.create": (
        {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}},
        "conversation.item.done",
        {"item": {"type": "message", "role": "robot", "content": []}},
        "item.role",
    ),
    "conversation.item.retrieve": ({"item_id": "item_x"}, "error:item_not_found", {}, "item_id"),
    "conversation.item.truncate": (
        {"item_id": "item_x", "content_index": 0, "audio_end_ms": 100},
        "error:item_not_found",
        {"item_id": "item_x", "content_index": 0, "audio_end_ms": -5},
        "audio_end_ms",
    ),
    "conversation.item.delete": ({"item_id": "item_x"}, "error:item_not_found", {"item_id": 12}, "item_id"),
    "response.create": (
        {"response": {"instructions": "Answer in one word.", "output_modalities": ["text"]}},
        "response.done",
        {"response": {"max_output_tokens": 0}},
        "response.max_output_tokens",
    ),
    "response.cancel": ({}, "error:response_cancel_not_active", {"response_id": ["r"]}, "response_id"),
    "output_audio_buffer.clear": ({}, "error:unsupported_event", {"unexpected": True}, "unexpected"),
}


def test_every_client_event_has_a_case() -> None:
    assert set(CASES) == set(CLIENT_EVENTS)
    assert len(CASES) == 11


@pytest.mark.parametrize("event_type", list(CASES))
async def test_client_event_happy_path(api: httpx.AsyncClient, watch: Any, event_type: str) -> None:
    good, answer, _, _ = CASES[event_type]
    session = await create_session(api)
    watcher = await watch(session["id"])
    await watcher.receive_until(lambda f: "event" in f and f["event"]["type"] == "session.updated")
    res = await api.post(f"/api/sessions/{session['id']}/client-events/{event_type}", json={"type": event_type, **good})
    assert res.status_code == 200, res.text
    ack = res.json()
    assert set(ack) == {"event_id", "seq"}
    frames = await watcher.receive_until(lambda f: f["seq"] == ack["seq"])
    sent = next(f for f in frames if f["seq"] == ack["seq"])
    assert sent["direction"] == "client"
    assert sent["event"] == {"type": event_type, "event_id": ack["event_id"], **good}
    if answer.startswith("error:"):
        code = answer.split(":", 1)[1]
        refused = await watcher.receive_until(
            lambda f: f["seq"] > ack["seq"] and "event" in f and f["event"]["type"] == "error"
        )
        error = next(f for f in refused if f["seq"] > ack["seq"] and f["event"]["type"] == "error")["event"]["error"]
        assert (error["code"], error["event_id"]) == (code, ack["event_id"]), error
    elif answer:
        await watcher.receive_until(lambda f: f["seq"] > ack["seq"] and "event" in f and f["event"]["type"] == answer)


@pytest.mark.parametrize("event_type", list(CASES))
async def test_client_event_bad_body_is_422_naming_the_field(api: httpx.AsyncClient, event_type: str) -> None:
    _, _, bad, field = CASES[event_type]
    session = await create_session(api)
    await asyncio.sleep(0.1)
    before = len(await recorded_events(session["id"]))
    res = await api.post(f"/api/sessions/{session['id']}/client-events/{event_type}", json={"type": event_type, **bad})
    assert res.status_code == 422, res.text
    body = res.json()
    assert body["field"] == field
    assert field in body["detail"]
    await asyncio.sleep(0.2)
    assert len(await recorded_events(session["id"])) == before


async def test_type_in_body_must_match_the_path(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    res = await api.post(
        f"/api/sessions/{session['id']}/client-events/response.create", json={"type": "response.cancel"}
    )
    assert res.status_code == 422
    assert res.json()["field"] == "type"


async def test_missing_type_is_filled_from_the_path(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    res = await api.post(f"/api/sessions/{session['id']}/client-events/input_audio_buffer.clear", json={})
    assert res.status_code == 200


async def test_unknown_type_is_404_listing_the_valid_ones(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    await asyncio.sleep(0.1)
    before = len(await recorded_events(session["id"]))
    res = await api.post(f"/api/sessions/{session['id']}/client-events/response.explode", json={})
    assert res.status_code == 404
    assert res.json()["valid_types"] == list(CLIENT_EVENTS)
    assert "response.explode" in res.json()["detail"]
    assert len(await recorded_events(session["id"])) == before


async def test_session_not_live_is_409(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    await api.post(f"/api/sessions/{session['id']}/close")
    before = len(await recorded_events(session["id"]))
    res = await api.post(f"/api/sessions/{session['id']}/client-events/response.create", json={})
    assert res.status_code == 409
    assert "ended" in res.json()["detail"]
    assert len(await recorded_events(session["id"])) == before


async def test_another_users_session_is_404(
    api: httpx.AsyncClient, application: Any, other_token: str, watch: Any
) -> None:
    session = await create_session(api)
    await asyncio.sleep(0.1)
    before = len(await recorded_events(session["id"]))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {other_token}"},
    ) as mallory:
        for method, path in [
            ("POST", f"/api/sessions/{session['id']}/client-events/response.create"),
            ("GET", f"/api/sessions/{session['id']}"),
            ("GET", f"/api/sessions/{session['id']}/events"),
            ("POST", f"/api/sessions/{session['id']}/close"),
        ]:
            res = await mallory.request(method, path, json={} if method == "POST" else None)
            assert res.status_code == 404, (path, res.text)
        assert (await mallory.get("/api/sessions")).json() == []
    assert len(await recorded_events(session["id"])) == before
    assert (await api.get(f"/api/sessions/{session['id']}")).json()["state"] == "live"


async def test_oversized_audio_append_is_413(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    huge = base64.b64encode(b"\x00" * (15 * 1024 * 1024 + 3)).decode()
    res = await api.post(f"/api/sessions/{session['id']}/client-events/input_audio_buffer.append", json={"audio": huge})
    assert res.status_code == 413
    assert res.json()["field"] == "audio"


async def test_websocket_client_events_are_validated_like_rest(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    watcher = await watch(session["id"])
    await watcher.communicator.send_to(text_data="{not json")
    frames = await watcher.receive_until(lambda f: f["seq"] is None)
    assert frames[-1]["notice"]["kind"] == "rejected"
    await watcher.send({"type": "conversation.item.truncate", "item_id": "x", "content_index": 0})
    frames = await watcher.receive_until(lambda f: f["seq"] is None and f["notice"].get("field") == "audio_end_ms")
    # The socket stays usable: a valid event goes through and is answered.
    await watcher.send({"type": "response.create"})
    await watcher.receive_until(lambda f: "event" in f and f["event"]["type"] == "response.done")
    client_types = watcher.types("client")
    assert "conversation.item.truncate" not in client_types
    assert "response.create" in client_types


async def test_openapi_documents_all_eleven_bodies(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/api/openapi.json")).json()
    paths = [p for p in spec["paths"] if "/client-events/" in p]
    assert sorted(p.rsplit("/", 1)[1] for p in paths) == sorted(CLIENT_EVENTS)
    schemas = {
        spec["paths"][p]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        for p in paths
    }
    assert len(schemas) == 11


async def test_websocket_client_event_after_the_session_ended_is_refused(api: httpx.AsyncClient, watch: Any) -> None:
    session = await create_session(api)
    watcher = await watch(session["id"])
    await api.post(f"/api/sessions/{session['id']}/close")
    await watcher.receive_until(lambda f: f["direction"] == "playground" and f["seq"] is not None)
    await watcher.send({"type": "response.create"})
    frames = await watcher.receive_until(lambda f: f["seq"] is None)
    assert frames[-1]["notice"]["status"] == 409
    assert "ended" in frames[-1]["notice"]["message"]
