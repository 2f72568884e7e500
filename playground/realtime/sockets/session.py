"""WebSocket `/ws/sessions/<id>/?after=<seq>[&trim=1]`: watch a session and send it client events.

What the console, watchers and scripts use. Each message to the client is a JSON array of the
playground's frames; the playground's own words (a refused event, a gap) are frames with seq null,
not part of the recording. Everything else is in base.py.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from django.conf import settings

from playground.db import db
from playground.teams.access import can_change

from .. import selectors
from ..models import RealtimeSession, SessionState
from ..runtime import messages
from ..runtime.follow import GapNotRecorded
from .base import Refusal, RelaySocketConsumer

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400
# The socket fell behind by more than PLAYGROUND_WATCHER_QUEUE_BYTES: reconnect with ?after.
CLOSE_SLOW_CONSUMER = 4008

# Frames of the playground's own notices carry this; only those can change the session's state.
_NOTICE_MARK = '"direction":"playground"'


def local_notice(kind: str, message: str, **extra: Any) -> str:
    """A frame for this socket only (seq null): it is not part of the recording."""
    notice = {"kind": kind, "message": message, **extra}
    return json.dumps([{"seq": None, "direction": "playground", "ts": round(time.time(), 6), "notice": notice}])


class SessionConsumer(RelaySocketConsumer):
    async def connect(self) -> None:
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
        # A team's viewer may watch but not drive: their client events are refused (403), like over REST.
        self.may_change = can_change(user=user, obj=session)
        trim = query.get("trim", ["0"])[0] not in ("0", "", "false")
        await self.accept()
        await self.follow(session, after=after, trim_to=settings.PLAYGROUND_TRIM_BASE64_TO if trim else None)

    async def relay_error(self, message: messages.ErrorMessage) -> None:
        await self.send(text_data=local_notice("rejected", message["message"]))

    # --- the hooks of base.py -------------------------------------------------------------

    async def deliver(self, text: str) -> None:
        if _NOTICE_MARK in text and self._note_state(text):
            await self._note_relay()
        await self.send(text_data=text)

    async def refuse(self, refusal: Refusal) -> None:
        extra = {k: v for k, v in (("field", refusal.field), ("status", refusal.status)) if v is not None}
        await self.send(text_data=local_notice("rejected", refusal.message, **extra))

    async def gap(self, exc: GapNotRecorded) -> None:
        message = f"Some events are not recorded yet ({exc}); reconnect with ?after."
        await self.send(text_data=local_notice("gap", message))

    def farewell(self, *, after: int) -> tuple[str, int]:
        notice = local_notice(
            "slow_consumer",
            f"This socket fell behind by more than {self.outbox.limit // 1024} KiB "
            f"(PLAYGROUND_WATCHER_QUEUE_BYTES); reconnect with ?after={after}.",
            after=after,
        )
        return notice, CLOSE_SLOW_CONSUMER

    # --- the session's state, from its notices ----------------------------------------------

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
        assert self.session is not None
        rows = RealtimeSession.objects.filter(pk=self.session.id).values_list("relay_channel", flat=True)
        self.session.relay_channel = await db(lambda: rows.first() or "")
