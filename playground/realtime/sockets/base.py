"""The one base of the two sockets that carry a session's every event.

`/ws/sessions/<id>/` (session.py: the console, watchers, scripts) and `/v1/realtime` (openai.py:
OpenAI realtime clients) share all of this, written once:
- the dispatch loop, cheaper than Channels' own, with an outbox (outbox.py): the loop never waits
  for the client, and a client more than PLAYGROUND_WATCHER_QUEUE_BYTES behind is given up;
- following a session without gaps or repeats: join its group, send what the recording holds,
  then sync with its relay (follow.py fills whatever the channel layer dropped);
- the relay's messages (runtime/messages.py) and a client event's way from the socket to the relay.

Each endpoint's consumer holds only what differs: how it finds its session, and how it speaks to
its client (the playground's frames, or plain OpenAI events) through the hooks at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings

from playground import metrics

from ..events import ClientEventError, compact_json, event_to_wire, parse_client_event
from ..models import RealtimeSession, SessionState
from ..runtime import lease, messages
from ..runtime.follow import Follower, GapNotRecorded
from ..runtime.frames import session_group
from ..runtime.layers import channel_done
from .outbox import Outbox, give_up, last_seq

log = logging.getLogger(__name__)

# A catch-up from the recording is paced by the client (one page in flight), not bounded in bytes;
# a client that takes nothing for CATCH_UP_STALL_S fell behind all the same.
CATCH_UP_STALL_S = 30.0

# Handlers on the hot path that touch no database on this thread (a gap fill reads it through
# playground.db's threads): Channels would otherwise hop to the shared sync thread
# (aclose_old_connections) before every single batch, and before the relay's tail (`synced`) reaches
# every watcher of a quiet session.
_NO_DB_HANDLERS = frozenset({messages.FRAMES, messages.ACK, messages.SYNCED})


def client_error_code(exc: ClientEventError) -> str:
    """OpenAI's error code for a refused client event."""
    if exc.status == 413:
        return "payload_too_large"
    if exc.message.endswith("Field required"):
        return "missing_required_parameter"
    if exc.message.endswith("Extra inputs are not permitted"):
        return "unknown_parameter"
    return "invalid_value"


async def _serve_sources(
    sources: list[Callable[[], Awaitable[Any]]], dispatch: Callable[[Any], Awaitable[None]]
) -> None:
    """Like Channels' await_many_dispatch, without a new task and an asyncio.wait per message.

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


@dataclass(frozen=True, slots=True)
class Refusal:
    """A client message not sent on, and why: each endpoint says it its own way (RelaySocketConsumer.refuse)."""

    message: str
    code: str  # OpenAI's error code
    field: str | None = None
    status: int | None = None  # the HTTP status the REST API would answer
    event_id: str | None = None  # the refused client event's own id, if it had one


def parse_message(text_data: str | None) -> Any:
    """A client's message as JSON, or the Refusal saying why it is not."""
    if text_data is None:
        return Refusal("Send client events as JSON text messages, not binary.", code="invalid_json")
    try:
        return json.loads(text_data)
    except ValueError as exc:
        return Refusal(f"The message is not JSON: {exc}.", code="invalid_json", field="body")


def client_event_id(data: Any) -> str | None:
    """The client event's own id, if it has a usable one (an error about the event names it)."""
    event_id = data.get("event_id") if isinstance(data, dict) else None
    return event_id if isinstance(event_id, str) else None


async def _as_is(text: str) -> list[str]:
    return [text]


