"""WebSocket `/v1/realtime?model=…`: the OpenAI realtime protocol, through the playground.

Any OpenAI-realtime client (the official `openai` SDK with `websocket_base_url=ws://host/v1`)
connects with `Authorization: Bearer <playground API token>`. The playground opens an ordinary
recorded session on the default upstream (listed, watchable live, savable as a preset) and the
socket speaks the plain protocol: each message is ONE server event, exactly as the upstream sent it,
and each message from the client is one client event.

- `model` naming a preset visible to the user (its id, or a builtin preset's slug) applies its
  session config as the opening `session.update` and answers function calls from its canned tool
  outputs; any other model string uses the default upstream and model.
- An invalid client event gets an OpenAI-style `error` event naming the param; nothing is forwarded.
- No or a bad token: the handshake is refused with HTTP 401 (a JSON body in OpenAI's error shape)
  where the server supports ASGI's denial response (uvicorn does); otherwise it is closed with 4401.
- The session refused at connect: an `error` event, then close 1013 (too many live sessions, 429)
  or 1011 (the upstream failed, 502; anything else).
- The session ending (the playground's notice): an `error` event saying why, then close 1000 when it
  ended cleanly, 1011 when it was interrupted.
- The client disconnecting closes the session; its recording stays.

Thin, as the watcher consumer is: the relay, the recording and the gapless following are shared.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from channels.generic.websocket import AsyncWebsocketConsumer

from playground.db import db
from playground.errors import PlaygroundError
from playground.presets import selectors as preset_selectors

from . import services
from .canned import CannedToolOutputs
from .consumers import CLOSE_UNAUTHENTICATED, Outbox, give_up, serve_with_outbox
from .events import ClientEventError, SessionConfig, event_to_wire, parse_client_event
from .follow import Follower, GapNotRecorded
from .frames import session_group
from .models import RealtimeSession, SessionState

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013

_NO_DB_HANDLERS = frozenset({"relay.frames", "relay.ack"})

_decode = json.JSONDecoder().raw_decode
# A frame as frames.py writes it (and follow.py re-writes an overlapping batch): the event's own text follows.
_FRAME_HEAD = re.compile(r'\{"seq":(?:-?\d+|null),"direction":"(\w+)","ts":[-+0-9.eE]+,"(?:event|notice)":')


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def error_event(
    message: str,
    *,
    code: str,
    kind: str = "invalid_request_error",
    param: str | None = None,
    event_id: str | None = None,
) -> str:
    """An OpenAI-style `error` server event (`event_id` in `error` names the client event at fault)."""
    error = {"type": kind, "code": code, "message": message, "param": param, "event_id": event_id}
    return _dumps({"type": "error", "event_id": "event_" + secrets.token_hex(10), "error": error})


def split_frames(text: str) -> Iterator[tuple[str, str]]:
    """(direction, the event's or notice's JSON text) of each frame in one message of frames.

    Sliced out of the message, not re-serialised: a server event reaches the client byte for byte
    as the upstream sent it. Anything not in the expected shape is parsed the slow way."""
    pos, end = 1, len(text) - 1
    spans: list[tuple[str, str]] = []
    try:
        while pos < end:
            head = _FRAME_HEAD.match(text, pos)
            if head is None:
                raise ValueError(pos)
            _, stop = _decode(text, head.end())
            if text[stop] != "}":
                raise ValueError(stop)
            spans.append((head.group(1), text[head.end() : stop]))
            pos = stop + 1
            if text[pos] == ",":
                pos += 1
    except (ValueError, IndexError):
        for frame in json.loads(text):
            yield frame["direction"], _dumps(frame.get("event", frame.get("notice")))
        return
    yield from spans


def preset_for_model(*, user: Any, model: str) -> Any:
    """The preset `model` names (its id, or a builtin's slug) if `user` may read it; else None."""
    if not model:
        return None
    preset = preset_selectors.preset_get(user=user, preset_id=model)
    if preset is None:
        preset = (
            preset_selectors.presets_visible(user=user)
            .filter(slug=model, builtin=True, deleted_at__isnull=True)
            .first()
        )
    if preset is None:
        return None
    return preset, preset_selectors.preset_version_latest(preset=preset)


def _client_error_code(exc: ClientEventError) -> str:
    if exc.status == 413:
        return "payload_too_large"
    if exc.message.endswith("Field required"):
        return "missing_required_parameter"
    if exc.message.endswith("Extra inputs are not permitted"):
        return "unknown_parameter"
    return "invalid_value"


class OpenAICompatConsumer(AsyncWebsocketConsumer):
    session: RealtimeSession | None = None
    follower: Follower
    live = False
    outbox: Outbox
    slow = False
    closer: asyncio.Task[None] | None = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # As SessionConsumer; past PLAYGROUND_WATCHER_QUEUE_BYTES: an `error` event, close 1013, the session ends.
        try:
            await serve_with_outbox(self, scope, receive, send)
        finally:
            # However this socket ended (a disconnect, a send to a socket already gone, a bug): no session is
            # left live without its client.
            await self._close_session()

    async def dispatch(self, message: dict[str, Any]) -> None:
        if self.slow and message["type"] != "websocket.disconnect":
            return
        if message["type"] in _NO_DB_HANDLERS:
            await getattr(self, message["type"].replace(".", "_"))(message)
        else:
            await super().dispatch(message)
        if self.outbox.overflowed and not self.slow:
            self.slow = True
            await self.outbox.discard()
            if hasattr(self, "group"):
                await self.channel_layer.group_discard(self.group, self.channel_name)
            limit = self.outbox.limit // 1024
            text = f"This socket fell behind by more than {limit} KiB (PLAYGROUND_WATCHER_QUEUE_BYTES)."
            last = error_event(text, code="slow_consumer", kind="server_error")
            self.closer = asyncio.create_task(give_up(self.server_send, last, CLOSE_TRY_AGAIN_LATER))

    # --- connect / disconnect ---------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse_unauthenticated()
            return
        query = parse_qs(self.scope.get("query_string", b"").decode())
        model = query.get("model", [""])[0]
        await self.accept()
        try:
            found = await db(preset_for_model, user=user, model=model)
            config, canned, preset, version = None, None, None, None
            if found is not None:
                preset, latest = found
                version = latest.number
                content = latest.content
                try:
                    config = SessionConfig.model_validate(content.get("session") or {})
                except ValueError as exc:
                    raise PlaygroundError(f"Preset {model!r} is not valid any more: {exc}", status=422) from exc
                outputs = content.get("tool_outputs") or {}
                if outputs:
                    canned = CannedToolOutputs(outputs=outputs, response=content.get("response") or None)
            session = await services.session_create(
                user=user, session=config, preset=preset, preset_version=version, canned=canned
            )
        except PlaygroundError as exc:
            code = {429: "session_limit_reached", 502: "upstream_error"}.get(exc.status, "session_not_created")
            await self.send(text_data=error_event(exc.message, code=code, kind="server_error"))
            await self.close(code=CLOSE_TRY_AGAIN_LATER if exc.status == 429 else CLOSE_INTERNAL_ERROR)
            return
        self.session = session
        self.live = True
        self.follower = Follower(session_id=session.id)
        # Join before reading the recording, then learn the relay's seq and fill up to it: gapless.
        self.group = session_group(session.id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self._forward(self.follower.recorded)
        if self.live:
            await self.channel_layer.send(
                session.relay_channel, {"type": "relay.sync", "reply_channel": self.channel_name}
            )

    async def _refuse_unauthenticated(self) -> None:
        message = "Missing or invalid API token: send Authorization: Bearer <token> (manage.py create_api_token)."
        if "websocket.http.response" in self.scope.get("extensions", {}):
            body = {"error": {"type": "invalid_request_error", "code": "invalid_api_key", "message": message}}
            await self.base_send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await self.base_send({"type": "websocket.http.response.body", "body": _dumps(body).encode()})
        else:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def disconnect(self, code: int) -> None:
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        await self._close_session()

    async def _close_session(self) -> None:
        if self.session is not None and self.live:
            self.live = False
            try:
                await services.session_close(session=self.session, reason="The OpenAI-compatible client disconnected.")
            except PlaygroundError as exc:  # it ended meanwhile, or its relay is gone (the lease marks it)
                log.info("session %s not closed: %s", self.session.id, exc.message)

    # --- from the relay ---------------------------------------------------------------

    async def relay_frames(self, message: dict[str, Any]) -> None:
        if self.live:
            await self._forward(functools.partial(self.follower.live, message))

    async def relay_synced(self, message: dict[str, Any]) -> None:
        if self.live:
            await self._forward(functools.partial(self.follower.recorded, upto=int(message["seq"]), wait=True))

    async def relay_ack(self, message: dict[str, Any]) -> None:
        """The relay forwarded our client event; its answer comes with the stream."""

    async def relay_error(self, message: dict[str, Any]) -> None:
        await self.send(text_data=error_event(message["message"], code="upstream_error", kind="server_error"))

    async def _forward(self, batches: Callable[[], Awaitable[list[str]]]) -> None:
        """Each server event of the follower's batches as a message of its own; notices end the session."""
        try:
            texts = await batches()
        except GapNotRecorded as exc:
            await self.send(
                text_data=error_event(f"Some events were lost on the way ({exc}).", code="gap", kind="server_error")
            )
            return
        for text in texts:
            for direction, data in split_frames(text):
                if direction == "server":
                    await self.send(text_data=data)
                elif direction == "playground":
                    await self._notice(json.loads(data))
                    if not self.live:
                        return
                # "client": the echo of what was sent (by this client, or canned answers): not sent back.

    async def _notice(self, notice: dict[str, Any]) -> None:
        state = notice.get("state")
        message = str(notice.get("message") or notice.get("kind"))
        if not state:  # e.g. a frame from the upstream that is not a JSON event: say so, carry on
            await self.send(text_data=error_event(message, code=str(notice.get("kind")), kind="server_error"))
            return
        self.live = False
        assert self.session is not None
        clean = state == SessionState.ENDED
        text = f"The playground session {self.session.id} is {state}: {message}"
        await self.send(
            text_data=error_event(
                text,
                code="session_ended" if clean else "session_interrupted",
                kind="invalid_request_error" if clean else "server_error",
            )
        )
        await self.close(code=CLOSE_NORMAL if clean else CLOSE_INTERNAL_ERROR)

    # --- from the client --------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.send(
                text_data=error_event("Send client events as JSON text messages, not binary.", code="invalid_json")
            )
            return
        try:
            data = json.loads(text_data)
        except ValueError as exc:
            await self.send(text_data=error_event(f"The message is not JSON: {exc}.", code="invalid_json"))
            return
        client_event_id = data.get("event_id") if isinstance(data, dict) else None
        if not isinstance(client_event_id, str):
            client_event_id = None
        try:
            event = parse_client_event(data)
        except ClientEventError as exc:
            await self.send(
                text_data=error_event(
                    exc.message, code=_client_error_code(exc), param=exc.field, event_id=client_event_id
                )
            )
            return
        if not self.live or self.session is None:
            await self.send(
                text_data=error_event("The session is not live.", code="session_not_live", event_id=client_event_id)
            )
            return
        await self.channel_layer.send(
            self.session.relay_channel,
            {"type": "relay.client_event", "text": _dumps(event_to_wire(event)), "reply_channel": self.channel_name},
        )
