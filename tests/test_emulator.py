"""The emulator over real sockets: what a client of the realtime protocol sees.

Every server event is validated against the official `openai` types
(`RealtimeServerEvent`). One known divergence is handled explicitly: openai
pins `audio/pcm` rates to 24000 (`Literal[24000]`) while Yandex, and so the
emulator, says 44100. Those rate fields alone are mapped to 24000 before
validation; a separate test runs the emulator at 24 kHz and validates as is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pydantic
import pytest
import pytest_asyncio
from openai.types.realtime import RealtimeServerEvent
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus

from emulator import EmulatorServer

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
RATE = 44100
WORD_BYTES = RATE * 60 // 1000 * 2  # 60 ms of PCM16 per spoken word
PROJECT = Path(__file__).resolve().parent.parent

WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


# --- helpers ---------------------------------------------------------------------------------------------------


def as_openai_sees_it(node: Any) -> Any:
    """The event with every audio/pcm rate set to 24000, the only rate openai's types accept."""
    if isinstance(node, list):
        return [as_openai_sees_it(value) for value in node]
    if not isinstance(node, dict):
        return node
    copy = {key: as_openai_sees_it(value) for key, value in node.items()}
    if copy.get("type") == "audio/pcm" and "rate" in copy:
        copy["rate"] = 24000
    return copy


def tone(seconds: float, amplitude: int, rate: int = RATE, hz: float = 220.0) -> bytes:
    count = round(seconds * rate)
    samples = (round(amplitude * math.sin(2 * math.pi * hz * i / rate)) for i in range(count))
    return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)


def silence(seconds: float, rate: int = RATE) -> bytes:
    return bytes(round(seconds * rate) * 2)


def b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def joined(events: list[dict[str, Any]], type_: str) -> str:
    return "".join(e["delta"] for e in events if e["type"] == type_)


class Client:
    """A protocol client that validates everything it receives."""

    def __init__(self, ws: ClientConnection, *, strict_rates: bool) -> None:
        self.ws = ws
        self.strict_rates = strict_rates
        self.event_ids: set[str] = set()
        self.session: dict[str, Any] = {}

    async def send(self, type_: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": type_, **fields}))

    async def recv(self, wait_s: float = 10.0) -> dict[str, Any]:
        event: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), wait_s))
        SERVER_EVENT.validate_python(event if self.strict_rates else as_openai_sees_it(event))
        assert event["event_id"] not in self.event_ids, "event ids must be unique"
        self.event_ids.add(event["event_id"])
        return event

    async def until(self, type_: str, wait_s: float = 20.0) -> list[dict[str, Any]]:
        """Events up to and including the first of `type_`."""
        events = []
        while True:
            events.append(await self.recv(wait_s))
            if events[-1]["type"] == type_:
                return events

    async def error(self) -> dict[str, Any]:
        event = await self.recv()
        assert event["type"] == "error", event
        return dict(event["error"])


@contextlib.asynccontextmanager
async def client(url: str, query: str = "", *, strict_rates: bool = False) -> AsyncIterator[Client]:
    async with connect(url + query, max_size=None, ping_interval=None) as ws:
        c = Client(ws, strict_rates=strict_rates)
        created = await c.recv()
        assert created["type"] == "session.created"
        c.session = created["session"]
        yield c


@pytest_asyncio.fixture
async def emulator() -> AsyncIterator[EmulatorServer]:
    server = EmulatorServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def text_response_types(words: int) -> list[str]:
    return [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * words,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]


def audio_response_types(words: int) -> list[str]:
    return [
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        *["response.output_audio_transcript.delta", "response.output_audio.delta"] * words,
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]


FUNCTION_CALL_TYPES = [
    "response.created",
    "response.output_item.added",
    "conversation.item.added",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.delta",
    "response.function_call_arguments.done",
    "response.output_item.done",
    "conversation.item.done",
    "response.done",
]


