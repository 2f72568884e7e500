"""The emulator's WebSocket server: it listens, checks each connection's query, and runs a `Connection` per client."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from .connection import Connection

# The playground forwards appends of up to 15 MiB of audio (playground/realtime/events.py): 20 MiB of base64,
# plus the envelope.
MAX_FRAME_BYTES = 21 * 1024 * 1024


def connection_options(path: str, *, pace: float, lifetime: float) -> tuple[float, float]:
    """(pace, lifetime) for one connection: the URL's query overrides the server's defaults."""
    query = parse_qs(urlsplit(path).query)
    return _query_number(query, "pace", pace), _query_number(query, "lifetime", lifetime)


def _query_number(query: dict[str, list[str]], name: str, default: float) -> float:
    if name not in query:
        return default
    raw = query[name][-1]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be zero or a positive number, got {raw!r}")
    return value


class EmulatorServer:
    """A realtime WebSocket server on a local port that answers like Yandex, offline and deterministically."""

    def __init__(
        self, *, events_per_second: float = 0.0, session_lifetime_s: float = 300.0, sample_rate: int = 44100
    ) -> None:
        # events_per_second: pace of each response's events (0: as fast as possible).
        # session_lifetime_s: then `error` session_expired and close 1000 (0: no limit).
        # sample_rate: input and output PCM rate of new sessions (Yandex uses 44100).
        self.events_per_second = events_per_second
        self.session_lifetime_s = session_lifetime_s
        self.sample_rate = sample_rate
        self._server: Server | None = None
        self._url = ""
        self._sessions = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the ws:// URL to connect to."""
        if self._server is not None:
            raise RuntimeError("The emulator is already running.")
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._check_request,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # loopback: compression only costs CPU
        )
        self._url = self._url_of(next(iter(self._server.sockets)).getsockname())
        return self._url

    @staticmethod
    def _url_of(sockname: Any) -> str:
        address, port = sockname[0], sockname[1]
        # A wildcard address is fine to listen on but not to connect to.
        address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
        if ":" in address:
            address = f"[{address}]"
        return f"ws://{address}:{port}/v1/realtime"

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("The emulator is not running: call start() first.")
        return self._url

    async def stop(self) -> None:
        """Close the server and every connection; returns when all handlers have ended."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        self._url = ""

    async def serve_forever(self) -> None:
        """Serve until cancelled (Ctrl-C in `python -m emulator`)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            connection_options(request.path, pace=self.events_per_second, lifetime=self.session_lifetime_s)
        except ValueError as exc:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        pace, lifetime = connection_options(
            ws.request.path, pace=self.events_per_second, lifetime=self.session_lifetime_s
        )
        self._sessions += 1
        stamp = parse_qs(urlsplit(ws.request.path).query).get("stamp", ["0"])[-1] == "1"
        connection = Connection(
            ws,
            session_id=f"sess_{self._sessions:04d}",
            pace=pace,
            lifetime=lifetime,
            rate=self.sample_rate,
            stamp=stamp,
        )
        await connection.run()
