"""WebSocket `/ws/sessions/<id>/?after=<seq>`: watch a session and send it client events.

Thin, as consumers go: authenticate, join the session's group, forward. The
catch-up and gap logic lives in follow.py; validation in events.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import socket
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any
from urllib.parse import parse_qs

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from playground.db import db
from playground.teams.access import can_change

from . import lease, selectors
from .events import ClientEventError, event_to_wire, parse_client_event
from .follow import Follower, GapNotRecorded
from .frames import session_group
from .layers import channel_done
from .models import RealtimeSession, SessionState

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
# The socket fell behind by more than PLAYGROUND_WATCHER_QUEUE_BYTES: reconnect with ?after.
CLOSE_SLOW_CONSUMER = 4008

# After falling behind, how long the notice and the close frame may wait for the client to read
# before the connection is aborted (its buffers freed). A catch-up from the recording (paced,
# not bounded by bytes) counts as fallen behind when no send completes for CATCH_UP_STALL_S.
SLOW_CLOSE_GRACE_S = 5.0
CATCH_UP_STALL_S = 30.0

log = logging.getLogger(__name__)

# Handlers on the hot path that touch no database: channels would otherwise hop to
# the shared sync thread (aclose_old_connections) before every single batch.
_NO_DB_HANDLERS = frozenset({"relay.frames", "relay.ack"})


# Frames of the playground's own notices carry this; only those can change the session's state.
_NOTICE_MARK = '"direction":"playground"'


def local_notice(kind: str, message: str, **extra: Any) -> str:
    """A frame for this socket only (seq null): it is not part of the recording."""
    notice = {"kind": kind, "message": message, **extra}
    return json.dumps([{"seq": None, "direction": "playground", "ts": round(time.time(), 6), "notice": notice}])


async def _serve_sources(
    sources: list[Callable[[], Awaitable[Any]]], dispatch: Callable[[Any], Awaitable[None]]
) -> None:
    """Like channels' await_many_dispatch, without a new task and an asyncio.wait per message.

    One reader per source (the socket, the channel layer); a lock keeps handlers one at a
    time, in arrival order per source, as Channels does. The first error (StopConsumer
    included) ends both readers and is raised.
    """
    lock = asyncio.Lock()

    async def pump(source: Callable[[], Awaitable[Any]]) -> None:
        while True:
            message = await source()
            async with lock:
                await dispatch(message)

    tasks = [asyncio.create_task(pump(source)) for source in sources]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _as_is(text: str) -> list[str]:
    return [text]


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


def _last_seq(text: str | None, default: int) -> int:
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


async def serve_with_outbox(consumer: Any, scope: dict[str, Any], receive: Any, send: Any) -> None:
    """AsyncConsumer.__call__ with a cheaper dispatch loop, for sockets that carry every delta
    (SessionConsumer, OpenAICompatConsumer). Every message to the socket goes through an outbox,
    so the dispatch never waits for the client, and at most PLAYGROUND_WATCHER_QUEUE_BYTES wait for it."""
    consumer.scope = scope
    consumer.channel_layer = get_channel_layer(consumer.channel_layer_alias)
    consumer.channel_name = await consumer.channel_layer.new_channel()
    consumer.channel_receive = functools.partial(consumer.channel_layer.receive, consumer.channel_name)
    consumer.outbox = Outbox(send, settings.PLAYGROUND_WATCHER_QUEUE_BYTES)
    consumer.server_send = send
    consumer.base_send = consumer.outbox.send
    try:
        with contextlib.suppress(StopConsumer):
            await _serve_sources([receive, consumer.channel_receive], consumer.dispatch)
    finally:
        if consumer.closer is not None:
            consumer.closer.cancel()
        await consumer.outbox.discard()
        await channel_done(consumer.channel_layer, consumer.channel_name)  # the pub/sub layer's subscription


class SessionConsumer(AsyncWebsocketConsumer):
    session: RealtimeSession
    state: str
    follower: Follower
    outbox: Outbox
    slow = False  # fell behind: being closed
    closer: asyncio.Task[None] | None = None
    after = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await serve_with_outbox(self, scope, receive, send)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if self.slow and message["type"] != "websocket.disconnect":
            return  # given up on: only the close handshake (or the abort) is left
        if message["type"] in _NO_DB_HANDLERS:
            handler = getattr(self, message["type"].replace(".", "_"))
            await handler(message)
        else:
            await super().dispatch(message)
        if self.outbox.overflowed:
            await self._fell_behind()

    async def _fell_behind(self) -> None:
        """More than PLAYGROUND_WATCHER_QUEUE_BYTES wait for this client: free them, leave the group, tell
        the client (after what it already has) where to resume, close; abort if it does not read."""
        if self.slow:
            return
        self.slow = True
        behind = self.outbox.bytes
        after = _last_seq(self.outbox.last_text, self.after)
        await self.outbox.discard()
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        log.info("a watcher of session %s fell behind by %d bytes: closing it", self.session.id, behind)
        notice = local_notice(
            "slow_consumer",
            f"This socket fell behind by more than {self.outbox.limit // 1024} KiB "
            f"(PLAYGROUND_WATCHER_QUEUE_BYTES); reconnect with ?after={after}.",
            after=after,
        )
        self.closer = asyncio.create_task(give_up(self.server_send, notice, CLOSE_SLOW_CONSUMER))

    async def connect(self) -> None:
        lease.ensure_sweeper()  # this worker notices dead workers' sessions for its watchers
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            after = int(query.get("after", ["0"])[0])
            if after < 0:
                raise ValueError
        except ValueError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        session = await db(selectors.session_get, user=user, session_id=self.scope["url_route"]["kwargs"]["session_id"])
        if session is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.session = session
        self.state = session.state
        # A team's viewer may watch but not drive: their client events are refused (403), like over REST.
        self.may_change = can_change(user=user, obj=session)
        trim = query.get("trim", ["0"])[0] not in ("0", "", "false")
        self.follower = Follower(
            session_id=session.id, after=after, trim_to=settings.PLAYGROUND_TRIM_BASE64_TO if trim else None
        )
        # Join before reading the recording: whatever is published from now on is queued for us.
        self.group = session_group(session.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        self.after = after
        await self.accept()
        for text in await self.follower.recorded():
            await self.send(text_data=text)
            if self.outbox.pending:
                # A catch-up is paced by the client (one page in flight), not bounded in bytes;
                # a client that takes nothing for CATCH_UP_STALL_S fell behind all the same.
                try:
                    await self.outbox.drain(stall_s=CATCH_UP_STALL_S)
                except TimeoutError:
                    await self._fell_behind()
                    return
        if session.state == SessionState.LIVE and session.relay_channel:
            # Learn the relay's current seq: frames published before we joined and not
            # yet recorded are then fetched once the recorder has them.
            await self.channel_layer.send(
                session.relay_channel, {"type": "relay.sync", "reply_channel": self.channel_name}
            )

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)

    # --- from the relay -------------------------------------------------------

    async def relay_frames(self, message: dict[str, Any]) -> None:
        if message.get("lease_notice") and message["last"] <= self.follower.last:
            # A dead worker's relay published frames it never recorded, and the lease's notice took the
            # recording's next seq, one this socket already saw: the recording is the truth, follow it.
            self.follower.last = message["last"]
            await self._forward(_as_is(message["text"]))
            return
        await self._forward(self.follower.live(message))

    async def relay_synced(self, message: dict[str, Any]) -> None:
        await self._forward(self.follower.recorded(upto=int(message["seq"]), wait=True))

    async def _forward(self, texts: Awaitable[list[str]]) -> None:
        try:
            for text in await texts:
                if _NOTICE_MARK in text and self._note_state(text):
                    await self._note_relay()
                await self.send(text_data=text)
        except GapNotRecorded as exc:
            await self.send(
                text_data=local_notice("gap", f"Some events are not recorded yet ({exc}); reconnect with ?after.")
            )

    def _note_state(self, text: str) -> bool:
        """Follow the state the notices announce; True when the session went live again (resumed)."""
        resumed = False
        for frame in json.loads(text):
            state = (frame.get("notice") or {}).get("state")
            if state:
                resumed = resumed or (state == SessionState.LIVE and self.state != SessionState.LIVE)
                self.state = state
        return resumed

    async def _note_relay(self) -> None:
        """A resumed session has a new relay, maybe on another worker: send client events there."""
        rows = RealtimeSession.objects.filter(pk=self.session.id).values_list("relay_channel", flat=True)
        self.session.relay_channel = await db(lambda: rows.first() or "")

    async def relay_ack(self, message: dict[str, Any]) -> None:
        """The relay forwarded our client event: the frame itself arrives with the stream."""

    async def relay_error(self, message: dict[str, Any]) -> None:
        await self.send(text_data=local_notice("rejected", message["message"]))

    # --- from the browser -----------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send(text_data=local_notice("rejected", "Send client events as JSON text frames, not binary."))
            return
        try:
            data = json.loads(text_data)
        except ValueError as exc:
            await self.send(text_data=local_notice("rejected", f"Not JSON: {exc}.", field="body"))
            return
        try:
            event = parse_client_event(data)
        except ClientEventError as exc:
            await self.send(text_data=local_notice("rejected", exc.message, field=exc.field, status=exc.status))
            return
        if not self.may_change:
            await self.send(
                text_data=local_notice("rejected", "You may watch this session but not send it events.", status=403)
            )
            return
        # The state as of connect, kept current by the relay's own end-of-session notice:
        # no database query per client event (a socket may send one per audio chunk).
        if self.state != SessionState.LIVE or not self.session.relay_channel:
            await self.send(text_data=local_notice("rejected", f"The session is {self.state}, not live.", status=409))
            return
        wire = event_to_wire(event)
        await self.channel_layer.send(
            self.session.relay_channel,
            {
                "type": "relay.client_event",
                "text": json.dumps(wire, separators=(",", ":"), ensure_ascii=False),
                "reply_channel": self.channel_name,
            },
        )
