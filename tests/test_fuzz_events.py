"""Bad input, fuzzed: each of the eleven client events with hypothesis, through the real endpoints.

For every event type one live emulator session takes a few dozen generated bodies around the
event's schema (missing, wrong-typed and extra fields, huge strings, bad base64, NaN, nested junk,
bodies that are not objects or not JSON at all). Whatever comes, the answer is never a 5xx; a
refusal is JSON with words in `detail` (and, for 422, the `field` at fault); the schema's own
verdict decides accept or refuse; and only accepted events reach the recording.

Hypothesis drives a synchronous test in a worker thread; each example is sent on the test's event
loop (where the application and its relay live) and waited for there.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from playground.parser import nul_path
from playground.realtime.events import CLIENT_EVENTS
from tests.conftest import is_type
from tests.test_relay_path import create_session

MAX_EXAMPLES = 60
FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# --- strategies ----------------------------------------------------------------------

HUGE = "A" * 300_000
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["", HUGE, "\x00", "\ud7ff", "𝄞" * 50, "NaN", "null", "{", "\\u0000"])
)
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
good_b64 = st.binary(max_size=600).map(lambda b: base64.b64encode(b).decode())
bad_b64 = st.sampled_from(["not base64!!", "AAA", "A", "====", "AA==AA==", "Zm9v\n", "ÿÿÿÿ", "A" * 5 + "="])
audio_values = good_b64 | bad_b64 | st.text(max_size=30) | junk

text_part = st.fixed_dictionaries({"type": st.just("input_text"), "text": st.text(max_size=30) | junk})
message_item = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["message", "message", "function_call", "function_call_output", "robot"]),
        "role": st.sampled_from(["user", "assistant", "system", "robot"]) | junk,
        "content": st.lists(text_part | junk, max_size=3) | junk,
    },
    optional={"call_id": st.text(max_size=10), "output": st.text(max_size=10), "name": st.text(max_size=10)},
)
session_config = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["realtime", "transcription"]) | junk,
        "instructions": st.text(max_size=40) | junk,
        "output_modalities": st.lists(st.sampled_from(["text", "audio", "smell"]), max_size=3) | junk,
        "temperature": st.floats(allow_nan=True, allow_infinity=True) | junk,
        "max_output_tokens": st.integers(-5, 10_000) | st.just("inf") | junk,
        "tool_choice": st.sampled_from(["auto", "none", "required", "sometimes"]) | junk,
        "tools": st.lists(
            st.fixed_dictionaries(
                {"type": st.sampled_from(["function", "web_search", "mcp", "magic"])},
                optional={"name": st.text(max_size=70), "parameters": junk, "server_label": st.text(max_size=5)},
            ),
            max_size=2,
        ),
        "audio": st.fixed_dictionaries(
            {},
            optional={
                "input": st.fixed_dictionaries(
                    {},
                    optional={
                        "format": st.fixed_dictionaries({}, optional={"rate": junk, "type": junk}),
                        "turn_detection": st.none()
                        | st.fixed_dictionaries(
                            {"type": st.sampled_from(["server_vad", "semantic_vad", "psychic"])},
                            optional={"threshold": st.floats(allow_nan=True), "eagerness": junk},
                        ),
                        "languages": st.lists(st.text(max_size=6), max_size=2) | junk,
                    },
                ),
                "output": st.fixed_dictionaries({}, optional={"voice": junk, "speed": junk, "role": junk}),
            },
        )
        | junk,
        "tracing": junk,
        "prompt": junk,
        "surprise": junk,
    },
)
response_config = st.fixed_dictionaries(
    {},
    optional={
        "output_modalities": st.lists(st.sampled_from(["text", "audio", "smell"]), max_size=2) | junk,
        "instructions": st.text(max_size=40) | junk,
        "max_output_tokens": st.integers(-5, 50) | junk,
        "conversation": st.sampled_from(["auto", "none"]) | junk,
        "metadata": st.dictionaries(st.text(max_size=5), st.text(max_size=5) | junk, max_size=3) | junk,
        "input": st.lists(message_item, max_size=2) | junk,
        "prompt": junk,
    },
)
item_id = st.text(max_size=20) | junk
index = st.integers(min_value=-(2**64), max_value=2**64) | junk

# Each event's own fields, each sometimes right, sometimes anything.
FIELDS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "session.update": {"session": session_config | junk},
    "input_audio_buffer.append": {"audio": audio_values},
    "input_audio_buffer.commit": {},
    "input_audio_buffer.clear": {},
    "conversation.item.create": {"item": message_item | junk, "previous_item_id": item_id},
    "conversation.item.retrieve": {"item_id": item_id},
    "conversation.item.truncate": {"item_id": item_id, "content_index": index, "audio_end_ms": index},
    "conversation.item.delete": {"item_id": item_id},
    "response.create": {"response": response_config | st.none() | junk},
    "response.cancel": {"response_id": item_id},
    "output_audio_buffer.clear": {},
}


short = st.text(min_size=1, max_size=20)
# Bodies each schema accepts, to be mutated (and to prove acceptance still works).
VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "session.update": st.fixed_dictionaries(
        {
            "session": st.fixed_dictionaries(
                {},
                optional={
                    "instructions": st.text(max_size=40),
                    "output_modalities": st.lists(st.sampled_from(["text", "audio"]), max_size=2),
                    "temperature": st.floats(0, 2),
                    "audio": st.fixed_dictionaries(
                        {"output": st.fixed_dictionaries({"voice": st.sampled_from(["marina", "dasha", "x"])})}
                    ),
                    "tracing": junk,
                },
            )
        }
    ),
    "input_audio_buffer.append": st.fixed_dictionaries({"audio": good_b64}),
    "input_audio_buffer.commit": st.just({}),
    "input_audio_buffer.clear": st.just({}),
    "conversation.item.create": st.fixed_dictionaries(
        {
            "item": st.fixed_dictionaries(
                {
                    "type": st.just("message"),
                    "role": st.sampled_from(["user", "assistant", "system"]),
                    "content": st.lists(
                        st.fixed_dictionaries({"type": st.just("input_text"), "text": st.text(max_size=30)}),
                        max_size=2,
                    ),
                }
            )
        },
        optional={"previous_item_id": short},
    ),
    "conversation.item.retrieve": st.fixed_dictionaries({"item_id": short}),
    "conversation.item.truncate": st.fixed_dictionaries(
        {"item_id": short, "content_index": st.integers(0, 10), "audio_end_ms": st.integers(0, 10**9)}
    ),
    "conversation.item.delete": st.fixed_dictionaries({"item_id": short}),
    "response.create": st.fixed_dictionaries(
        {},
        optional={
            "response": st.fixed_dictionaries(
                {},
                optional={
                    "instructions": st.text(max_size=30),
                    "output_modalities": st.just(["text"]),
                    "max_output_tokens": st.integers(1, 50),
                    "metadata": st.dictionaries(short, st.text(max_size=5), max_size=2),
                },
            )
        },
    ),
    "response.cancel": st.fixed_dictionaries({}, optional={"response_id": short}),
    "output_audio_buffer.clear": st.just({}),
}


def mutate(body: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid body with one field dropped, replaced by junk, or one unknown field added."""
    keys = sorted(body)
    options = [st.tuples(st.text(min_size=1, max_size=10), junk).map(lambda kv: {**body, kv[0]: kv[1]})]
    if keys:
        options.append(st.sampled_from(keys).map(lambda k: {x: v for x, v in body.items() if x != k}))
        options.append(st.tuples(st.sampled_from(keys), junk).map(lambda kv: {**body, kv[0]: kv[1]}))
    return st.one_of(options)


