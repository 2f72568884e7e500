"""A socket's outgoing messages, and giving up on a client that does not read them.

Both sockets that carry every delta (/ws/sessions/… and /v1/realtime, base.py) send through an
Outbox: their dispatch loop never waits for the client, and at most PLAYGROUND_WATCHER_QUEUE_BYTES
wait for it. Past that the consumer gives the socket up: a last message, a close, and a reset if
the client takes neither.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import struct
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)

# After falling behind, how long the notice and the close frame may wait for the client to read
# before the connection is aborted (its buffers freed).
SLOW_CLOSE_GRACE_S = 5.0


async def _finish(coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Run a coroutine that already ran its first step and suspended on `waiting` to its end.

    asyncio coroutines suspend by yielding the future they wait for (or None: a bare yield);
    awaiting that future here, then resuming the coroutine, is what a task would have done
    (a task also clears the future's `_asyncio_future_blocking` first).
    """
    try:
        while True:
            if waiting is None:
                await asyncio.sleep(0)
            else:
                waiting._asyncio_future_blocking = False
                with contextlib.suppress(Exception):
                    await waiting  # its outcome reaches the coroutine when it resumes
            waiting = coro.send(None)
    except StopIteration:
        return
    except BaseException:
        coro.close()
        raise


class Outbox:
    """A socket's outgoing messages: sent at once while the socket keeps up, queued while it does not.

    The ASGI server's `send` blocks while the connection's write buffer is full (uvicorn pauses
    at its transport's high-water mark, 64 KiB, when the client stops reading). Awaiting it in the
    consumer's dispatch would stop the consumer reading its channel-layer queue, so batches would
    pile up there (bounded in number, not bytes, then dropped). Here each send runs its first step
    inline (the whole send, when the socket is writable: no task, no extra loop round); one that
    blocks is finished by a writer task, and messages behind it wait here, counted in bytes.
    `overflowed` says the queue went past `limit`: the consumer then gives the socket up.
    """

    def __init__(self, send: Callable[[dict[str, Any]], Coroutine[Any, Any, None]], limit: int) -> None:
        self._send = send
        self.limit = limit
        self.queue: deque[dict[str, Any]] = deque()
        self.bytes = 0
        self.writer: asyncio.Task[None] | None = None
        self.last_text: str | None = None  # the last text of frames the server took (seq-bearing)
        self.progress = asyncio.Event()  # set whenever a queued send completes

    @property
    def overflowed(self) -> bool:
        return self.bytes > self.limit

    @property
    def pending(self) -> bool:
        return self.writer is not None

    def _sent(self, message: dict[str, Any]) -> None:
        text = message.get("text")
        if text is not None and not text.startswith('[{"seq":null'):
            self.last_text = text

    async def send(self, message: dict[str, Any]) -> None:
        """Channels' base_send: never waits for the client."""
        if self.writer is not None:
            self.queue.append(message)
            self.bytes += _size(message)
            return
        coro = self._send(message)
        if not asyncio.iscoroutine(coro):  # an ASGI server whose send is some other awaitable
            await coro
            self._sent(message)
            return
        try:
            waiting = coro.send(None)
        except StopIteration:
            self._sent(message)
            return
        self.bytes += _size(message)
        self.writer = asyncio.create_task(self._write(coro, waiting, message))

    async def _write(self, coro: Coroutine[Any, Any, Any], waiting: Any, message: dict[str, Any]) -> None:
        try:
            await _finish(coro, waiting)
            self.bytes -= _size(message)
            self._sent(message)
            self.progress.set()
            while self.queue:
                message = self.queue[0]
                await self._send(message)
                self.queue.popleft()
                self.bytes -= _size(message)
                self._sent(message)
                self.progress.set()
        except Exception as exc:  # the client is gone: its disconnect reaches the consumer as usual
            log.debug("send to a watcher failed: %r", exc)
            self.queue.clear()
            self.bytes = 0
        finally:
            self.writer = None
            self.progress.set()

    async def drain(self, *, stall_s: float) -> None:
        """Wait until everything queued is sent; TimeoutError when no send completes for `stall_s`."""
        while self.writer is not None:
            self.progress.clear()
            await asyncio.wait_for(self.progress.wait(), stall_s)

    async def discard(self) -> None:
        """Drop what is queued and the send in flight (it never reached the server's buffer)."""
        self.queue.clear()
        self.bytes = 0
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)


def _size(message: dict[str, Any]) -> int:
    return len(message.get("text") or message.get("bytes") or b"")


def last_seq(text: str | None, default: int) -> int:
    """The highest seq in a message of frames (`Outbox.last_text`: what the server took), else `default`."""
    if text is None:
        return default
    seqs = [f["seq"] for f in json.loads(text) if isinstance(f, dict) and isinstance(f.get("seq"), int)]
    return max(seqs, default=default)


async def give_up(send: Callable[[dict[str, Any]], Awaitable[None]], last: str, code: int) -> None:
    """A socket's last message and close, straight to the server (behind what it already holds);
    the connection is reset if the client takes neither within SLOW_CLOSE_GRACE_S."""
    try:
        async with asyncio.timeout(SLOW_CLOSE_GRACE_S):
            await send({"type": "websocket.send", "text": last})
            await send({"type": "websocket.close", "code": code, "reason": "slow consumer"})
    except TimeoutError:
        _abort_connection(send)  # still not reading: drop the connection and what the server holds for it
    except Exception as exc:  # gone meanwhile
        log.debug("closing a slow socket: %r", exc)


def _abort_connection(send: Any) -> bool:
    """Reset the TCP connection under an ASGI `send`, if the server lets us find it (uvicorn's
    WebSocket protocols: `send` is a method of the protocol, which holds the asyncio transport).

    A plain close (or the transport's abort, which closes the socket) would queue a FIN behind the
    unsent bytes of a client that reads nothing: the connection would linger. Lingering off makes
    the close a reset, and the kernel drops the send buffer at once."""
    transport: Any = getattr(getattr(send, "__self__", None), "transport", None)
    abort = getattr(transport, "abort", None)
    if abort is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    abort()
    return True
