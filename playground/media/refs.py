"""An event's audio, taken out of its JSON text and put back byte for byte.

Recorded events keep their JSON text exactly as it crossed the wire, but a base64 audio value in it is
replaced by a reference to the same bytes in the session's media, `{"$audio": side, "offset": n,
"length": n}` (offset and length in PCM bytes of that side's stream). Putting the base64 back gives
the original text: the value is replaced only where that is certain, i.e. it is canonical base64 of
whole 16-bit samples and occurs exactly once in the text. Anything else stays inline, as before.

Which events carry which side (the upstream's wire, as recorded):
- user: the client's `input_audio_buffer.append`, `audio`;
- assistant: the server's `response.output_audio.delta` (and the beta `response.audio.delta`), `delta`;
- items: audio content parts of items, `item.content[].audio`: the client's `conversation.item.create`
  and the server's echoes of it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

USER, ASSISTANT, ITEMS = "user", "assistant", "items"
SIDES = (USER, ASSISTANT, ITEMS)

_FIELDS = {
    ("client", "input_audio_buffer.append"): ("audio", USER),
    ("server", "response.output_audio.delta"): ("delta", ASSISTANT),
    ("server", "response.audio.delta"): ("delta", ASSISTANT),
}
_ITEM_TYPES = {"conversation.item.create", "conversation.item.added", "conversation.item.created"}
_ITEM_TYPES |= {"conversation.item.done", "conversation.item.retrieved"}
# Every event type that may carry audio (a cheap filter in SQL, as `may_carry_audio` is in Python).
AUDIO_TYPES = frozenset({t for _, t in _FIELDS} | _ITEM_TYPES)
# Shorter values are not worth a reference (and an empty string is everywhere in JSON).
_MIN_CHARS = 64
_MARK = '{"$audio":'
_MARKER = re.compile(r'\{"\$audio":"(user|assistant|items)","offset":(\d+),"length":(\d+)\}')

Piece = tuple[str, int, bytes]  # side, offset in its stream, PCM


def may_carry_audio(direction: str, type_: str) -> bool:
    """Cheap: whether an event of this type can hold audio at all (the rest are never parsed)."""
    return (direction, type_) in _FIELDS or type_ in _ITEM_TYPES


def _values(direction: str, type_: str, event: Any) -> list[tuple[str, Any]]:
    if not isinstance(event, dict):
        return []
    field = _FIELDS.get((direction, type_))
    if field is not None:
        return [(field[1], event.get(field[0]))]
    item = event.get("item")
    content = item.get("content") if isinstance(item, dict) else None
    if not isinstance(content, list):
        return []
    return [(ITEMS, part.get("audio")) for part in content if isinstance(part, dict)]


def _canonical(value: str, pcm: bytes) -> bool:
    """Whether encoding `pcm` gives `value` again. Strict decoding has checked every character and the
    padding, so only the last quantum can differ (unused low bits set): re-encoding it is enough."""
    tail = len(pcm) % 3 or 3
    return len(value) == (len(pcm) + 2) // 3 * 4 and base64.b64encode(pcm[-tail:]).decode("ascii") == value[-4:]


def marker(side: str, offset: int, length: int) -> str:
    return f'{{"$audio":"{side}","offset":{offset},"length":{length}}}'


def audio_extract(*, direction: str, type_: str, data: str, offsets: dict[str, int]) -> tuple[str, list[Piece]]:
    """The text with its audio replaced by references, and the audio taken out.

    `offsets` holds each side's next offset; the pieces taken continue from there (the caller moves
    them on once the pieces are stored). A text that already holds something like a reference is left
    alone: a reference must only ever be one of ours."""
    if not may_carry_audio(direction, type_) or _MARK in data:
        return data, []
    try:
        event = json.loads(data)
    except ValueError:
        return data, []
    text, pieces = data, []
    next_offset = dict(offsets)
    for side, value in _values(direction, type_, event):
        if not isinstance(value, str) or len(value) < _MIN_CHARS:
            continue
        try:
            pcm = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        quoted = f'"{value}"'
        if len(pcm) % 2 or not _canonical(value, pcm) or text.count(quoted) != 1:
            continue
        offset = next_offset.get(side, 0)
        text = text.replace(quoted, marker(side, offset, len(pcm)))
        pieces.append((side, offset, pcm))
        next_offset[side] = offset + len(pcm)
    return text, pieces


def audio_refs(data: str) -> list[tuple[str, int, int]]:
    """The references in a text written by `audio_extract`: (side, offset, length)."""
    return [(m[1], int(m[2]), int(m[3])) for m in _MARKER.finditer(data)]


def audio_restore(data: str, read: Callable[[str, int, int], bytes]) -> str:
    """The original text: each reference replaced by its audio as base64, `read(side, offset, length)`."""

    def inline(match: re.Match[str]) -> str:
        pcm = read(match[1], int(match[2]), int(match[3]))
        return '"' + base64.b64encode(pcm).decode("ascii") + '"'

    return _MARKER.sub(inline, data)
