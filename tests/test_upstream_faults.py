"""Upstream faults (issue 7): each against a local WebSocket server that plays Yandex and misbehaves.

`FaultServer` is a `websockets` server on loopback whose behaviour is scripted per connection (a
queue of scripts; a healthy Yandex once the queue is empty). The `yandex` upstream points at it the
way tests/test_yandex_upstream.py does, so what is exercised is the real connect path: URL, headers,
`websockets` limits and keepalive, the relay, the recorder.

For every fault the test checks that
1. the user is told what happened in words: the REST answer at connect time, or the watcher's notice
   and the session's `state_reason`;
2. the recording keeps every event the server sent up to the fault, byte for byte;
3. the relay ends cleanly: none of its tasks left, the upstream socket closed (the fake server sees
   the disconnect), the session in a terminal state, resumable where issue 6 says so;
4. the deployment goes on: a healthy session (the emulator) works end to end after or during it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response
from websockets.protocol import State

from playground.realtime.runtime import lease, recorder
from playground.realtime.runtime import relay as relay_module
from playground.realtime.upstreams import base
from tests.conftest import is_type, recorded_events
from tests.test_relay_path import create_session
from tests.test_resume import is_notice, recorded_upto, send, user_says

API_KEY = "AQVN-fault-key-77c1e0"
FOLDER = "b1gfaults"
SESSION = {"type": "realtime", "id": "sess_f", "object": "realtime.session", "model": f"gpt://{FOLDER}/m"}

Script = Callable[["Conn"], Coroutine[Any, Any, None]]


class Conn:
    """One connection to the fake server, as the fake saw it."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws
        self.sent: list[str | bytes] = []  # every data frame the fake sent, in order
        self.received: list[dict[str, Any]] = []
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed = asyncio.Event()  # the fake saw the connection end
        self.close_code: int | None = None
        self.release = asyncio.Event()  # a frozen script waits for this

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        data = json.dumps(frame, ensure_ascii=False) if isinstance(frame, dict) else frame
        await self.ws.send(data)
        self.sent.append(data)

    async def send_invalid_utf8_text(self, data: bytes) -> None:
        await self.ws.send(data, text=True)  # a text frame whose payload is not UTF-8
        self.sent.append(data)

    async def expect(self, type_: str) -> dict[str, Any]:
        while True:
            event = await self.inbox.get()
            if event["type"] == type_:
                return event

    async def read(self) -> None:
        async for text in self.ws:
            event = json.loads(text)
            self.received.append(event)
            self.inbox.put_nowait(event)

    def events_sent(self) -> list[str]:
        """What the relay must record as server events: the text frames that are realtime events."""
        return [t for t in self.sent if isinstance(t, str) and _is_event(t)]


def _is_event(text: str) -> bool:
    try:
        event = json.loads(text)
    except ValueError:
        return False
    type_ = event.get("type") if isinstance(event, dict) else None
    # The relay's rule for a realtime event's type: a plain name that fits the recording's column.
    return isinstance(type_, str) and 0 < len(type_) <= 100 and type_.isascii() and type_.isprintable()


async def created(conn: Conn) -> None:
    await conn.send({"type": "session.created", "event_id": "ev_c", "session": SESSION})


async def stream_response(conn: Conn, *, deltas: int, done: bool = True, rid: str = "resp_1") -> None:
    await conn.send({"type": "response.created", "event_id": f"{rid}_c", "response": {"id": rid}})
    for i in range(deltas):
        await conn.send({"type": "response.output_text.delta", "event_id": f"{rid}_{i}", "delta": f"w{i} "})
    if done:
        await conn.send(
            {"type": "response.done", "event_id": f"{rid}_d", "response": {"id": rid, "status": "completed"}}
        )


async def healthy(conn: Conn) -> None:
    """Yandex as it should be: answers session.update, conversation items and responses."""
    await created(conn)
    await answer(conn)