# --- the scripted conversation, step by step ----------------------------------------------------------------------


async def step_session_update(c: Client) -> None:
    await c.send(
        "session.update",
        session={
            "type": "realtime",
            "output_modalities": ["text"],
            "instructions": "Be brief.",
            "tools": [WEATHER_TOOL],
            "audio": {"input": {"turn_detection": None}},
        },
    )
    updated = await c.recv()
    assert updated["type"] == "session.updated"
    session = updated["session"]
    assert session["output_modalities"] == ["text"]
    assert session["instructions"] == "Be brief."
    assert session["tools"] == [WEATHER_TOOL]
    assert session["audio"]["input"]["turn_detection"] is None
    # Deep merge: what the update did not name is kept.
    assert session["audio"]["input"]["languages"] == ["ru-RU"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": RATE}
    assert session["audio"]["output"] == c.session["audio"]["output"]
    assert session["id"] == c.session["id"]


async def say(c: Client, text: str) -> dict[str, Any]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    await c.send("conversation.item.create", item=item)
    added, done = await c.recv(), await c.recv()
    assert (added["type"], done["type"]) == ("conversation.item.added", "conversation.item.done")
    assert added["item"] == done["item"]
    assert added["item"]["id"].startswith("item_")
    return dict(added["item"])


async def step_text_turn(c: Client) -> str:
    user = await say(c, "hello there")
    await c.send("response.create")
    events = await c.until("response.done")
    answer = 'You said: "hello there".'
    assert types(events) == text_response_types(len(answer.split()))
    assert joined(events, "response.output_text.delta") == answer
    assert events[2]["previous_item_id"] == user["id"]
    done = events[-1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"] == [{"type": "output_text", "text": answer}]
    assert done["output"][0]["status"] == "completed"
    usage = done["usage"]
    assert usage["output_tokens"] == 4
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    item_id = str(done["output"][0]["id"])
    await c.send("conversation.item.retrieve", item_id=item_id)
    retrieved = await c.recv()
    assert retrieved["type"] == "conversation.item.retrieved"
    assert retrieved["item"]["content"][0]["text"] == answer
    return answer


async def step_audio_turn(c: Client) -> str:
    await c.send("response.create", response={"output_modalities": ["audio"]})
    events = await c.until("response.done")
    answer = 'You said: "hello there".'
    words = len(answer.split())
    assert types(events) == audio_response_types(words)
    assert joined(events, "response.output_audio_transcript.delta") == answer
    assert events[-5]["transcript"] == answer
    audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
    # PCM16 mono at the session's output rate: 60 ms a word.
    assert len(audio) == words * WORD_BYTES
    assert len(audio) / 2 / RATE == pytest.approx(words * 0.060)
    done = events[-1]["response"]
    assert done["output_modalities"] == ["audio"]
    assert done["usage"]["output_token_details"]["audio_tokens"] > 0
    return str(done["output"][0]["id"])


async def step_truncate(c: Client, item_id: str) -> None:
    await c.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=120)
    truncated = await c.recv()
    assert truncated["type"] == "conversation.item.truncated"
    assert (truncated["item_id"], truncated["content_index"], truncated["audio_end_ms"]) == (item_id, 0, 120)
    await c.send("conversation.item.retrieve", item_id=item_id)
    item = (await c.recv())["item"]
    # Two words fit in 120 ms: the transcript keeps only what was heard.
    assert item["content"][0]["transcript"] == "You said:"
    assert len(base64.b64decode(item["content"][0]["audio"])) == 120 * RATE // 1000 * 2
    await c.send("conversation.item.truncate", item_id=item_id, content_index=0, audio_end_ms=5000)
    error = await c.error()
    assert error["param"] == "audio_end_ms"


async def step_function_call(c: Client) -> None:
    await say(c, "What is the weather in Moscow?")
    await c.send("response.create")
    events = await c.until("response.done")
    assert types(events) == FUNCTION_CALL_TYPES
    call = events[1]["item"]
    assert (call["type"], call["name"]) == ("function_call", "get_weather")
    arguments = joined(events, "response.function_call_arguments.delta")
    assert json.loads(arguments) == {"city": "Moscow"}
    assert events[6]["arguments"] == arguments
    assert events[-1]["response"]["output"][0]["arguments"] == arguments

    output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"temperature_c": -3}'}
    await c.send("conversation.item.create", item=output)
    assert types([await c.recv(), await c.recv()]) == ["conversation.item.added", "conversation.item.done"]
    await c.send("response.create")
    events = await c.until("response.done")
    assert joined(events, "response.output_text.delta") == 'The tool answered: {"temperature_c": -3}.'

    # tool_choice none: no call, even when the words match.
    await say(c, "weather in Paris")
    await c.send("response.create", response={"tool_choice": "none"})
    events = await c.until("response.done")
    assert joined(events, "response.output_text.delta") == 'You said: "weather in Paris".'