class RelaySocketConsumer(AsyncWebsocketConsumer):
    """A socket that follows one session's frames and sends its client's events to the session's relay."""

    session: RealtimeSession | None = None
    # The session's state as this socket last learned it (at connect, then from the notices):
    # no database query per client event (a socket may send one per audio chunk).
    state: str = SessionState.CONNECTING
    following = False  # in the session's group, forwarding its frames
    may_change = True  # a team's viewer may watch but not drive
    follower: Follower
    outbox: Outbox
    after = 0  # the seq the client asked to start after
    slow = False  # fell behind: being closed
    closer: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """AsyncConsumer.__call__ with a cheaper dispatch loop; every message to the socket goes
        through the outbox, so the dispatch never waits for the client."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.outbox = Outbox(send, settings.PLAYGROUND_WATCHER_QUEUE_BYTES)
        self.server_send = send
        self.base_send = self.outbox.send
        try:
            with contextlib.suppress(StopConsumer):
                await _serve_sources([receive, self.channel_receive], self.dispatch)
        finally:
            if self.closer is not None:
                self.closer.cancel()
            await self.outbox.discard()
            await channel_done(self.channel_layer, self.channel_name)  # the pub/sub layer's subscription
            await self.socket_ended()

    async def dispatch(self, message: dict[str, Any]) -> None:
        if self.slow and message["type"] != "websocket.disconnect":
            return  # given up on: only the close handshake (or the abort) is left
        if message["type"] in _NO_DB_HANDLERS:
            await getattr(self, message["type"].replace(".", "_"))(message)
        else:
            await super().dispatch(message)
        if self.outbox.overflowed:
            await self._fell_behind()

    async def _fell_behind(self) -> None:
        """More than PLAYGROUND_WATCHER_QUEUE_BYTES wait for this client: free them, leave the group, say
        goodbye (after what the client already has) and close; abort if it does not read."""
        if self.slow:
            return
        self.slow = True
        behind = self.outbox.bytes
        after = last_seq(self.outbox.last_text, self.after)
        await self.outbox.discard()
        await self._leave()
        log.info(
            "a watcher of session %s fell behind by %d bytes: closing it", getattr(self.session, "id", "?"), behind
        )
        text, code = self.farewell(after=after)
        self.closer = asyncio.create_task(give_up(self.server_send, text, code))

    async def disconnect(self, code: int) -> None:
        await self._leave()

    async def _leave(self) -> None:
        if self.following:
            await self.channel_layer.group_discard(session_group(self.session_id), self.channel_name)

    @property
    def session_id(self) -> Any:
        assert self.session is not None
        return self.session.id

    # --- following the session ----------------------------------------------------------

    async def follow(self, session: RealtimeSession, *, after: int = 0, trim_to: int | None = None) -> None:
        """Join the session's group, send what its recording holds after `after`, then learn its relay's
        seq and fill up to it: from then on the session's frames reach the client in order, none twice."""
        lease.ensure_sweeper()  # this worker notices dead workers' sessions for its sockets
        self.session = session
        self.state = session.state
        self.after = after
        self.follower = Follower(session_id=session.id, after=after, trim_to=trim_to)
        # Join before reading the recording: whatever is published from now on is queued for us.
        await self.channel_layer.group_add(session_group(session.id), self.channel_name)
        self.following = True
        for text in await self.follower.recorded():
            await self.deliver(text)
            if not self.following:
                return
            if self.outbox.pending:
                try:
                    await self.outbox.drain(stall_s=CATCH_UP_STALL_S)
                except TimeoutError:
                    await self._fell_behind()
                    return
        if session.state == SessionState.LIVE and session.relay_channel:
            # Frames published before we joined and not yet recorded are fetched once the recorder has them.
            await self.channel_layer.send(session.relay_channel, messages.sync(reply_channel=self.channel_name))

    async def relay_frames(self, message: messages.FramesMessage) -> None:
        if not self.following:
            return
        # Per batch, not per event; the relay's and this worker's clocks (time.time) are one on one machine.
        metrics.DELIVERY_LAG.observe(max(0.0, time.time() - message.get("ts", time.time())))
        if message.get("lease_notice") and message["last"] <= self.follower.last:
            # A dead worker's relay published frames it never recorded, and the lease's notice took the
            # recording's next seq, one this socket already saw: the recording is the truth, follow it.
            self.follower.last = message["last"]
            await self._forward(_as_is(message["text"]))
            return
        await self._forward(self.follower.live(message))

    async def relay_synced(self, message: messages.SyncedMessage) -> None:
        if self.following:
            await self._forward(self.follower.recorded(upto=int(message["seq"]), wait=True))

    async def relay_ack(self, message: messages.AckMessage) -> None:
        """The relay forwarded our client event: the frame itself arrives with the stream."""

    async def _forward(self, batches: Awaitable[list[str]]) -> None:
        try:
            texts = await batches
        except GapNotRecorded as exc:
            await self.gap(exc)
            return
        for text in texts:
            await self.deliver(text)
            if not self.following:
                return

    # --- from the client ----------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        refusal = await self._to_relay(text_data)
        if refusal is not None:
            await self.refuse(refusal)

    async def _to_relay(self, text_data: str | None) -> Refusal | None:
        """Send one client event on to the session's relay, or say why not."""
        data = parse_message(text_data)
        if isinstance(data, Refusal):
            return data
        return await self.event_to_relay(data)

    async def event_to_relay(self, data: Any) -> Refusal | None:
        """Validate one client event (Yandex's form) and send it to the session's relay, or say why not."""
        event_id = client_event_id(data)
        try:
            event = parse_client_event(data)
        except ClientEventError as exc:
            code = client_error_code(exc)
            return Refusal(exc.message, code=code, field=exc.field, status=exc.status, event_id=event_id)
        if not self.may_change:
            message = "You may watch this session but not send it events."
            return Refusal(message, code="forbidden", status=403, event_id=event_id)
        live = self.following and self.state == SessionState.LIVE
        if not live or self.session is None or not self.session.relay_channel:
            message = f"The session is {self.state}, not live."
            return Refusal(message, code="session_not_live", status=409, event_id=event_id)
        text = compact_json(event_to_wire(event))
        await self.channel_layer.send(
            self.session.relay_channel, messages.client_event(text=text, reply_channel=self.channel_name)
        )
        return None

    # --- what each endpoint says its own way ----------------------------------------------

    async def deliver(self, text: str) -> None:
        """Send one message of frames (a JSON array, in seq order) to the client."""
        raise NotImplementedError

    async def refuse(self, refusal: Refusal) -> None:
        """Tell the client its message was not sent on, and why; the socket stays open."""
        raise NotImplementedError

    async def gap(self, exc: GapNotRecorded) -> None:
        """Frames the channel layer dropped were not recorded in time to fill the gap."""
        raise NotImplementedError

    def farewell(self, *, after: int) -> tuple[str, int]:
        """The last message and the close code for a client that fell behind (after: the last seq it got)."""
        raise NotImplementedError

    async def socket_ended(self) -> None:
        """The socket is gone, however it ended."""
