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
import json
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from playground import metrics

# Yandex allows audio appends up to 15 MiB of base64; leave room for the envelope.
MAX_FRAME_BYTES = 16 * 1024 * 1024
CONNECT_TIMEOUT_S = 10.0
# Closing politely waits this long for the upstream's answer; then the socket is dropped.
CLOSE_TIMEOUT_S = 2.0
# Keepalive: a peer that answers no ping for PING_INTERVAL_S + PING_TIMEOUT_S is given up.
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0

# Close codes people meet in practice, in words.
CLOSE_CODE_WORDS = {
    1000: "closed normally",
    1001: "going away",
    1006: "connection lost without a close frame",
    1007: "invalid frame payload (text that is not UTF-8)",
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

    def __init__(
        self, message: str, *, code: int | None = None, reason: str = "", clean: bool = True, by_us: bool = False
    ) -> None:
        super().__init__(message, code=code)
        self.reason = reason
        self.clean = clean
        self.by_us = by_us  # the playground failed the connection (a frame too big, bad UTF-8, no pong)

    @property
    def fault(self) -> str | None:
        """The kind of fault for playground_upstream_faults_total; None for a clean close (1000, 1001)."""
        if self.clean:
            return None
        if self.by_us:
            return "protocol"
        return "lost" if self.code is None else "closed"


def describe_close(upstream: str, code: int | None, reason: str, *, by_us: bool = False) -> str:
    """`Yandex closed the session: code 1008, policy violation (...): "bad model"`.

    `by_us`: the playground's side failed the connection (a frame over MAX_FRAME_BYTES, bad UTF-8,
    no answer to keepalive pings) and told the upstream so with `code`."""
    if code is None:
        return f"{upstream} connection was lost without a close frame."
    words = CLOSE_CODE_WORDS.get(code, "")
    if by_us:
        if code == 1009:
            words = f"a frame from {upstream} was over the playground's {MAX_FRAME_BYTES:,}-byte limit"
        elif "keepalive" in reason:
            words = f"{upstream} answered no keepalive ping for {PING_INTERVAL_S + PING_TIMEOUT_S:.0f} s"
        text = f"The playground closed the {upstream} connection: code {code}"
    else:
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
    title: str = ""  # for people: "Yandex", not "yandex"

    async def send(self, text: str) -> None:
        try:
            await self.ws.send(text)
        except ConnectionClosed as exc:
            raise _closed(self.title or self.upstream, exc) from exc

    async def recv(self) -> str | bytes:
        """The next server event as JSON text (bytes for a binary frame); UpstreamClosed when it ends."""
        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            raise _closed(self.title or self.upstream, exc) from exc

    async def close(self) -> None:
        try:
            with contextlib.suppress(TimeoutError, ConnectionClosed, OSError):
                await asyncio.wait_for(self.ws.close(), timeout=CLOSE_TIMEOUT_S + 0.5)
        finally:
            # An upstream that stopped reading never answers the close: drop the socket, or it stays open.
            if self.ws.transport is not None and not self.ws.transport.is_closing():
                self.ws.transport.abort()


def _closed(upstream: str, exc: ConnectionClosed) -> UpstreamClosed:
    rcvd, sent = exc.rcvd, exc.sent
    if rcvd is None and sent is not None:
        # No close frame came: this side failed the connection, saying why in the frame it sent.
        message = describe_close(upstream, sent.code, sent.reason, by_us=True)
        return UpstreamClosed(message, code=sent.code, reason=sent.reason, clean=False, by_us=True)
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
        started = time.monotonic()
        try:
            ws = await asyncio.wait_for(
                websockets.connect(
                    url,
                    additional_headers=headers,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=CONNECT_TIMEOUT_S,
                    close_timeout=CLOSE_TIMEOUT_S,
                    # The relay reads continuously; keepalive pings detect dead peers.
                    ping_interval=PING_INTERVAL_S,
                    ping_timeout=PING_TIMEOUT_S,
                    compression=None,
                ),
                timeout=CONNECT_TIMEOUT_S + 1,
            )
        except InvalidStatus as exc:
            metrics.upstream_fault(self.name, "refused")
            status = exc.response.status_code
            raise UpstreamError(self._refusal(exc.response.status_code, exc.response), status=status) from exc
        except ConnectionClosed as exc:
            metrics.upstream_fault(self.name, "closed_at_start")
            raise _closed(self.title, exc) from exc
        except (InvalidHandshake, OSError, TimeoutError) as exc:
            metrics.upstream_fault(self.name, "unreachable")
            raise UpstreamError(
                f"Could not connect to {self.title} at {display}: {exc or type(exc).__name__}."
            ) from exc
        metrics.UPSTREAM_CONNECT.labels(upstream=self.name).observe(time.monotonic() - started)
        return UpstreamConnection(upstream=self.name, ws=ws, url_for_display=display, title=self.title)

    def secrets(self) -> list[str]:
        """Credentials that must never reach a message (an upstream may echo a header back)."""
        return []

    def _refusal(self, status: int, response: Any) -> str:
        """`Yandex refused the connection: HTTP 401 Unauthorized: check …. Yandex said: "…".`"""
        text = f"{self.title} refused the connection: HTTP {status} {_status_words(status)}".rstrip() + "."
        retry_after = response.headers.get("Retry-After")
        if retry_after:
            text += f" Retry after {retry_after[:40]} s."
        said = _said(response.body or b"")
        for secret in self.secrets():
            if secret:
                said = said.replace(secret, "[redacted]")
        if said:
            text += f' {self.title} said: "{said}".'
        return text


def _said(body: bytes) -> str:
    """The upstream's own words from a refusal's body: its JSON `message` if any, else the text, short."""
    text = body[:4000].decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        inner: dict[str, Any] = error if isinstance(error, dict) else data
        message = inner.get("message") or inner.get("error") or inner.get("detail")
        if isinstance(message, str):
            text = message
    text = " ".join(text.split())
    return text[:300] + ("…" if len(text) > 300 else "")


def _status_words(status: int) -> str:
    return {
        400: "Bad Request",
        401: "Unauthorized: check YC_API_KEY or YC_IAM_TOKEN",
        403: "Forbidden: the key has no access to this folder or model",
        404: "Not Found: check PLAYGROUND_YANDEX_URL",
        429: "Too Many Requests: the concurrent session quota is used up",
        500: "Internal Server Error: a fault on the upstream's side; try again later",
        502: "Bad Gateway",
        503: "Service Unavailable",
    }.get(status, "")
