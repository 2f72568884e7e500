"""Audio seconds per side, from a recording's events: the one place they are counted.

An event's audio is either inline base64 (recordings as they are written today) or, once recordings
keep audio as media, a reference in its place, `{"$audio": side, "offset": …, "length": …}` where
`length` is the bytes it stands for (playground/realtime/media/refs.py). `audio_bytes` reads both,
so usage is the same whichever way a recording stores its audio, and never needs the audio itself.

Which events carry which side (the upstream's wire, as recorded):
- in: the client's `input_audio_buffer.append` (`audio`), and audio content parts of the items it
  creates (`conversation.item.create`, `item.content[].audio`);
- out: the server's `response.output_audio.delta` (and the beta `response.audio.delta`), `delta`.
The server's echoes of items (`conversation.item.added`, …) are not counted: that audio was counted
when the client sent it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEFAULT_RATE = 44100  # Yandex's rate, and the emulator's default: used until the session says otherwise
# G.711 is one byte a sample at 8 kHz; PCM16 two bytes at the session's rate.
_BYTES_PER_SAMPLE = {"audio/pcmu": 1, "audio/pcma": 1}
_G711_RATE = 8000

IN_FIELDS = {"input_audio_buffer.append": "audio"}
OUT_FIELDS = {"response.output_audio.delta": "delta", "response.audio.delta": "delta"}
ITEM_CREATE = "conversation.item.create"
SESSION_TYPES = ("session.created", "session.updated")
# The event types usage reads from a recording (the rest are skipped in the query itself).
USAGE_TYPES = (*IN_FIELDS, *OUT_FIELDS, ITEM_CREATE, *SESSION_TYPES, "response.done")


def audio_bytes(value: Any) -> int:
    """Bytes of audio a field holds: inline base64's decoded length, or a media reference's `length`.

    Anything else (a missing field, a number, a malformed reference) holds none."""
    if isinstance(value, str):
        value = value.rstrip()
        return max(0, len(value) * 3 // 4 - value[-2:].count("="))
    if isinstance(value, dict) and "$audio" in value and isinstance(value.get("length"), int):
        return max(0, int(value["length"]))
    return 0


@dataclass(frozen=True, slots=True)
class Format:
    """How many bytes one second of a side's audio takes."""

    rate: int = DEFAULT_RATE
    bytes_per_sample: int = 2

    def seconds(self, n_bytes: int) -> float:
        return n_bytes / self.bytes_per_sample / self.rate if n_bytes else 0.0


def side_format(session: dict[str, Any], side: str, current: Format) -> Format:
    """A side's format from a session object (session.created / session.updated), else `current`."""
    audio = session.get("audio") if isinstance(session, dict) else None
    part = audio.get(side) if isinstance(audio, dict) else None
    fmt = part.get("format") if isinstance(part, dict) else None
    if not isinstance(fmt, dict):
        return current
    kind = fmt.get("type")
    if kind in _BYTES_PER_SAMPLE:
        return Format(rate=_G711_RATE, bytes_per_sample=_BYTES_PER_SAMPLE[kind])
    rate = fmt.get("rate")
    if isinstance(rate, int | float) and not isinstance(rate, bool) and rate > 0:
        return Format(rate=int(rate), bytes_per_sample=2)
    return current


def event_audio(direction: str, type_: str, event: dict[str, Any]) -> tuple[int, int]:
    """(bytes in, bytes out) of audio one recorded event carries."""
    if direction == "client":
        field = IN_FIELDS.get(type_)
        if field is not None:
            return audio_bytes(event.get(field)), 0
        if type_ == ITEM_CREATE:
            item = event.get("item")
            content = item.get("content") if isinstance(item, dict) else None
            if isinstance(content, list):
                return sum(audio_bytes(p.get("audio")) for p in content if isinstance(p, dict)), 0
    elif direction == "server":
        field = OUT_FIELDS.get(type_)
        if field is not None:
            return 0, audio_bytes(event.get(field))
    return 0, 0