async def answer(conn: Conn) -> None:
    n = 0
    while True:
        event = await conn.inbox.get()
        if event["type"] == "session.update":
            await conn.send({"type": "session.updated", "event_id": f"ev_u{n}", "session": SESSION})
        elif event["type"] == "conversation.item.create":
            item = {**event["item"], "id": event["item"].get("id") or f"item_{n}", "status": "completed"}
            await conn.send({"type": "conversation.item.added", "event_id": f"ev_a{n}", "item": item})
            await conn.send({"type": "conversation.item.done", "event_id": f"ev_i{n}", "item": item})
        elif event["type"] == "response.create":
            await stream_response(conn, deltas=3, rid=f"resp_h{n}")
        n += 1


class FaultServer:
    def __init__(self) -> None:
        self.scripts: list[Script] = []
        self.refusals: list[tuple[int, bytes, dict[str, str]]] = []
        self.conns: list[Conn] = []
        self.handshakes = 0

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if self.refusals:
            status, body, headers = self.refusals.pop(0)
            response = connection.respond(status, "")
            response.body = body
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(body))
            for name, value in headers.items():
                response.headers[name] = value
            return response
        return None

    async def handler(self, ws: ServerConnection) -> None:
        conn = Conn(ws)
        self.conns.append(conn)
        script = self.scripts.pop(0) if self.scripts else healthy
        reader = asyncio.create_task(conn.read())
        task = asyncio.create_task(script(conn))
        try:
            await ws.wait_closed()
        finally:
            conn.close_code = ws.close_code
            conn.closed.set()
            for t in (task, reader):
                t.cancel()
            await asyncio.gather(task, reader, return_exceptions=True)


@pytest.fixture
async def fault(settings: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FaultServer]:
    server = FaultServer()
    settings.YC_API_KEY, settings.YC_IAM_TOKEN, settings.YC_FOLDER_ID = API_KEY, "", FOLDER
    settings.PLAYGROUND_YANDEX_MODEL = "speech-realtime-250923"
    monkeypatch.setattr(base, "CLOSE_TIMEOUT_S", 0.5)
    async with serve(server.handler, "127.0.0.1", 0, process_request=server.process_request) as ws_server:
        settings.PLAYGROUND_YANDEX_URL = f"ws://127.0.0.1:{ws_server.sockets[0].getsockname()[1]}/v1/realtime"
        yield server


@pytest.fixture
def client_sockets(monkeypatch: pytest.MonkeyPatch) -> list[base.UpstreamConnection]:
    """Every upstream connection the playground opens, to check it was closed on our side too."""
    opened: list[base.UpstreamConnection] = []
    real = base.Upstream.connect

    async def spy(self: base.Upstream, *, options: dict[str, Any] | None = None) -> base.UpstreamConnection:
        connection = await real(self, options=options)
        opened.append(connection)
        return connection

    monkeypatch.setattr(base.Upstream, "connect", spy)
    return opened


# --- checks shared by every case -----------------------------------------------------------------------------


def _relay_session_of(task: asyncio.Task[Any]) -> str | None:
    frame = getattr(task.get_coro(), "cr_frame", None)
    owner = frame.f_locals.get("self") if frame is not None else None
    return owner.session_id if isinstance(owner, relay_module.Relay) else None


async def relay_gone(sid: str) -> None:
    """(3) Nothing of the session's relay is left running or registered."""
    for _ in range(300):
        if not any(t.get_name() == f"relay {sid}" for t in relay_module._running):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError(f"relay {sid} still running")
    await asyncio.sleep(0)
    left = [t for t in asyncio.all_tasks() if _relay_session_of(t) == sid]
    assert not left, f"relay tasks left running: {left}"
    assert all(r.session_id != sid for r in lease.keeper_for_loop()._relays.values()), "still held by the lease"


async def socket_closed(conn: Conn, client: base.UpstreamConnection | None = None) -> None:
    """(3) Our side closed the socket, and the fake saw the disconnect."""
    if client is not None:
        assert client.ws.state is State.CLOSED or client.ws.transport.is_closing()
    await asyncio.wait_for(conn.closed.wait(), 5)


