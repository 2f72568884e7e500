"""Frames: how one recorded event travels to watchers.

A frame is `{"seq", "direction", "ts", "event"}`; the playground's own notices
carry `"notice"` instead of `"event"` and direction `playground`, so they can
never be mistaken for protocol events. Frame text is built by string
formatting around the event's JSON exactly as it crossed the wire: the hot
path never re-serialises an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from playground.usage.audio import audio_bytes

# Fields that hold base64 audio, by event type.
_AUDIO_FIELDS = {
    "input_audio_buffer.append": "audio",
    "response.output_audio.delta": "delta",
    "response.audio.delta": "delta",
}


def session_group(session_id: object) -> str:
    """The channel-layer group every watcher of a session joins."""
    return f"session.{session_id}"


@dataclass(slots=True)
class Frame:
    seq: int
    direction: str
    ts: float
    type: str
    data: str  # the event's (or notice's) JSON text

    @property
    def text(self) -> str:
        key = "notice" if self.direction == "playground" else "event"
        return f'{{"seq":{self.seq},"direction":"{self.direction}","ts":{self.ts:.6f},"{key}":{self.data}}}'


def frames_text(frames: list[Frame], *, trim_to: int | None = None) -> str:
    """One WebSocket message: a JSON array of frames in seq order."""
    if trim_to is None:
        return "[" + ",".join(f.text for f in frames) + "]"
    return "[" + ",".join(trimmed_frame_text(f, trim_to=trim_to) for f in frames) + "]"


def trimmed_frame_text(frame: Frame, *, trim_to: int) -> str:
    """The frame with its base64 audio cut to `trim_to` characters, saying so in `trimmed`."""
    field = _AUDIO_FIELDS.get(frame.type)
    if field is None or len(frame.data) <= trim_to + 200:
        return frame.text
    event = json.loads(frame.data)
    value = event.get(field)
    if not isinstance(value, str) or len(value) <= trim_to:
        return frame.text
    event[field] = value[:trim_to]
    body: dict[str, Any] = {
        "seq": frame.seq,
        "direction": frame.direction,
        "ts": round(frame.ts, 6),
        "event": event,
        # The playground's own field: how long the value really is, in base64 characters and bytes.
        "trimmed": {f"event.{field}": {"chars": len(value), "bytes": audio_bytes(value)}},
    }
    return json.dumps(body, separators=(",", ":"))


def notice_data(*, kind: str, message: str, **extra: Any) -> str:
    return json.dumps({"kind": kind, "message": message, **extra}, separators=(",", ":"), ensure_ascii=False)
