"""The conversation: its items, and the `conversation.item.*` client events."""

from __future__ import annotations

import base64
import copy
import re

from .pcm import StoredAudio, decode_audio
from .protocol import ClientError, Emit, Ids, Json, optional, require
from .session_config import SessionConfig


def count_tokens(text: str) -> int:
    # Deterministic stand-in for a tokenizer: one token per word or number.
    return len(re.findall(r"\w+", text))


def message_text(item: Json) -> str:
    """What a message says: its texts and audio transcripts, in order."""
    pieces = []
    for part in item.get("content") or []:
        if not isinstance(part, dict):
            continue
        for key in ("text", "transcript"):
            value = part.get(key)
            if isinstance(value, str) and value:
                pieces.append(value)
    return " ".join(pieces)


def item_tokens(item: Json) -> int:
    if item.get("type") == "message":
        return count_tokens(message_text(item))
    return count_tokens(f"{item.get('name', '')} {item.get('arguments', '')} {item.get('output', '')}")


class Conversation:
    """A connection's conversation: its items in order, and the audio kept beside them."""

    def __init__(self, ids: Ids, config: SessionConfig, emit: Emit) -> None:
        self._ids = ids
        self._config = config
        self._emit = emit
        self.id = ids.next("conv")
        self.items: list[Json] = []
        self.audio: dict[str, StoredAudio] = {}

    def index(self, item_id: str, param: str = "item_id") -> int:
        for i, item in enumerate(self.items):
            if item["id"] == item_id:
                return i
        raise ClientError("item_not_found", f"No item with id '{item_id}' in the conversation.", param)

    def new_item_id(self) -> str:
        known = {item["id"] for item in self.items}
        while True:
            item_id = self._ids.next("item")
            if item_id not in known:
                return item_id

    def insert(self, item: Json, previous_item_id: str | None = None) -> str | None:
        """Put an item in the conversation (at the end by default); returns the id of the one before it."""
        if previous_item_id is None:
            position = len(self.items)
        elif previous_item_id == "root":
            position = 0
        else:
            position = self.index(previous_item_id, "previous_item_id") + 1
        self.items.insert(position, item)
        return self.items[position - 1]["id"] if position > 0 else None

    async def add_item(self, item: Json, previous_item_id: str | None = None) -> None:
        previous = self.insert(item, previous_item_id)
        await self._emit("conversation.item.added", previous_item_id=previous, item=item)
        await self._emit("conversation.item.done", previous_item_id=previous, item=item)

    async def on_item_create(self, event: Json) -> None:
        raw = require(event, "item", dict, "an object")
        previous = optional(event, "previous_item_id", str, "a string")
        if previous not in (None, "root"):
            self.index(previous, "previous_item_id")
        item = self._normalise_item(raw)
        await self.add_item(item, previous)

    def _normalise_item(self, raw: Json) -> Json:
        item = copy.deepcopy(raw)
        kind = require(item, "type", str, "a string", prefix="item.")
        if kind == "message":
            role = require(item, "role", str, "a string", prefix="item.")
            if role not in ("user", "assistant", "system"):
                raise ClientError("invalid_value", "'item.role' must be user, assistant or system.", "item.role")
            content = require(item, "content", list, "a list", prefix="item.")
            if not all(isinstance(part, dict) for part in content):
                raise ClientError("invalid_type", "'item.content' must be a list of objects.", "item.content")
        elif kind == "function_call":
            require(item, "name", str, "a string", prefix="item.")
            item["arguments"] = optional(item, "arguments", str, "a string", prefix="item.") or ""
            item["call_id"] = optional(item, "call_id", str, "a string", prefix="item.") or self._ids.next("call")
        elif kind == "function_call_output":
            require(item, "call_id", str, "a string", prefix="item.")
            require(item, "output", str, "a string", prefix="item.")
        else:
            raise ClientError(
                "invalid_value", "'item.type' must be message, function_call or function_call_output.", "item.type"
            )
        item_id = optional(item, "id", str, "a string", prefix="item.")
        if item_id is not None and any(existing["id"] == item_id for existing in self.items):
            raise ClientError("item_already_exists", f"An item with id '{item_id}' already exists.", "item.id")
        item["id"] = item_id or self.new_item_id()
        item["object"] = "realtime.item"
        item["status"] = "completed"
        if kind == "message":
            self._keep_audio_aside(item)
        return item

    def _keep_audio_aside(self, item: Json) -> None:
        """Store a message's base64 audio beside it and give it a transcript, as for committed audio."""
        for i, part in enumerate(item["content"]):
            audio = part.get("audio")
            if part.get("type") not in ("input_audio", "output_audio") or not isinstance(audio, str):
                continue
            pcm = decode_audio(audio, f"item.content[{i}].audio")
            side = "input" if part["type"] == "input_audio" else "output"
            rate = int((self._config.audio_config(side).get("format") or {}).get("rate") or 44100)
            stored = StoredAudio(rate=rate, samples=len(pcm) // 2, pcm=pcm)
            self.audio.setdefault(item["id"], stored)
            del part["audio"]
            if not part.get("transcript"):
                part["transcript"] = f"(audio {stored.samples / rate:.2f} s)"

    async def on_item_retrieve(self, event: Json) -> None:
        item_id = require(event, "item_id", str, "a string")
        item = copy.deepcopy(self.items[self.index(item_id)])
        stored = self.audio.get(item_id)
        if stored is not None:
            # Retrieval is the one place the server's copy of the audio comes back.
            part = next((p for p in item.get("content", []) if p.get("type") in ("input_audio", "output_audio")), None)
            if part is not None:
                part["audio"] = base64.b64encode(stored.data()).decode("ascii")
        await self._emit("conversation.item.retrieved", item=item)

    async def on_item_delete(self, event: Json) -> None:
        item_id = require(event, "item_id", str, "a string")
        del self.items[self.index(item_id)]
        self.audio.pop(item_id, None)
        await self._emit("conversation.item.deleted", item_id=item_id)

    async def on_item_truncate(self, event: Json) -> None:
        item_id = require(event, "item_id", str, "a string")
        content_index = require(event, "content_index", int, "an integer")
        audio_end_ms = require(event, "audio_end_ms", int, "an integer")
        item = self.items[self.index(item_id)]
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ClientError("invalid_value", "Only assistant messages can be truncated.", "item_id")
        content = item.get("content") or []
        if not 0 <= content_index < len(content) or content[content_index].get("type") != "output_audio":
            raise ClientError("invalid_value", "'content_index' must point at the item's audio.", "content_index")
        stored = self.audio.get(item_id) or StoredAudio(rate=self._config.input_rate, samples=0)
        if not 0 <= audio_end_ms <= stored.ms:
            raise ClientError(
                "invalid_value",
                f"'audio_end_ms' ({audio_end_ms}) must be between 0 and the audio's length ({stored.ms} ms).",
                "audio_end_ms",
            )
        self._truncate(content[content_index], stored, audio_end_ms)
        self.audio[item_id] = stored
        await self._emit(
            "conversation.item.truncated", item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms
        )

    @staticmethod
    def _truncate(part: Json, stored: StoredAudio, audio_end_ms: int) -> None:
        """Cut the audio at `audio_end_ms` and keep only the words heard by then."""
        kept = min(stored.samples, audio_end_ms * stored.rate // 1000)
        words = (part.get("transcript") or "").split()
        heard = len(words) * kept // stored.samples if stored.samples else 0
        part["transcript"] = " ".join(words[:heard])
        stored.samples = kept