async def session_detail(api: httpx.AsyncClient, sid: str) -> dict[str, Any]:
    res = await api.get(f"/api/sessions/{sid}")
    assert res.status_code == 200, res.text
    return res.json()


async def recorded_server_events(sid: str) -> list[str]:
    return [e.data for e in await recorded_events(sid) if e.direction == "server"]


async def a_healthy_session_works(api: httpx.AsyncClient, watch: Any) -> None:
    """(4) The deployment goes on serving: an emulator session, end to end."""
    session = await create_session(api, upstream="emulator")
    watcher = await watch(session["id"])
    await send(api, session["id"], "conversation.item.create", user_says("still there?"))
    await send(api, session["id"], "response.create", {})
    frames = await watcher.receive_until(is_type("response.done"))
    assert "still there?" in json.dumps(frames)
    closed = await api.post(f"/api/sessions/{session['id']}/close")
    assert closed.status_code == 200 and closed.json()["state"] == "ended"
    await relay_gone(session["id"])


async def the_end(watcher: Any) -> dict[str, Any]:
    """The notice that ends the session (it carries the new state)."""
    frames = await watcher.receive_until(lambda f: bool((f.get("notice") or {}).get("state")))
    return next(f for f in frames if (f.get("notice") or {}).get("state"))["notice"]


async def resume_works(api: httpx.AsyncClient, watch: Any, sid: str) -> None:
    """The session is resumable: a resume on a healthy connection answers a new response."""
    res = await api.post(f"/api/sessions/{sid}/resume")
    assert res.status_code == 200, res.text
    watcher = await watch(sid, after=res.json()["last_seq"])
    await send(api, sid, "response.create", {})
    await watcher.receive_until(is_type("response.done"))
    assert (await api.post(f"/api/sessions/{sid}/close")).json()["state"] == "ended"
    await relay_gone(sid)


# --- the handshake refused ----------------------------------------------------------------------------------

REFUSALS = {
    401: ("check YC_API_KEY", b'{"error": {"message": "Unknown api key ' + API_KEY.encode() + b'"}}', {}),
    403: ("no access to this folder or model", b'{"message": "Permission denied"}', {}),
    429: ("quota", b"too many sessions\n", {"Retry-After": "7"}),
    500: ("try again later", b"<html>oops</html>", {}),
}


@pytest.mark.parametrize("status", sorted(REFUSALS))
async def test_refused_handshake_is_502_in_words(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, status: int
) -> None:
    words, body, headers = REFUSALS[status]
    fault.refusals.append((status, body, headers))
    res = await api.post("/api/sessions", json={"upstream": "yandex"})
    assert res.status_code == 502, res.text
    detail = res.json()["detail"]
    assert detail.startswith(f"Yandex refused the connection: HTTP {status} "), detail
    assert words in detail
    # The upstream's own words are passed on, without the key even if the upstream echoes it.
    said = {401: "Unknown api key [redacted]", 403: "Permission denied", 429: "too many sessions", 500: "oops"}
    assert f'Yandex said: "{said[status]}' in detail or said[status] in detail, detail
    if status == 429:
        assert "Retry after 7 s" in detail
    assert API_KEY not in res.text
    session = (await api.get("/api/sessions")).json()[0]
    assert session["state"] == "failed" and session["state_reason"] == detail
    assert await recorded_events(session["id"]) == []
    await relay_gone(session["id"])
    resume = await api.post(f"/api/sessions/{session['id']}/resume")
    assert resume.status_code == 409 and "never connected" in resume.json()["detail"]
    await a_healthy_session_works(api, watch)


# --- the connection dropped mid-response ----------------------------------------------------------------------


async def drop_mid_response(conn: Conn) -> None:
    await created(conn)
    await conn.expect("response.create")
    await asyncio.sleep(0.1)  # a model takes a moment: the response.create is recorded before the answer comes
    await stream_response(conn, deltas=3, done=False)
    await asyncio.sleep(0.05)  # the deltas are on the wire
    conn.ws.transport.abort()  # TCP gone: no close frame


