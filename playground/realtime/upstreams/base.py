"""What every upstream (Yandex, the emulator) offers the relay.

An upstream is a realtime-protocol WebSocket server. The relay only needs to
open one connection per live session, send client events as JSON text, read
server events as JSON text and close. Both upstreams are real WebSocket
servers, so one connection class serves both; they differ in URL, headers and
availability.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

# Yandex allows audio appends up to 15 MiB of base64; leave room for the envelope.
MAX_FRAME_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0

# Close codes people meet in practice, in words.
CLOSE_CODE_WORDS = {
    1000: "closed normally",
    1001: "going away",
    1006: "connection lost without a close frame",
    1008: "policy violation (on Yandex: usually a bad model URI or folder)",
    1009: "message too big",
    1011: "internal error on the upstream",
    1013: "try again later",
}


class UpstreamError(Exception):
    """An upstream could not be reached or failed; the message is for people."""

    def __init__(self, message: str, *, code: int | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


class UpstreamClosed(UpstreamError):
    """The upstream closed the connection (normally or not)."""

    def __init__(self, message: str, *, code: int | None = None, reason: str = "", clean: bool = True) -> None:
        super().__init__(message, code=code)
        self.reason = reason
        self.clean = clean


def describe_close(upstream: str, code: int | None, reason: str) -> str:
    """`Yandex closed the session: code 1008, policy violation (...): "bad model"`."""
    if code is None:
        return f"{upstream} connection was lost without a close frame."
    words = CLOSE_CODE_WORDS.get(code, "")
    text = f"{upstream} closed the session: code {code}"
    if words:
        text += f", {words}"
    if reason:
        text += f': "{reason}"'
    return text + "."


@dataclass
class UpstreamConnection:
    """One open WebSocket to an upstream."""

    upstream: str
    ws: ClientConnection
    url_for_display: str
    extra: dict[str, Any] = field(default_factory=dict)

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(self.upstream, exc) from exc

    async def recv(self) -> str:
        """The next server event as JSON text; UpstreamClosed when it ends."""
        try:
            message = await self.ws.recv()
        except ConnectionClosed as exc:
            raise _closed(self.upstream, exc) from exc
        if isinstance(message, bytes):
            # The protocol is JSON text; a binary frame is decoded, not dropped.
            message = message.decode("utf-8", errors="replace")
        return message

    async def close(self) -> None:
        with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
            await asyncio.wait_for(self.ws.close(), timeout=2.0)


def _closed(upstream: str, exc: ConnectionClosed) -> UpstreamClosed:
    rcvd = exc.rcvd
    code = rcvd.code if rcvd is not None else None
    reason = rcvd.reason if rcvd is not None else ""
    clean = rcvd is not None and code in (1000, 1001)
    return UpstreamClosed(describe_close(upstream, code, reason), code=code, reason=reason, clean=clean)


class Upstream(abc.ABC):
    """A kind of upstream: knows where to connect and with what headers."""

    name: str
    title: str

    @abc.abstractmethod
    def is_available(self) -> bool:
        """Whether this deployment can use it (Yandex needs credentials)."""

    @abc.abstractmethod
    async def endpoint(self, *, options: dict[str, Any]) -> tuple[str, dict[str, str], str]:
        """(url, headers, url safe to show people) for one new connection."""

    async def connect(self, *, options: dict[str, Any] | None = None) -> UpstreamConnection:
        url, headers, display = await self.endpoint(options=options or {})
        try:
            ws = await asyncio.wait_for(
                websockets.connect(
                    url,
                    additional_headers=headers,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=CONNECT_TIMEOUT_S,
                    # The relay reads continuously; keepalive pings detect dead peers.
                    ping_interval=20,
                    ping_timeout=20,
                    compression=None,
                ),
                timeout=CONNECT_TIMEOUT_S + 1,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            raise UpstreamError(
                f"{self.title} refused the connection: HTTP {status} {_status_words(status)}.",
                status=status,
            ) from exc
        except ConnectionClosed as exc:
            raise _closed(self.title, exc) from exc
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            raise UpstreamError(
                f"Could not connect to {self.title} at {display}: {exc or type(exc).__name__}."
            ) from exc
        return UpstreamConnection(upstream=self.name, ws=ws, url_for_display=display)


def _status_words(status: int) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized: check YC_API_KEY or YC_IAM_TOKEN",
        403: "Forbidden: the key has no access to this folder or model",
        404: "Not Found: check PLAYGROUND_YANDEX_URL",
        429: "Too Many Requests: the concurrent session quota is used up",
        500: "Internal Server Error",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }.get(status, "")