async def step_cancel(c: Client) -> None:
    await say(c, "tell me a long story")
    await c.send("response.create", response={"metadata": {"emulator_words": "100000"}})
    events = await c.until("response.output_text.delta")
    await c.send("response.cancel")
    events += await c.until("response.done")
    done = events[-1]["response"]
    assert done["status"] == "cancelled"
    assert done["status_details"] == {"type": "cancelled", "reason": "client_cancelled"}
    heard = joined(events, "response.output_text.delta")
    assert 0 < len(heard.split()) < 100000
    # The conversation keeps exactly what was sent before the cancel.
    item = done["output"][0]
    assert item["status"] == "incomplete"
    await c.send("conversation.item.retrieve", item_id=item["id"])
    assert (await c.recv())["item"]["content"][0]["text"] == heard
    await c.send("response.cancel", event_id="evt_cancel_again")
    error = await c.error()
    assert (error["code"], error["event_id"]) == ("response_cancel_not_active", "evt_cancel_again")


async def step_manual_audio(c: Client) -> None:
    pcm = tone(0.5, 8000)
    await c.send("input_audio_buffer.append", audio=b64(pcm))
    await c.send("input_audio_buffer.commit")
    committed, added, done = await c.recv(), await c.recv(), await c.recv()
    assert types([committed, added, done]) == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    assert committed["item_id"] == added["item"]["id"]
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": "(audio 0.50 s)"}]
    await c.send("conversation.item.retrieve", item_id=committed["item_id"])
    assert base64.b64decode((await c.recv())["item"]["content"][0]["audio"]) == pcm
    await c.send("input_audio_buffer.append", audio=b64(pcm))
    await c.send("input_audio_buffer.clear")
    assert (await c.recv())["type"] == "input_audio_buffer.cleared"
    await c.send("input_audio_buffer.commit")
    assert (await c.error())["code"] == "input_audio_buffer_commit_empty"


async def step_delete(c: Client) -> None:
    item = await say(c, "forget me")
    await c.send("conversation.item.delete", item_id=item["id"])
    deleted = await c.recv()
    assert (deleted["type"], deleted["item_id"]) == ("conversation.item.deleted", item["id"])
    await c.send("conversation.item.retrieve", item_id=item["id"])
    error = await c.error()
    assert (error["code"], error["param"]) == ("item_not_found", "item_id")