def bodies(event_type: str) -> st.SearchStrategy[Any]:
    """Dicts around the event's schema, plus a few things that are not event objects at all."""
    own = FIELDS[event_type]
    around = st.fixed_dictionaries(
        {},
        optional={
            "type": st.just(event_type) | st.sampled_from(sorted(CLIENT_EVENTS)) | junk,
            "event_id": st.text(max_size=20) | st.just("e" * 201) | junk,
            **own,
        },
    )
    extra = st.dictionaries(st.text(max_size=10).filter(lambda k: k not in own), junk, max_size=2)
    with_extra = st.tuples(around, extra).map(lambda pair: {**pair[1], **pair[0]})
    valid = VALID[event_type]
    return valid | valid.flatmap(mutate) | around | with_extra | junk


raw_bodies = st.sampled_from([b"", b"{not json", b"[1, 2", b"\xff\xfe", b"NaN", b"null", b"[]", b'"text"', b"{}}"])

# --- helpers -----------------------------------------------------------------------


def schema_accepts(event_type: str, body: Any) -> bool:
    """The oracle: the event's pydantic schema, given the body as the server parses it."""
    if not isinstance(body, dict) or nul_path(body, "") is not None:  # NUL: refused by playground/parser.py
        return False
    try:
        CLIENT_EVENTS[event_type].model_validate(body)
    except ValidationError:
        return False
    return True


