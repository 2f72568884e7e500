"""A client event sent over REST with `Accept: text/event-stream`: the server events that follow it, as SSE.

The stream joins the session's group before the event goes out, so nothing that follows is missed,
and follows it gaplessly (runtime/follow.py) until the event's exchange is over (`response.done`,
`error`, or the event's own answer), a playground notice, or SSE_IDLE_S of silence.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from channels.layers import get_channel_layer
from django.http import StreamingHttpResponse

from . import services
from .events import ClientEvent, compact_json
from .models import RealtimeSession
from .runtime import messages
from .runtime.follow import Follower, GapNotRecorded
from .runtime.frames import session_group
from .runtime.layers import channel_done

# When an SSE stream stops by itself: the events that end the exchange a client event starts.
SSE_END_TYPES: dict[str, frozenset[str]] = {
    "session.update": frozenset({"session.updated"}),
    "input_audio_buffer.commit": frozenset({"input_audio_buffer.committed"}),
    "input_audio_buffer.clear": frozenset({"input_audio_buffer.cleared"}),
    "conversation.item.create": frozenset({"conversation.item.done", "conversation.item.created"}),
    "conversation.item.retrieve": frozenset({"conversation.item.retrieved"}),
    "conversation.item.truncate": frozenset({"conversation.item.truncated"}),
    "conversation.item.delete": frozenset({"conversation.item.deleted"}),
    "output_audio_buffer.clear": frozenset({"output_audio_buffer.cleared"}),
}
SSE_ALWAYS_END = frozenset({"response.done", "error"})
SSE_IDLE_S = 30.0


async def client_event_stream(*, session: RealtimeSession, event: ClientEvent) -> StreamingHttpResponse:
    """Send `event` to the session's relay and answer with the server events that follow it."""
    # Join the session's group before sending, so nothing that follows is missed.
    layer = get_channel_layer()
    channel = await layer.new_channel()
    group = session_group(session.id)
    await layer.group_add(group, channel)
    try:
        event_id, seq = await services.client_event_send(session=session, event=event)
    except BaseException:
        await layer.group_discard(group, channel)
        raise
    ends = SSE_ALWAYS_END | SSE_END_TYPES.get(event.event_type, frozenset())
    response = StreamingHttpResponse(
        _sse_stream(session=session, channel=channel, group=group, after=seq - 1, ends=ends),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    response["X-Event-Id"] = event_id
    response["X-Seq"] = str(seq)
    return response


def _sse_message(frame: dict[str, Any]) -> str:
    body = frame.get("event") or frame.get("notice") or {}
    name = body.get("type") if "event" in frame else f"playground.{body.get('kind', 'notice')}"
    return f"id: {frame['seq']}\nevent: {name}\ndata: {compact_json(frame)}\n\n"


async def _sse_stream(
    *, session: RealtimeSession, channel: str, group: str, after: int, ends: frozenset[str]
) -> AsyncIterator[str]:
    """Frames from the client event itself on, until one of `ends`, a session notice, or silence."""
    layer = get_channel_layer()
    follower = Follower(session_id=session.id, after=after)
    deadline = time.monotonic() + SSE_IDLE_S
    try:
        while True:
            try:
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await layer.receive(channel)
            except TimeoutError:
                yield f": no event for {SSE_IDLE_S:.0f} s; stream closed\n\n"
                return
            kind = message.get("type")
            if kind not in (messages.FRAMES, messages.SYNCED):
                continue
            deadline = time.monotonic() + SSE_IDLE_S
            try:
                if kind == messages.SYNCED:  # the relay's seq once quiet: whatever the layer dropped, filled
                    texts = await follower.recorded(upto=int(message["seq"]), wait=True)
                else:
                    texts = await follower.live(message)
            except GapNotRecorded as exc:
                yield f"event: playground.gap\ndata: {json.dumps({'message': str(exc)})}\n\n"
                return
            for text in texts:
                for frame in json.loads(text):
                    yield _sse_message(frame)
                    body = frame.get("event")
                    if frame["direction"] == "playground" or (
                        frame["direction"] == "server" and body and body.get("type") in ends
                    ):
                        return
    finally:
        await layer.group_discard(group, channel)
        await channel_done(layer, channel)  # the pub/sub layer's subscription
