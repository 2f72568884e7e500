"""Load-generator sessions: one kind talks to an emulator URL (directly or through the bare
forwarder), the other to the playground (REST to open and drive, a WebSocket to watch).

Every session checks what it got: the emulator numbers its events per connection
(`event_0001`, …) and the playground numbers frames (`seq`), so a loss, a repeat or a
reordering shows as a break in the count.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import ClientConnection, connect

STAMP = "x_emulator_sent_at"


@dataclass
class Tally:
    """What one session saw."""

    # (emulator send time, seconds from that send to our receive), per streamed event
    latencies: list[tuple[float, float]] = field(default_factory=list)
    events: int = 0
    messages: int = 0
    broken: str = ""  # why the sequence check failed, if it did
    done_at: float = 0.0
    first_at: float = 0.0
    # Only these event types count in `latencies` (every stamped event when empty): voice counts audio deltas.
    only: frozenset[str] = frozenset()

    def stamp(self, event: dict[str, Any], now: float) -> bool:
        """Count a stamped event's latency; whether it had a stamp."""
        if STAMP not in event:
            return False
        sent = event[STAMP]
        if not self.only or event["type"] in self.only:
            self.latencies.append((sent, now - sent))
        if not self.first_at:
            self.first_at = sent
        return True


def response_create(words: int, event_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "response.create",
        "response": {"output_modalities": ["text"], "metadata": {"emulator_words": str(words)}},
    }
    if event_id:
        event["event_id"] = event_id
    return event


class RawHttp:
    """A keep-alive HTTP/1.1 connection for REST probes: httpx costs the load generator's shared core
    about a millisecond of CPU per request, which would show up as the playground's latency."""

    def __init__(self, base_url: str, token: str) -> None:
        self.host, _, port = base_url.removeprefix("http://").partition(":")
        self.port = int(port)
        self.token = token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class EmulatorSession:
    """A session straight on an emulator URL (the direct baseline or the bare forwarder)."""

    def __init__(self, url: str, *, pace: float) -> None:
        self.url = f"{url}?pace={pace:g}&stamp=1"
        self.ws: ClientConnection | None = None
        self.tally = Tally()
        self._last_id = 0

    async def open(self) -> None:
        self.ws = await connect(self.url, max_size=None, compression=None, open_timeout=30)
        self._check(json.loads(await self.ws.recv()))

    def _check(self, event: dict[str, Any]) -> None:
        n = int(event["event_id"].rsplit("_", 1)[1])
        if n != self._last_id + 1 and not self.tally.broken:
            self.tally.broken = f"event {n} after {self._last_id}"
        self._last_id = n

    async def start(self, words: int) -> None:
        assert self.ws is not None
        await self.ws.send(json.dumps(response_create(words)))

    def _take(self, message: str | bytes) -> list[dict[str, Any]]:
        now = time.time()
        event = json.loads(message)
        self.tally.messages += 1
        self.tally.events += 1
        self._check(event)
        self.tally.stamp(event, now)
        return [event]

    async def until_done(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            event = self._take(message)[0]
            if event["type"] == "response.done":
                self.tally.done_at = time.time()
                return

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class PlaygroundSession:
    """A session through the playground: REST to open and drive it, its WebSocket to watch."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        token: str,
        *,
        pace: float,
        watch_url: str = "",
        session: dict[str, Any] | None = None,
    ) -> None:
        self.http = http
        self.session = session  # the initial config (POST /api/sessions' `session`), as the console sends it
        # Another worker's base URL (the production profile): watch there, not where the relay runs.
        self.watch_url = watch_url
        self.token = token
        self.pace = pace
        self.id = ""
        self.ws_url = ""
        self.ws: ClientConnection | None = None
        self.tally = Tally()
        self._last_seq = 0
        self.probe_answers: asyncio.Queue[float] = asyncio.Queue()
        self.raw: RawHttp | None = None

    async def open(self, *, watch: bool = True) -> None:
        body: dict[str, Any] = {"upstream": "emulator", "emulator": {"pace": self.pace, "stamp": True}}
        if self.session is not None:
            body["session"] = self.session
        res = await self.http.post("/api/sessions", json=body)
        res.raise_for_status()
        body = res.json()
        self.id = body["id"]
        self.ws_url = body["ws_url"]
        if watch:
            await self.watch(self.ws_url)

    async def watch(self, ws_url: str) -> None:
        """Join the session's socket (another client's session too: its owner may watch it from many)."""
        if self.watch_url:
            parts = urlsplit(ws_url)
            ws_url = urlunsplit(parts._replace(netloc=urlsplit(self.watch_url).netloc))
        self.ws = await connect(
            ws_url + "?after=0",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            max_size=None,
            compression=None,
            open_timeout=30,
        )
        # The session.created frame: the stream is live from here on.
        self._take(await self.ws.recv())

    def _take(self, message: str | bytes) -> list[dict[str, Any]]:
        now = time.time()
        frames = json.loads(message)
        self.tally.messages += 1
        events = []
        for frame in frames:
            seq = frame["seq"]
            if seq is None:
                continue
            if seq != self._last_seq + 1 and not self.tally.broken:
                self.tally.broken = f"seq {seq} after {self._last_seq}"
            self._last_seq = max(self._last_seq, seq)
            self.tally.events += 1
            event = frame.get("event")
            if event is None:
                continue
            if self.tally.stamp(event, now) and event["type"] == "input_audio_buffer.cleared":
                self.probe_answers.put_nowait(event[STAMP])
            events.append(event)
        return events

    async def start(self, words: int) -> None:
        # Over the watcher's socket, as the browser does: a REST call per session would put
        # the API's cost, not the relay's, into the streams' first latencies (REST is measured apart).
        assert self.ws is not None
        await self.ws.send(json.dumps(response_create(words)))

    async def until_done(self) -> None:
        assert self.ws is not None
        async for message in self.ws:
            events = self._take(message)
            if any(e["type"] == "response.done" for e in events):
                self.tally.done_at = time.time()
                return

    async def drain(self) -> None:
        """Read frames until the socket closes (used while probes run)."""
        assert self.ws is not None
        async for message in self.ws:
            self._take(message)

    async def probe(self) -> float:
        """REST client event → the emulator's answer stamp: seconds from POST to the upstream."""
        if self.raw is None:  # one keep-alive connection per session, as a script would hold
            self.raw = RawHttp(str(self.http.base_url).rstrip("/"), self.token)
        path = f"/api/sessions/{self.id}/client-events/input_audio_buffer.clear"
        sent = time.time()
        status = await self.raw.post(path, b'{"type": "input_audio_buffer.clear"}')
        if status != 200:
            raise RuntimeError(f"POST {path}: HTTP {status}")
        answered = await asyncio.wait_for(self.probe_answers.get(), 10)
        return answered - sent

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.raw is not None:
            await self.raw.close()
        await self.http.post(f"/api/sessions/{self.id}/close")
