"""WebSocket `/v1/realtime?model=…`: the OpenAI realtime protocol, through the playground, to Yandex.

Any OpenAI-realtime client (the official `openai` SDK with `websocket_base_url=ws://host/v1`, the
Agents SDK with `model_config={"url": …}`) connects with `Authorization: Bearer <playground API token>`.
The playground opens an ordinary recorded session on the default upstream (listed, watchable live,
savable as a preset, marked `client_dialect: openai`), and this socket is an adapter: the client
speaks OpenAI's GA dialect exactly as the SDKs' types define it (audio/pcm at 24 kHz, G.711, semantic
VAD, OpenAI's voices), the upstream Yandex's. Each client event is translated (realtime/dialect/)
before it is validated against Yandex's schema and sent to the relay, each server event before it is
sent to the client, so the recording keeps the upstream's wire. docs/openai-compat.md has the table.

- `model` naming a preset visible to the user (its id, or a builtin preset's slug) applies its
  session config as the opening `session.update` and answers function calls from its canned tool
  outputs; any other model string uses the default upstream and model.
- A field Yandex cannot take is dropped and named in an `error` event (`param`), the rest applies; an
  event that cannot be served at all, or is invalid, gets an OpenAI-style `error` event naming the
  param and nothing is forwarded.
- No or a bad token: the handshake is refused with HTTP 401 (a JSON body in OpenAI's error shape)
  where the server supports ASGI's denial response (uvicorn does); otherwise it is closed with 4401.
- The session refused at connect: an `error` event, then close 1013 (too many live sessions, 429)
  or 1011 (the upstream failed, 502; anything else).
- The session ending (the playground's notice): an `error` event saying why, then close 1000 when it
  ended cleanly, 1011 when it was interrupted.
- The client disconnecting closes the session; its recording stays.

Only what differs from `/ws/sessions/…` is here; the relay, the recording, the gapless following and
the slow-client handling are shared (base.py).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from playground.db import db
from playground.errors import PlaygroundError
from playground.presets import selectors as preset_selectors
from playground.presets import services as preset_services

from .. import services
from ..dialect import OpenAIDialect, VoiceMap
from ..events import compact_json
from ..models import ClientDialect, SessionState
from ..runtime import messages
from ..runtime.follow import GapNotRecorded
from .base import Refusal, RelaySocketConsumer, client_event_id, parse_message
from .session import CLOSE_UNAUTHENTICATED

log = logging.getLogger(__name__)

CLOSE_NORMAL = 1000
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013

_decode = json.JSONDecoder().raw_decode
# A frame as frames.py writes it (and follow.py re-writes an overlapping batch): the event's own text follows.
_FRAME_HEAD = re.compile(r'\{"seq":(?:-?\d+|null),"direction":"(\w+)","ts":[-+0-9.eE]+,"(?:event|notice)":')


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
    return compact_json({"type": "error", "event_id": "event_" + secrets.token_hex(10), "error": error})


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
            yield frame["direction"], compact_json(frame.get("event", frame.get("notice")))
        return
    yield from spans


class OpenAICompatConsumer(RelaySocketConsumer):
    dialect: OpenAIDialect

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self._refuse_unauthenticated()
            return
        model = parse_qs(self.scope.get("query_string", b"").decode()).get("model", [""])[0]
        await self.accept()
        # Before the session exists: its first events (session.created) are translated too.
        self.dialect = OpenAIDialect(VoiceMap(settings.PLAYGROUND_VOICE_MAP))
        try:
            found = await db(preset_selectors.preset_for_model, user=user, model=model)
            config, canned, preset, version = None, None, None, None
            if found is not None:
                preset, latest = found
                version = latest.number
                config, canned = preset_services.preset_session_setup(content=latest.content)
            session = await services.session_create(
                user=user,
                session=config,
                preset=preset,
                preset_version=version,
                canned=canned,
                client_dialect=ClientDialect.OPENAI,
            )
        except PlaygroundError as exc:
            code = {429: "session_limit_reached", 502: "upstream_error"}.get(exc.status, "session_not_created")
            await self.send(text_data=error_event(exc.message, code=code, kind="server_error"))
            await self.close(code=CLOSE_TRY_AGAIN_LATER if exc.status == 429 else CLOSE_INTERNAL_ERROR)
            return
        await self.follow(session)

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
            await self.base_send({"type": "websocket.http.response.body", "body": compact_json(body).encode()})
        else:
            await self.close(code=CLOSE_UNAUTHENTICATED)

    async def socket_ended(self) -> None:
        # However this socket ended (a disconnect, a send to a socket already gone, a bug): no session is
        # left live without its client. Its recording stays.
        if self.session is not None and self.following and self.state == SessionState.LIVE:
            self.following = False
            try:
                await services.session_close(session=self.session, reason="The OpenAI-compatible client disconnected.")
            except PlaygroundError as exc:  # it ended meanwhile, or its relay is gone (the lease marks it)
                log.info("session %s not closed: %s", self.session.id, exc.message)

    async def relay_error(self, message: messages.ErrorMessage) -> None:
        await self.send(text_data=error_event(message["message"], code="upstream_error", kind="server_error"))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        """A client event in OpenAI's dialect: translated, the dropped fields named, then on to the relay."""
        data = parse_message(text_data)
        if isinstance(data, Refusal):
            await self.refuse(data)
            return
        event_id = client_event_id(data)
        translated = self.dialect.from_client(data)
        if translated.refused is not None:
            problem = translated.refused
            await self.refuse(Refusal(problem.message, code=problem.code, field=problem.param, event_id=event_id))
            return
        for problem in translated.dropped:
            await self.send(
                text_data=error_event(problem.message, code=problem.code, param=problem.param, event_id=event_id)
            )
        for event in translated.events:  # e.g. the resampler's last few ms, then the commit
            refusal = await self.event_to_relay(event)
            if refusal is not None:
                await self.refuse(refusal)
                return
        translated.applied()  # Yandex's schema took it: the client's formats and voice names change now

    # --- the hooks of base.py -------------------------------------------------------------

    async def deliver(self, text: str) -> None:
        """Each server event of a message of frames, translated, as a message of its own (or none, or two:
        audio the resampler holds back comes with the next delta); notices end the session."""
        for direction, data in split_frames(text):
            if direction == "server":
                for event in self.dialect.from_server(data):
                    await self.send(text_data=event)
            elif direction == "playground":
                await self._notice(json.loads(data))
                if not self.following:
                    return
            # "client": the echo of what was sent (by this client, or canned answers): not sent back.

    async def refuse(self, refusal: Refusal) -> None:
        text = error_event(refusal.message, code=refusal.code, param=refusal.field, event_id=refusal.event_id)
        await self.send(text_data=text)

    async def gap(self, exc: GapNotRecorded) -> None:
        message = f"Some events were lost on the way ({exc})."
        await self.send(text_data=error_event(message, code="gap", kind="server_error"))

    def farewell(self, *, after: int) -> tuple[str, int]:
        text = f"This socket fell behind by more than {self.outbox.limit // 1024} KiB (PLAYGROUND_WATCHER_QUEUE_BYTES)."
        return error_event(text, code="slow_consumer", kind="server_error"), CLOSE_TRY_AGAIN_LATER

    async def _notice(self, notice: dict[str, Any]) -> None:
        state = notice.get("state")
        message = str(notice.get("message") or notice.get("kind"))
        if not state:  # e.g. a frame from the upstream that is not a JSON event: say so, carry on
            await self.send(text_data=error_event(message, code=str(notice.get("kind")), kind="server_error"))
            return
        # The session ended (or was interrupted): this socket stops following it and closes.
        self.state = state
        await self._leave()
        self.following = False
        clean = state == SessionState.ENDED
        text = f"The playground session {self.session_id} is {state}: {message}"
        await self.send(
            text_data=error_event(
                text,
                code="session_ended" if clean else "session_interrupted",
                kind="invalid_request_error" if clean else "server_error",
            )
        )
        await self.close(code=CLOSE_NORMAL if clean else CLOSE_INTERNAL_ERROR)