def has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(has_non_finite(v) for v in value.values())
    if isinstance(value, list):
        return any(has_non_finite(v) for v in value)
    return False


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    """Run a coroutine on the test's loop from hypothesis' worker thread and wait for it."""

    def run(coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=60)

    return run


def client_event_count(session_id: str) -> int:
    from playground.realtime.reading import frames_read

    return sum(1 for _ in frames_read(session_id=uuid.UUID(session_id), direction="client", audio="ref"))


async def settled_client_events(session_id: str, expected: int, within: float = 5) -> int:
    """The recorded client events once the recorder (which writes in batches) has caught up to `expected`."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        count = await sync_to_async(client_event_count)(session_id)
        if count >= expected or asyncio.get_running_loop().time() > deadline:
            await asyncio.sleep(0.2)  # and nothing more comes
            return int(await sync_to_async(client_event_count)(session_id))
        await asyncio.sleep(0.05)


def check_error_body(res: httpx.Response) -> None:
    assert res.status_code < 500, f"{res.status_code}: {res.text[:500]}"
    if res.status_code >= 400:
        body = res.json()
        assert isinstance(body, dict), res.text[:200]
        assert isinstance(body.get("detail"), str) and body["detail"].strip(), res.text[:300]
        if res.status_code == 422:
            assert isinstance(body.get("field"), str) and body["field"], res.text[:300]


# --- the eleven, fuzzed over REST ----------------------------------------------------------


@pytest.mark.parametrize("event_type", list(CLIENT_EVENTS))
async def test_fuzzed_client_event_bodies(api: httpx.AsyncClient, event_type: str) -> None:
    session = await create_session(api)
    sid = session["id"]
    url = f"/api/sessions/{sid}/client-events/{event_type}"
    base = await settled_client_events(sid, 1)  # the initial session.update
    accepted: list[int] = []
    run = on_loop(asyncio.get_running_loop())

    def send(content: bytes) -> httpx.Response:
        return run(api.post(url, content=content, headers={"Content-Type": "application/json"}))

    @FUZZ_SETTINGS
    @given(body=bodies(event_type))
    def fuzz(body: Any) -> None:
        # What a client would send: JSON, NaN and Infinity included (Python's json writes them).
        content = json.dumps(body).encode()
        res = send(content)
        check_error_body(res)
        parsed = json.loads(content)
        if isinstance(parsed, dict) and has_non_finite(parsed):
            # NaN and Infinity are not JSON: refused, never forwarded as null.
            assert res.status_code == 422 and "NaN" in res.json()["detail"], res.text[:300]
        if schema_accepts(event_type, {"type": event_type, **parsed} if isinstance(parsed, dict) else parsed):
            # The body's own `type` must match the path's; missing, it is the path's.
            assert res.status_code == 200, f"{body!r:.300} refused: {res.text[:300]}"
            ack = res.json()
            assert set(ack) == {"event_id", "seq"}
            accepted.append(ack["seq"])
        else:
            assert res.status_code in (413, 422), f"{body!r:.300} answered {res.status_code}: {res.text[:300]}"
            if res.status_code == 422:
                problem = res.json()
                assert problem["field"] in problem["detail"]
        # Nothing refused is recorded: never more client events than were accepted.
        assert run(sync_to_async(client_event_count)(sid)) <= base + len(accepted)

    @FUZZ_SETTINGS
    @given(content=raw_bodies)
    def fuzz_raw(content: bytes) -> None:
        res = send(content)
        check_error_body(res)
        # Not JSON, or not an object: a bad body like any other, named.
        assert res.status_code == 422, res.text[:300]
        assert res.json()["field"] in ("body", "type"), res.text[:300]

    await asyncio.to_thread(fuzz)
    await asyncio.to_thread(fuzz_raw)

    assert accepted, "the valid bodies must get through too"
    # Every accepted event, and only those, is in the recording, each as one client frame.
    assert await settled_client_events(sid, base + len(accepted)) == base + len(accepted)
    frames = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
    client_seqs = [f["seq"] for f in frames if f["direction"] == "client"][1:]
    assert client_seqs == accepted
    for frame in frames:
        if frame["direction"] == "client":
            # What went upstream is strict JSON: no NaN or Infinity smuggled in a free-form field.
            json.dumps(frame["event"], allow_nan=False)
    assert (await api.get(f"/api/sessions/{sid}")).json()["state"] == "live"


# --- size and encoding of audio ---------------------------------------------------------------


async def test_audio_over_15_mib_is_413_and_bad_base64_is_422_naming_audio(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    sid = session["id"]
    url = f"/api/sessions/{sid}/client-events/input_audio_buffer.append"
    base = await settled_client_events(sid, 1)
    just_over = base64.b64encode(b"\x00" * (15 * 1024 * 1024 + 1)).decode()
    res = await api.post(url, json={"type": "input_audio_buffer.append", "audio": just_over})
    assert res.status_code == 413, res.text[:300]
    assert res.json()["field"] == "audio" and "15 MiB" in res.json()["detail"]
    # Over the whole request limit too: still a JSON 413, not a crash.
    res = await api.post(url, json={"audio": "A" * (22 * 1024 * 1024)})
    assert res.status_code == 413, res.text[:300]
    assert res.json()["detail"]
    for bad in ("not base64!!", "AAA", "A", "AA==AA==", "Zm9v\n"):
        res = await api.post(url, json={"audio": bad})
        assert res.status_code == 422, (bad, res.text[:300])
        assert res.json()["field"] == "audio" and "base64" in res.json()["detail"]
    exactly = base64.b64encode(b"\x00" * (15 * 1024 * 1024)).decode()
    res = await api.post(url, json={"audio": exactly})
    assert res.status_code == 200, res.text[:300]
    assert await settled_client_events(sid, base + 1) == base + 1


# --- the WebSockets: junk frames get an answer, and the socket stays usable -------------------

ws_junk = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["{not json", "", "[", "NaN", "null", "[]", '"x"', "1e999", '{"type": 5}']),
    junk.map(json.dumps),
    st.builds(
        lambda t, extra: json.dumps({"type": t, **extra}),
        st.sampled_from(sorted(CLIENT_EVENTS)),
        st.dictionaries(st.text(min_size=1, max_size=8), junk, min_size=1, max_size=2),
    ),
)


def ws_frames() -> list[str]:
    """A deterministic handful of junk text frames, drawn with hypothesis."""
    frames: list[str] = []

    @FUZZ_SETTINGS
    @given(frame=ws_junk)
    def draw(frame: str) -> None:
        frames.append(frame)

    draw()
    return [f for f in frames if not schema_accepts_any(f)]


def schema_accepts_any(text: str) -> bool:
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("type") in CLIENT_EVENTS and schema_accepts(data["type"], data)


async def test_junk_frames_on_the_session_socket_are_rejected_and_the_socket_stays_usable(
    api: httpx.AsyncClient, watch: Any
) -> None:
    session = await create_session(api)
    watcher = await watch(session["id"])
    await watcher.receive_until(is_type("session.updated"))
    base = await settled_client_events(session["id"], 1)
    frames = await asyncio.to_thread(ws_frames)
    assert len(frames) > 10
    for i, text in enumerate(frames):
        await watcher.communicator.send_input({"type": "websocket.receive", "text": text})
        rejected = await watcher.receive_until(
            lambda f: f["seq"] is None and f.get("notice", {}).get("kind") == "rejected"
        )
        notice = rejected[-1]["notice"]
        assert notice["message"], (i, text[:100], notice)
        watcher.frames = [f for f in watcher.frames if f["seq"] is not None]
    await watcher.communicator.send_to(bytes_data=b"\x00\x01binary")
    await watcher.receive_until(lambda f: f["seq"] is None and "binary" in f["notice"]["message"])
    # Still usable: a valid event goes through and is answered.
    await watcher.send({"type": "response.create"})
    await watcher.receive_until(is_type("response.done"))
    assert await settled_client_events(session["id"], base + 1) == base + 1


async def test_junk_frames_on_v1_realtime_get_error_events_and_the_socket_stays_usable(
    application: Any, token: str, api: httpx.AsyncClient
) -> None:
    communicator = WebsocketCommunicator(
        application,
        "/v1/realtime?model=gpt-realtime",
        headers=[(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")],
    )
    connected, code = await communicator.connect(timeout=10)
    assert connected, code
    try:
        assert json.loads(await communicator.receive_from(timeout=10))["type"] == "session.created"
        frames = await asyncio.to_thread(ws_frames)
        for text in frames:
            await communicator.send_input({"type": "websocket.receive", "text": text})
            event = json.loads(await communicator.receive_from(timeout=10))
            assert event["type"] == "error", (text[:100], event)
            assert event["error"]["type"] == "invalid_request_error" and event["error"]["message"]
        await communicator.send_to(bytes_data=b"\x00binary")
        assert json.loads(await communicator.receive_from(timeout=10))["type"] == "error"
        await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
        async with asyncio.timeout(10):
            while json.loads(await communicator.receive_from(timeout=10))["type"] != "response.done":
                pass
        sid = (await api.get("/api/sessions")).json()[0]["id"]
        assert await settled_client_events(sid, 1) == 1
    finally:
        await communicator.disconnect()