async def test_connection_dropped_mid_response(
    api: httpx.AsyncClient,
    watch: Any,
    fault: FaultServer,
    client_sockets: list[base.UpstreamConnection],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fault.scripts.append(drop_mid_response)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    # The recorder gathers rows for half a second after each write (a busy database): the deltas and the drop
    # arrive while they still wait to be written. The end must wait for them, so that a recording
    # read the moment the end is announced holds every one.
    gather = recorder.GATHER_S
    monkeypatch.setattr(recorder, "GATHER_S", 0.5)
    await send(api, sid, "response.create", {})
    notice = await the_end(watcher)
    assert notice["kind"] == "upstream_closed" and notice["state"] == "interrupted"
    assert notice["message"] == "Yandex connection was lost without a close frame."
    # Every delta that reached the playground before the drop was shown and recorded.
    assert [f["event"]["delta"] for f in watcher.frames if is_type("response.output_text.delta")(f)] == [
        "w0 ",
        "w1 ",
        "w2 ",
    ]
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    monkeypatch.setattr(recorder, "GATHER_S", gather)  # the rest of the test at the usual pace
    detail = await session_detail(api, sid)
    assert detail["state"] == "interrupted" and detail["state_reason"] == notice["message"]
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])
    await a_healthy_session_works(api, watch)
    # A resume that the upstream refuses leaves it interrupted (in words); the next one works.
    fault.refusals.append((429, b"busy", {}))
    refused = await api.post(f"/api/sessions/{sid}/resume")
    assert refused.status_code == 502 and "HTTP 429" in refused.json()["detail"]
    assert (await session_detail(api, sid))["state"] == "interrupted"
    await resume_works(api, watch, sid)


# --- a stall: the upstream stops sending mid-response but keeps the socket open ---------------------------------


def stall_mid_response(*, frozen: bool, deltas: int) -> Script:
    async def script(conn: Conn) -> None:
        await created(conn)
        await conn.expect("response.create")
        if deltas:  # else not even response.created: the response.create is never answered
            await stream_response(conn, deltas=deltas, done=False)
        if frozen:  # not even reading: pings, the close frame, everything goes unanswered
            conn.ws.transport.pause_reading()
        await conn.release.wait()
        if frozen:
            conn.ws.transport.resume_reading()
        await asyncio.Event().wait()

    return script


@pytest.mark.parametrize(
    ("frozen", "deltas"), [(False, 2), (True, 2), (False, 0)], ids=["silent", "frozen", "unanswered"]
)
async def test_a_stall_is_noticed_then_interrupts_resumably(
    api: httpx.AsyncClient,
    watch: Any,
    fault: FaultServer,
    settings: Any,
    client_sockets: list[base.UpstreamConnection],
    frozen: bool,
    deltas: int,
) -> None:
    settings.PLAYGROUND_UPSTREAM_STALL_S = 1.0
    fault.scripts.append(stall_mid_response(frozen=frozen, deltas=deltas))
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "response.create", {})
    if deltas:
        await watcher.receive_until(lambda f: f.get("event", {}).get("delta") == f"w{deltas - 1} ")
    last_delta = time.monotonic()
    # While it stalls, another session works.
    healthy_run = asyncio.create_task(a_healthy_session_works(api, watch))
    frames = await watcher.receive_until(is_notice("upstream_silent"))
    silent_at = time.monotonic()
    silent = next(f for f in frames if is_notice("upstream_silent")(f))["notice"]
    assert silent["message"].startswith("No events from Yandex for 1 s while a response is in progress.")
    assert "state" not in silent  # only words: the session is still live
    assert (await session_detail(api, sid))["state"] == "live"
    notice = await the_end(watcher)
    ended_at = time.monotonic()
    assert notice["kind"] == "upstream_stalled" and notice["state"] == "interrupted"
    assert notice["message"].startswith("No events from Yandex for 2 s while a response was in progress")
    assert "Resume" in notice["message"]
    assert silent_at - last_delta >= 0.9 and 1.9 <= ended_at - last_delta < 5
    await healthy_run
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    assert (await session_detail(api, sid))["state_reason"] == notice["message"]
    await relay_gone(sid)
    client = client_sockets[0]
    # Our side closed the socket even when the upstream never answers the close.
    assert client.ws.state is State.CLOSED or client.ws.transport.is_closing()
    conn.release.set()
    await socket_closed(conn)
    await resume_works(api, watch, sid)


