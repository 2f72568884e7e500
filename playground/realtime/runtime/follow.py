"""Following a session's frames without gaps or repeats.

Live batches arrive through the channel layer, which may drop a message (it
holds a bounded queue per channel) and knows nothing of what a watcher already
has. The recording is the truth: a watcher that sees a gap in seq reads the
missing frames from the database, waiting briefly for the recorder (which
writes off the forwarding path) to catch up.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from playground.db import db

from .. import selectors
from . import messages
from .frames import Frame, frames_text, trimmed_frame_text

FILL_WAIT_S = 5.0
CATCH_UP_PAGE = 500


class GapNotRecorded(Exception):
    """The recorder did not write the missing frames in time."""


class Follower:
    """Turns live batches and recorded frames into one gapless, ordered stream."""

    def __init__(self, *, session_id: Any, after: int = 0, trim_to: int | None = None) -> None:
        self.session_id = session_id
        self.last = after
        self.trim_to = trim_to

    def _text(self, frames: list[Frame]) -> str:
        return frames_text(frames, trim_to=self.trim_to)

    async def recorded(self, *, upto: int | None = None, wait: bool = False) -> list[str]:
        """Messages with what the recording holds after `last` (up to `upto`), in pages."""
        messages: list[str] = []
        deadline = asyncio.get_running_loop().time() + FILL_WAIT_S
        while upto is None or self.last < upto:
            frames = await db(
                selectors.event_frames, session_id=self.session_id, after=self.last, upto=upto, limit=CATCH_UP_PAGE
            )
            if frames and frames[0].seq == self.last + 1:
                # Only the contiguous run counts: a hole means the recorder is still writing.
                run = [frames[0]]
                for f in frames[1:]:
                    if f.seq != run[-1].seq + 1:
                        break
                    run.append(f)
                messages.append(self._text(run))
                self.last = run[-1].seq
                if len(run) == len(frames) == CATCH_UP_PAGE:
                    continue
            if upto is None or self.last >= upto or not wait:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise GapNotRecorded(f"seq {self.last + 1}..{upto} not recorded after {FILL_WAIT_S:.0f} s")
            await asyncio.sleep(0.02)
        return messages

    async def live(self, message: messages.FramesMessage) -> list[str]:
        """What to send for one live batch `{first, last, text}`: maybe a gap fill, then the new frames."""
        first, last, text = message["first"], message["last"], message["text"]
        if last <= self.last:
            return []  # already sent (from the recording)
        out: list[str] = []
        if first > self.last + 1:
            out = await self.recorded(upto=first - 1, wait=True)
        if first <= self.last:
            frames = [f for f in json.loads(text) if f["seq"] > self.last]
            text = json.dumps(frames, separators=(",", ":"), ensure_ascii=False)
        if self.trim_to is not None:
            text = _trim_live(text, self.trim_to)
        out.append(text)
        self.last = last
        return out


def _trim_live(text: str, trim_to: int) -> str:
    frames = json.loads(text)
    parts = []
    for f in frames:
        if "event" in f:
            frame = Frame(
                seq=f["seq"],
                direction=f["direction"],
                ts=f["ts"],
                type=f["event"].get("type", ""),
                data=json.dumps(f["event"]),
            )
            parts.append(trimmed_frame_text(frame, trim_to=trim_to))
        else:
            parts.append(json.dumps(f, separators=(",", ":"), ensure_ascii=False))
    return "[" + ",".join(parts) + "]"
