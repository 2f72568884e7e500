"""WebSocket `/ws/sessions/<id>/?after=<seq>`: watch a session and send it client events.

Thin, as consumers go: authenticate, join the session's group, forward. The
catch-up and gap logic lives in follow.py; validation in events.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Awaitable, Callable
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
from .models import RealtimeSession, SessionState

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400

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


class SessionConsumer(AsyncWebsocketConsumer):
    session: RealtimeSession
    state: str
    follower: Follower

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # AsyncConsumer.__call__ with a cheaper dispatch loop: this socket carries every delta.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await _serve_sources([receive, self.channel_receive], self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] in _NO_DB_HANDLERS:
            handler = getattr(self, message["type"].replace(".", "_"))
            await handler(message)
            return
        await super().dispatch(message)

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
        await self.accept()
        for text in await self.follower.recorded():
            await self.send(text_data=text)
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