async def refuse_responses(conn: Conn) -> None:
    await created(conn)
    event = await conn.expect("response.create")
    error = {"type": "invalid_request_error", "code": "bad", "message": "no", "event_id": event["event_id"]}
    await conn.send({"type": "error", "event_id": "ev_e", "error": error})
    await asyncio.Event().wait()


async def test_silence_without_a_response_in_progress_is_not_a_stall(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, settings: Any
) -> None:
    """An idle session, or a response.create the upstream refused, waits quietly for as long as it takes."""
    settings.PLAYGROUND_UPSTREAM_STALL_S = 0.3
    fault.scripts.append(refuse_responses)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "response.create", {})
    await watcher.receive_until(is_type("error"))
    await asyncio.sleep(1.2)
    assert (await session_detail(api, sid))["state"] == "live"
    assert not any(f["direction"] == "playground" for f in watcher.frames)
    assert (await api.post(f"/api/sessions/{sid}/close")).json()["state"] == "ended"
    await relay_gone(sid)
    await socket_closed(fault.conns[0])


# --- malformed frames -------------------------------------------------------------------------------------------

JUNK: list[str | bytes] = [
    "this is not JSON {",
    '{"no_type": 1}',
    '["type", "x"]',
    '{"type": 42}',
    b'{"type": "binary.event"}',
    b"\xff\xfe\x00binary",
    '{"type": "bad\\u0000type"}',  # a NUL: PostgreSQL refuses it in the type column
    '{"type": "\\ud800"}',  # a lone surrogate: no database driver can encode it
    '{"type": "' + "t" * 101 + '"}',  # longer than the type column
    '{"type": "response.done\\nid: 99"}',  # would inject a line into SSE
]


async def send_junk_then_answer(conn: Conn) -> None:
    await created(conn)
    await conn.expect("response.create")
    await stream_response(conn, deltas=1, done=False)
    for junk in JUNK:
        await conn.send(junk)
    await conn.send({"type": "response.output_text.delta", "event_id": "after_junk", "delta": "still "})
    await conn.send({"type": "response.done", "event_id": "d", "response": {"id": "resp_1", "status": "completed"}})
    await answer(conn)


async def test_malformed_frames_are_kept_in_words_and_the_session_goes_on(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, client_sockets: list[base.UpstreamConnection]
) -> None:
    fault.scripts.append(send_junk_then_answer)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "response.create", {})
    frames = await watcher.receive_until(is_type("response.done"))
    notices = [f["notice"] for f in frames if is_notice("malformed_frame")(f)]
    assert len(notices) == len(JUNK)
    for junk, notice in zip(JUNK, notices, strict=True):
        assert notice["message"].startswith("Yandex sent ") and notice["message"].endswith("the session goes on.")
        if isinstance(junk, bytes):
            assert "binary frame" in notice["message"] and notice["bytes"] == len(junk)
            kept = notice.get("raw", "").encode() or base64.b64decode(notice["raw_base64"])
            assert kept == junk
        else:
            assert notice["raw"] == junk and notice["truncated"] is False
    messages = [n["message"] for n in notices]
    assert "not JSON" in messages[0] and 'without a "type"' in messages[1] and 'without a "type"' in messages[3]
    assert all('"type" is not a plain name' in m for m in messages[6:])
    # The session went on: the rest of the answer, and a next one.
    assert (await session_detail(api, sid))["state"] == "live"
    await send(api, sid, "response.create", {})
    await watcher.receive_until(lambda f: is_type("response.done")(f) and f["event"]["event_id"] != "d")
    conn = fault.conns[0]
    events = await recorded_upto(sid, watcher.frames[-1]["seq"])
    assert [e.data for e in events if e.direction == "server"] == conn.events_sent()
    assert [json.loads(e.data).get("raw") for e in events if e.type == "malformed_frame"][:4] == JUNK[:4]
    await a_healthy_session_works(api, watch)  # the recorder is not stuck on a row it cannot write
    assert (await api.post(f"/api/sessions/{sid}/close")).json()["state"] == "ended"
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])


