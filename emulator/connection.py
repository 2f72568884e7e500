"""One client connection: its loop over client events, their dispatch, and the sending of server events.

The session, the conversation, the input audio and the responses each keep their own state and handle their
own client events; the connection owns the socket, the event ids and the session's lifetime.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from .audio import InputAudio
from .conversation import Conversation
from .protocol import ClientError, Ids, Json, require
from .responses import Responses
from .session_config import SessionConfig

logger = logging.getLogger(__name__)

# The field `?stamp=1` adds to every event: its send time (Unix seconds), for benchmarks.
STAMP_FIELD = "x_emulator_sent_at"


class Connection:
    """One client connection: its session, conversation, audio buffer and response stream."""

    def __init__(
        self, ws: ServerConnection, *, session_id: str, pace: float, lifetime: float, rate: int, stamp: bool = False
    ) -> None:
        self._ws = ws
        # Benchmarks only (`?stamp=1`): each event carries its send time, to measure what a relay adds.
        self._stamp = stamp
        self._lifetime = lifetime
        self._ids = Ids()
        self._config = SessionConfig(session_id, rate, self._emit)
        self._conversation = Conversation(self._ids, self._config, self._emit)
        self._responses = Responses(
            ids=self._ids, config=self._config, conversation=self._conversation, emit=self._emit, pace=pace
        )
        self._audio = InputAudio(self._config, self._conversation, self._responses, self._emit)
        self._expiring = False
        self._handlers: dict[str, Callable[[Json], Awaitable[None]]] = {
            "session.update": self._config.on_session_update,
            "conversation.item.create": self._conversation.on_item_create,
            "conversation.item.retrieve": self._conversation.on_item_retrieve,
            "conversation.item.delete": self._conversation.on_item_delete,
            "conversation.item.truncate": self._conversation.on_item_truncate,
            "input_audio_buffer.append": self._audio.on_audio_append,
            "input_audio_buffer.commit": self._audio.on_audio_commit,
            "input_audio_buffer.clear": self._audio.on_audio_clear,
            "output_audio_buffer.clear": self._audio.on_output_audio_clear,
            "response.create": self._responses.on_response_create,
            "response.cancel": self._responses.on_response_cancel,
        }

    # --- lifecycle -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        expiry = asyncio.create_task(self._expire_after(self._lifetime)) if self._lifetime > 0 else None
        try:
            await self._emit("session.created", session=self._config.session)
            async for message in self._ws:
                await self._handle_message(message)
        except ConnectionClosed:
            pass
        finally:
            await self._shutdown(expiry)

    async def _shutdown(self, expiry: asyncio.Task[None] | None) -> None:
        tasks = [*self._responses.streams, *([expiry] if expiry is not None else [])]
        for task in tasks:
            # An expiring session is busy closing the socket politely: let it finish.
            if not (task is expiry and self._expiring):
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _expire_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._expiring = True
        for stream in self._responses.streams:
            stream.cancel()
        limit = f"{seconds:g}-second"
        with contextlib.suppress(ConnectionClosed):
            await self._error(
                "session_expired", f"The session hit its {limit} limit and is closed.", type_="invalid_request_error"
            )
        await self._ws.close(1000, f"session expired: it hit its {limit} limit")

    # --- sending -------------------------------------------------------------------------------------------------

    async def _emit(self, type_: str, **fields: Any) -> None:
        event = {"type": type_, "event_id": self._ids.next("event"), **fields}
        if self._stamp:
            event[STAMP_FIELD] = time.time()
        await self._ws.send(json.dumps(event, ensure_ascii=False, separators=(",", ":")))

    async def _error(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        client_event_id: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        error = {"type": type_, "code": code, "message": message, "param": param, "event_id": client_event_id}
        await self._emit("error", error=error)

    # --- receiving -----------------------------------------------------------------------------------------------

    async def _handle_message(self, raw: str | bytes) -> None:
        client_event_id: str | None = None
        try:
            event = self._parse(raw)
            client_event_id = event["event_id"] if isinstance(event.get("event_id"), str) else None
            handler = self._handlers.get(event["type"])
            if handler is None:
                raise ClientError("unknown_event", f"Unknown event type '{event['type']}'.", "type")
            await handler(event)
        except ClientError as exc:
            await self._error(exc.code, exc.message, param=exc.param, client_event_id=client_event_id)
        except ConnectionClosed:
            raise
        except Exception:
            # A bug here must not end the session: say so and carry on.
            logger.exception("emulator failed on a client event")
            await self._error(
                "server_error",
                "The emulator failed on this event.",
                client_event_id=client_event_id,
                type_="server_error",
            )

    @staticmethod
    def _parse(raw: str | bytes) -> Json:
        if isinstance(raw, bytes):
            raise ClientError("invalid_json", "Binary frames are not supported: send client events as JSON text.")
        try:
            event = json.loads(raw)
        except ValueError as exc:
            raise ClientError("invalid_json", f"The message is not valid JSON: {exc}.") from None
        if not isinstance(event, dict):
            raise ClientError("invalid_json", "A client event must be a JSON object.")
        require(event, "type", str, "a string")
        return event