async def step_errors(c: Client) -> None:
    await c.ws.send("this is not json")
    error = await c.error()
    assert (error["type"], error["code"], error["param"], error["event_id"]) == (
        "invalid_request_error",
        "invalid_json",
        None,
        None,
    )
    await c.send("no.such.event", event_id="evt_1")
    error = await c.error()
    assert (error["code"], error["param"], error["event_id"]) == ("unknown_event", "type", "evt_1")
    await c.send("conversation.item.create")
    assert (await c.error())["param"] == "item"
    await c.send("conversation.item.create", item={"type": "message", "role": "robot", "content": []})
    assert (await c.error())["param"] == "item.role"
    await c.send("input_audio_buffer.append", audio="%%% not base64 %%%")
    assert (await c.error())["param"] == "audio"
    await c.send("response.create", response={"output_modalities": ["video"]})
    assert (await c.error())["param"] == "response.output_modalities"
    await c.send("session.update", session={"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}})
    assert (await c.error())["param"] == "session.audio.input.turn_detection"
    await c.send("conversation.item.truncate", item_id="item_nope", content_index=0, audio_end_ms=0)
    assert (await c.error())["code"] == "item_not_found"
    await c.send("output_audio_buffer.clear")
    error = await c.error()
    assert error["code"] == "unsupported_event"
    assert "not supported" in error["message"]


async def step_server_vad(c: Client) -> None:
    await c.send("session.update", session={"audio": {"input": {"turn_detection": {"type": "server_vad"}}}})
    session = (await c.recv())["session"]
    assert session["audio"]["input"]["turn_detection"] == {"type": "server_vad"}
    # Quiet audio (RMS ~700, under 0.5 * 0.1 * 32768) is not speech.
    await c.send("input_audio_buffer.append", audio=b64(tone(1.0, 1000)))
    await c.send("input_audio_buffer.clear")
    assert (await c.recv())["type"] == "input_audio_buffer.cleared"

    audio = silence(0.5) + tone(1.2, 8000) + silence(1.0)
    chunk = RATE // 10 * 2  # 100 ms, as a microphone would send
    for start in range(0, len(audio), chunk):
        await c.send("input_audio_buffer.append", audio=b64(audio[start : start + chunk]))
    events = await c.until("response.done")
    assert types(events)[:5] == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.done",
    ]
    started, stopped, committed, added = events[:4]
    # Positions count from the session's first audio: 2 s went before (step_manual_audio's 1 s, the quiet 1 s).
    # Then speech began at 500 ms (minus 300 ms of padding) and stopped 500 ms after the tone ended at 1700 ms.
    assert started["audio_start_ms"] == 2000 + 200
    assert stopped["audio_end_ms"] == 2000 + 2200
    assert started["item_id"] == stopped["item_id"] == committed["item_id"] == added["item"]["id"]
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": "(speech 1.20 s)"}]
    # create_response defaults to true: the answer follows on its own.
    answer = 'You said: "(speech 1.20 s)".'
    assert types(events)[5:] == text_response_types(len(answer.split()))
    assert joined(events, "response.output_text.delta") == answer
    await c.send("session.update", session={"audio": {"input": {"turn_detection": None}}})
    assert (await c.recv())["type"] == "session.updated"


@pytest.mark.asyncio
async def test_scripted_conversation(emulator: EmulatorServer) -> None:
    async with client(emulator.url) as c:
        await step_session_update(c)
        await step_text_turn(c)
        audio_item = await step_audio_turn(c)
        await step_truncate(c, audio_item)
        await step_function_call(c)
        await step_cancel(c)
        await step_manual_audio(c)
        await step_delete(c)
        await step_errors(c)
        # After all those errors the connection still works.
        await step_server_vad(c)
        await say(c, "still there?")
        await c.send("response.create")
        events = await c.until("response.done")
        assert joined(events, "response.output_text.delta") == 'You said: "still there?".'


# --- the session as created -----------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_session_created_is_yandex_shaped(emulator: EmulatorServer) -> None:
    async with client(emulator.url) as c:
        session = c.session
        assert session["type"] == "realtime"
        assert session["object"] == "realtime.session"
        assert session["id"].startswith("sess_")
        assert session["model"] == "speech-realtime-250923"
        assert session["output_modalities"] == ["audio"]
        assert (session["tools"], session["tool_choice"], session["max_output_tokens"]) == ([], "auto", "inf")
        audio_in, audio_out = session["audio"]["input"], session["audio"]["output"]
        assert audio_in["format"] == {"type": "audio/pcm", "rate": 44100}
        assert audio_in["turn_detection"]["type"] == "server_vad"
        assert audio_in["turn_detection"]["threshold"] == 0.5
        assert audio_in["turn_detection"]["silence_duration_ms"] == 500
        assert audio_in["languages"] == ["ru-RU"]
        assert audio_out["format"] == {"type": "audio/pcm", "rate": 44100}
        assert (audio_out["voice"], audio_out["role"]) == ("marina", "good")


@pytest.mark.asyncio
async def test_at_24_khz_events_validate_without_any_mapping() -> None:
    server = EmulatorServer(sample_rate=24000)
    await server.start()
    try:
        async with client(server.url, strict_rates=True) as c:
            assert c.session["audio"]["output"]["format"]["rate"] == 24000
            await say(c, "hello")
            await c.send("response.create")
            events = await c.until("response.done")
            audio = b"".join(base64.b64decode(e["delta"]) for e in events if e["type"] == "response.output_audio.delta")
            assert len(audio) == 3 * 24000 * 60 // 1000 * 2  # 'You said: "hello".': three words at 24 kHz
    finally:
        await server.stop()


@pytest.mark.asyncio
async def test_any_path_and_model_are_accepted(emulator: EmulatorServer) -> None:
    base = emulator.url.removesuffix("/v1/realtime")
    async with client(base, "/somewhere/else?model=gpt://folder/speech-realtime-250923") as c:
        assert c.session["type"] == "realtime"


@pytest.mark.asyncio
async def test_bad_query_values_are_refused_at_the_handshake(emulator: EmulatorServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(emulator.url + "?pace=fast"):
            pass
    assert refused.value.response.status_code == 400


# --- server VAD interrupting an answer ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_speech_interrupts_the_answer_and_starts_a_new_one(emulator: EmulatorServer) -> None:
    async with client(emulator.url, "?pace=200") as c:
        await c.send("session.update", session={"output_modalities": ["text"]})
        await c.recv()
        await say(c, "talk for a while")
        await c.send("response.create", response={"metadata": {"emulator_words": "1000"}})
        first = await c.until("response.output_text.delta")
        await c.send("input_audio_buffer.append", audio=b64(tone(0.3, 8000) + silence(0.6)))
        events = await c.until("input_audio_buffer.committed")
        events += await c.until("response.created")
        cancelled = next(e for e in events if e["type"] == "response.done")
        assert cancelled["response"]["id"] == first[0]["response"]["id"]
        assert cancelled["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        # The old answer ends before the new one begins.
        assert types(events).index("response.done") < len(events) - 1
        assert events[-1]["response"]["id"] != first[0]["response"]["id"]
        rest = await c.until("response.done")
        assert joined(rest, "response.output_text.delta") == 'You said: "(speech 0.30 s)".'


# --- pace, lifetime, determinism, stop --------------------------------------------------------------------------


async def timed_response(c: Client, words: int) -> tuple[int, float]:
    """(events in the response, seconds from response.created to response.done)."""
    await c.send("session.update", session={"output_modalities": ["text"]})
    await c.recv()
    await say(c, "count")
    await c.send("response.create", response={"metadata": {"emulator_words": str(words)}})
    created = await c.recv()
    assert created["type"] == "response.created"
    start = time.monotonic()
    events = await c.until("response.done")
    return len(events) + 1, time.monotonic() - start


@pytest.mark.asyncio
async def test_pace_from_the_query_spaces_events(emulator: EmulatorServer) -> None:
    async with client(emulator.url, "?pace=50") as c:
        count, elapsed = await timed_response(c, 20)
    assert count == len(text_response_types(20))
    # N events at 50/s: the last is due (N - 1) / 50 s after the first. Lower bound only: the machine is noisy.
    assert elapsed >= (count - 1) / 50 * 0.9


@pytest.mark.asyncio
async def test_pace_from_the_server_default() -> None:
    server = EmulatorServer(events_per_second=50)
    await server.start()
    try:
        async with client(server.url) as c:
            count, elapsed = await timed_response(c, 10)
        assert elapsed >= (count - 1) / 50 * 0.9
    finally:
        await server.stop()


async def expect_expiry(c: Client, limit: str) -> None:
    error = await c.error()
    assert error["code"] == "session_expired"
    assert f"{limit}-second limit" in error["message"]
    with pytest.raises(ConnectionClosedOK) as closed:
        await c.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1000
    assert "limit" in closed.value.rcvd.reason


@pytest.mark.asyncio
async def test_lifetime_from_the_query_ends_the_session(emulator: EmulatorServer) -> None:
    start = time.monotonic()
    async with client(emulator.url, "?lifetime=0.5") as c:
        await expect_expiry(c, "0.5")
    assert time.monotonic() - start >= 0.45


@pytest.mark.asyncio
async def test_lifetime_ends_a_session_mid_stream() -> None:
    server = EmulatorServer(session_lifetime_s=0.5, events_per_second=100)
    await server.start()
    try:
        async with client(server.url) as c:
            await c.send("session.update", session={"output_modalities": ["text"]})
            await c.recv()
            await c.send("response.create", response={"metadata": {"emulator_words": "1000"}})
            while (event := await c.recv())["type"] != "error":
                assert event["type"].startswith("response.") or event["type"].startswith("conversation.")
            assert event["error"]["code"] == "session_expired"
            with pytest.raises(ConnectionClosedOK):
                await c.recv()
    finally:
        await server.stop()


async def scripted_texts(url: str) -> list[tuple[str, str]]:
    """What a short script hears: event types with their texts and ids (event ids aside)."""
    heard: list[tuple[str, str]] = []
    async with client(url) as c:
        await c.send("session.update", session={"output_modalities": ["text"], "tools": [WEATHER_TOOL]})
        await c.recv()
        for text in ("hello", "what is the weather in Oslo", "and now?"):
            await say(c, text)
            await c.send("response.create", response={"metadata": {"emulator_words": "30"}})
            for event in await c.until("response.done"):
                fields = {k: v for k, v in event.items() if k != "event_id"}
                heard.append((event["type"], json.dumps(fields, sort_keys=True)))
    return heard


@pytest.mark.asyncio
async def test_same_script_same_answers(emulator: EmulatorServer) -> None:
    first = await scripted_texts(emulator.url)
    second = await scripted_texts(emulator.url)
    assert first == second
    assert any(t == "response.function_call_arguments.done" for t, _ in first)


@pytest.mark.asyncio
async def test_stop_closes_connections_and_leaves_no_task() -> None:
    server = EmulatorServer(events_per_second=100)
    url = await server.start()
    async with client(url) as streaming, client(url) as idle:
        await streaming.send("response.create", response={"metadata": {"emulator_words": "1000"}})
        await streaming.until("response.created")
        await server.stop()
        for c in (streaming, idle):
            with pytest.raises(ConnectionClosed):
                while True:
                    await c.recv()
            assert c.ws.close_code == 1001
    await asyncio.sleep(0)
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    with pytest.raises(RuntimeError):
        _ = server.url
    await server.stop()  # a second stop is harmless


# --- python -m emulator -----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_python_m_emulator_serves_until_interrupted() -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "emulator", "--port", "0", "--pace", "0", "--lifetime", "60"),
        cwd=PROJECT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        url = next((word for word in line.split() if word.startswith("ws://")), "")
        if not url:
            pytest.fail(f"no URL printed: {line!r}; stderr: {(await process.stderr.read()).decode()}")
        async with client(url) as c:
            await say(c, "hi")
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        assert "stopped" in (await process.stdout.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_the_emulator_package_does_not_import_django() -> None:
    code = "import sys, emulator, emulator.__main__; print(sorted(m for m in sys.modules if m.startswith('django')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