async def invalid_utf8(conn: Conn) -> None:
    await created(conn)
    await conn.expect("response.create")
    await stream_response(conn, deltas=2, done=False)
    await conn.send_invalid_utf8_text(b'{"type": "x", "delta": "\xff\xfe"}')
    await asyncio.Event().wait()


async def test_a_text_frame_that_is_not_utf8_interrupts_in_words(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, client_sockets: list[base.UpstreamConnection]
) -> None:
    fault.scripts.append(invalid_utf8)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "response.create", {})
    notice = await the_end(watcher)
    assert notice["state"] == "interrupted"
    assert notice["message"].startswith("The playground closed the Yandex connection: code 1007, invalid frame payload")
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])
    assert conn.close_code == 1007
    await a_healthy_session_works(api, watch)


# --- a frame over the size limit --------------------------------------------------------------------------------

LIMIT = 64 * 1024


async def oversized(conn: Conn) -> None:
    await created(conn)
    await conn.expect("response.create")
    await stream_response(conn, deltas=2, done=False)
    near = {"type": "response.output_audio.delta", "event_id": "near", "delta": "A" * (LIMIT - 200)}
    await conn.send(near)  # just under the limit: passes
    await conn.send({"type": "response.output_audio.delta", "event_id": "over", "delta": "A" * LIMIT})
    await asyncio.Event().wait()


async def test_a_frame_over_the_size_limit_interrupts_in_words(
    api: httpx.AsyncClient,
    watch: Any,
    fault: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    client_sockets: list[base.UpstreamConnection],
) -> None:
    monkeypatch.setattr(base, "MAX_FRAME_BYTES", LIMIT)
    fault.scripts.append(oversized)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "response.create", {})
    notice = await the_end(watcher)
    assert notice["kind"] == "upstream_closed" and notice["state"] == "interrupted"
    assert notice["message"].startswith(
        "The playground closed the Yandex connection: code 1009, a frame from Yandex was over the playground's "
        "65,536-byte limit"
    ), notice["message"]
    conn = fault.conns[0]
    recorded = await recorded_server_events(sid)
    assert recorded == conn.events_sent()[:-1]  # everything but the frame over the limit
    assert json.loads(recorded[-1])["event_id"] == "near"
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])
    assert conn.close_code == 1009  # the upstream is told why
    await a_healthy_session_works(api, watch)
    await resume_works(api, watch, sid)


# --- the session closed at its time limit -----------------------------------------------------------------------


async def expire(conn: Conn) -> None:
    await created(conn)
    event = await conn.expect("conversation.item.create")
    item = {**event["item"], "id": "item_kept", "status": "completed"}
    await conn.send({"type": "conversation.item.added", "event_id": "a1", "item": item})
    await conn.send({"type": "conversation.item.done", "event_id": "a2", "item": item})
    error = {"type": "invalid_request_error", "code": "session_expired", "message": "The session hit its limit."}
    await conn.send({"type": "error", "event_id": "ev_x", "error": error})
    await conn.ws.close(1000, "session expired: it hit its 300-second limit")


async def test_the_time_limit_ends_in_words_and_resumes(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, client_sockets: list[base.UpstreamConnection]
) -> None:
    fault.scripts.append(expire)
    session = await create_session(api, upstream="yandex")
    sid = session["id"]
    watcher = await watch(sid)
    await send(api, sid, "conversation.item.create", user_says("remember me"))
    notice = await the_end(watcher)
    assert notice["kind"] == "upstream_closed" and notice["state"] == "ended"
    assert notice["message"] == (
        'Yandex closed the session: code 1000, closed normally: "session expired: it hit its 300-second limit".'
    )
    assert "error" in watcher.types("server")  # why, in the upstream's own event
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])
    assert conn.close_code == 1000
    await a_healthy_session_works(api, watch)
    await resume_works(api, watch, sid)
    replayed = [e for e in fault.conns[-1].received if e["type"] == "conversation.item.create"]
    assert replayed[0]["item"]["id"] == "item_kept"


