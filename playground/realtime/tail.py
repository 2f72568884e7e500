"""A recording read as it grows, what re-runs and preset checks wait on.

They follow a session through its recording (the truth, whichever worker holds the relay) every POLL_S
seconds: each frame is seen once, in contiguous seq order (a hole means the recorder is still writing; the
rest comes on the next pull). Audio stays a reference: neither looks at it, so no media is decoded.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from playground.db import db

from . import selectors
from .runtime.frames import Frame

POLL_S = 0.05
PAGE = 1000


@dataclass
class RecordingTail:
    session_id: Any
    last: int = 0
    ended: Any = None  # set by `_see` (truthy) when the session has ended

    async def pull(self) -> None:
        while True:
            frames = await db(
                selectors.event_frames, session_id=self.session_id, after=self.last, limit=PAGE, audio="ref"
            )
            for frame in frames:
                if frame.seq != self.last + 1:
                    return  # a hole: the recorder is still writing; the rest comes on the next pull
                self.last = frame.seq
                self._see(frame)
            if len(frames) < PAGE:
                return

    def _see(self, frame: Frame) -> None:
        raise NotImplementedError

    async def wait(self, done: Callable[[], bool], *, within: float) -> bool:
        """Pull until `done()` or the session ends; False when `within` seconds pass first."""
        deadline = time.monotonic() + within
        while True:
            await self.pull()
            if done() or self.ended:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)