# --- a close with 1008 (a bad model URI) ------------------------------------------------------------------------


def close_1008(*, after_created: bool) -> Script:
    async def script(conn: Conn) -> None:
        if after_created:
            await created(conn)
        await conn.ws.close(1008, "invalid model uri")

    return script


WORDS_1008 = (
    "Yandex closed the session: code 1008, policy violation (on Yandex: usually a bad model URI or folder): "
    '"invalid model uri".'
)


@pytest.mark.parametrize("after_created", [False, True], ids=["at-once", "after-session.created"])
async def test_close_1008_while_connecting_is_502_in_words(
    api: httpx.AsyncClient,
    watch: Any,
    fault: FaultServer,
    client_sockets: list[base.UpstreamConnection],
    after_created: bool,
) -> None:
    """Refused at once, or right after session.created while the session's settings are being sent."""
    fault.scripts.append(close_1008(after_created=after_created))
    res = await api.post("/api/sessions", json={"upstream": "yandex", "session": {"instructions": "hi"}})
    assert res.status_code == 502, res.text
    assert res.json()["detail"] == WORDS_1008
    session = (await api.get("/api/sessions")).json()[0]
    assert session["state"] == "failed" and session["state_reason"] == WORDS_1008
    conn = fault.conns[0]
    if after_created:
        await recorded_upto(session["id"], 1)
    assert await recorded_server_events(session["id"]) == conn.events_sent()
    await relay_gone(session["id"])
    await socket_closed(conn, client_sockets[0])
    assert conn.close_code == 1008
    await a_healthy_session_works(api, watch)


async def test_close_1008_mid_session_interrupts_in_words(
    api: httpx.AsyncClient, watch: Any, fault: FaultServer, client_sockets: list[base.UpstreamConnection]
) -> None:
    fault.scripts.append(close_1008(after_created=True))
    session = await create_session(api, upstream="yandex", session=None)
    sid = session["id"]
    watcher = await watch(sid)
    notice = await the_end(watcher)
    assert notice["kind"] == "upstream_closed" and notice["state"] == "interrupted"
    assert notice["message"] == WORDS_1008
    assert (await session_detail(api, sid))["state_reason"] == WORDS_1008
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    await relay_gone(sid)
    await socket_closed(conn, client_sockets[0])
    await a_healthy_session_works(api, watch)


# --- keepalive: an upstream that stops answering pings ----------------------------------------------------------


async def freeze_when_idle(conn: Conn) -> None:
    await created(conn)
    conn.ws.transport.pause_reading()
    await conn.release.wait()
    conn.ws.transport.resume_reading()
    await asyncio.Event().wait()


async def test_an_upstream_that_answers_no_ping_interrupts_in_words(
    api: httpx.AsyncClient,
    watch: Any,
    fault: FaultServer,
    monkeypatch: pytest.MonkeyPatch,
    client_sockets: list[base.UpstreamConnection],
) -> None:
    monkeypatch.setattr(base, "PING_INTERVAL_S", 0.3)
    monkeypatch.setattr(base, "PING_TIMEOUT_S", 0.3)
    fault.scripts.append(freeze_when_idle)
    session = await create_session(api, upstream="yandex", session=None)
    sid = session["id"]
    watcher = await watch(sid)
    notice = await the_end(watcher)
    assert notice["state"] == "interrupted"
    assert notice["message"].startswith(
        "The playground closed the Yandex connection: code 1011, Yandex answered no keepalive ping for 1 s"
    ), notice["message"]
    conn = fault.conns[0]
    assert await recorded_server_events(sid) == conn.events_sent()
    await relay_gone(sid)
    assert client_sockets[0].ws.state is State.CLOSED or client_sockets[0].ws.transport.is_closing()
    conn.release.set()
    await socket_closed(conn)
    await a_healthy_session_works(api, watch)
