"""One `/v1/realtime` connection's translator: OpenAI's GA dialect on the client's side, Yandex's upstream.

`from_client` turns a client event into the events the upstream gets (zero, one or more), the fields
dropped on the way (each becomes an `error` event naming it) or a refusal; `from_server` turns one
upstream event's JSON text into what the client gets (zero, one or more texts). Events with nothing to
translate (text deltas, most of a stream) go through as they came, byte for byte, without being parsed.

State per connection: the client's audio formats, the upstream's rates (read from its session and
response events, never assumed), the voices the client named, and one resampler per audio stream
(the client's input; each answer's audio part), so chunk borders stay seamless and N ms in give N ms
out. The ms fields (`audio_end_ms` of a truncate, the VAD events' `audio_start_ms`/`audio_end_ms`) mean
the same instant on both sides, since the resampler keeps time (it only holds a few ms back), so they
pass unchanged.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .audio import (
    OPENAI_DEFAULT,
    UPSTREAM_DEFAULT,
    AudioFormat,
    AudioStream,
    b64decode,
    b64encode,
    convert_clip,
    upstream_format,
)
from .mapping import (
    Mapped,
    Problem,
    Refused,
    deep_merge,
    drop,
    response_to_client,
    response_to_upstream,
    session_to_client,
    session_to_upstream,
)
from .voices import VoiceMap

# What one append may carry upstream (Yandex's limit); converted audio over it goes as several appends.
MAX_APPEND_BYTES = 15 * 1024 * 1024

# `{"type":"…"` opening the text: the type read without parsing the event (the upstreams write it first).
_HEAD_TYPE = re.compile(r'\{\s*"type"\s*:\s*"([A-Za-z0-9_.]+)"')
_ITEM_EVENTS = frozenset(
    {
        "conversation.item.added",
        "conversation.item.created",
        "conversation.item.done",
        "conversation.item.retrieved",
        "response.output_item.added",
        "response.output_item.done",
    }
)


def dumps(event: Any) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_id() -> str:
    return "event_" + secrets.token_hex(10)


@dataclass
class FromClient:
    """What a client event becomes: upstream events in order, dropped fields, or a refusal.

    `applied()` makes what the event changes here (the client's formats, its voice names) take effect:
    the caller calls it once Yandex's schema took the events, so a refused event changes nothing."""

    events: list[dict[str, Any]] = field(default_factory=list)
    dropped: list[Problem] = field(default_factory=list)
    refused: Problem | None = None
    changes: list[Callable[[], None]] = field(default_factory=list)

    def applied(self) -> None:
        for change in self.changes:
            change()


class OpenAIDialect:
    def __init__(self, voices: VoiceMap | None = None) -> None:
        self.voices = voices or VoiceMap()
        self.client_input: AudioFormat = OPENAI_DEFAULT
        self.client_output: AudioFormat = OPENAI_DEFAULT
        self.upstream_input: AudioFormat = UPSTREAM_DEFAULT
        self.upstream_output: AudioFormat = UPSTREAM_DEFAULT
        self.shown: dict[str, Any] = {}  # what the client set and is served in other terms, deep-merged
        self.voice_names: dict[str, str] = {}  # Yandex voice → the name the client used for it
        self._input: AudioStream | None = None
        self._outputs: dict[tuple[str, int], AudioStream] = {}  # (item id, content index)
        self._response_formats: dict[Any, AudioFormat] = {}  # response id → the upstream's format for it
        self._server: dict[str, Callable[[dict[str, Any]], list[dict[str, Any]]]] = {
            "session.created": self._session_event,
            "session.updated": self._session_event,
            "response.created": self._response_event,
            "response.done": self._response_done,
            "response.output_audio.delta": self._audio_delta,
            "response.output_audio.done": self._audio_done,
            **dict.fromkeys(_ITEM_EVENTS, self._item_event),
        }

    # --- client → upstream ---------------------------------------------------------------------------------

    def from_client(self, event: Any) -> FromClient:
        if not isinstance(event, dict):
            return FromClient(events=[event])  # the schema refuses it, naming why
        handlers: dict[Any, Callable[[dict[str, Any]], FromClient]] = {
            "session.update": self._session_update,
            "input_audio_buffer.append": self._append,
            "input_audio_buffer.commit": self._commit,
            "input_audio_buffer.clear": self._clear,
            "conversation.item.create": self._item_create,
            "response.create": self._response_create,
        }
        handler = handlers.get(event.get("type"))
        if handler is None:
            return FromClient(events=[event])
        try:
            return handler(copy.copy(event))
        except Refused as exc:
            return FromClient(refused=exc.problem)

    def _session_update(self, event: dict[str, Any]) -> FromClient:
        mapped = session_to_upstream(event.get("session"), self.voices)
        # The audio sent so far in the old format goes first, all of it.
        changes_format = mapped.input_format is not None and mapped.input_format != self.client_input
        before = self._flush_input() if changes_format else []

        def change() -> None:
            self.client_input = mapped.input_format or self.client_input
            self.client_output = mapped.output_format or self.client_output
            self.shown = deep_merge(self.shown, mapped.shown)

        update = {**event, "session": mapped.upstream}
        return FromClient(
            events=[*before, update], dropped=mapped.problems, changes=[change, *self._voice_change(mapped)]
        )

    def _voice_change(self, mapped: Mapped) -> list[Callable[[], None]]:
        """Remember the client's name for the Yandex voice it asked for (shown back by that name)."""
        if mapped.voice is None:
            return []
        name, yandex = mapped.voice
        return [lambda: self.voice_names.__setitem__(yandex, name)]

    def _input_stream(self) -> AudioStream:
        stream = self._input
        if stream is None or stream.source != self.client_input or stream.target != self.upstream_input:
            # A new stream (a format changed upstream: what the old one held back, a few ms, is let go).
            stream = self._input = AudioStream(self.client_input, self.upstream_input)
        return stream

    def _appends(self, audio: bytes, template: dict[str, Any]) -> list[dict[str, Any]]:
        """Upstream appends carrying `audio`: none when the resampler held it all back for now."""
        step = MAX_APPEND_BYTES - MAX_APPEND_BYTES % 2
        events = []
        for start in range(0, len(audio), step):
            append = {**template, "audio": b64encode(audio[start : start + step])}
            if start:
                append.pop("event_id", None)  # the rest of an append split in two: ids of their own
            events.append(append)
        return events

    def _append(self, event: dict[str, Any]) -> FromClient:
        audio = event.get("audio")
        if not isinstance(audio, str):
            return FromClient(events=[event])  # the schema refuses it, naming `audio`
        if self.client_input == self.upstream_input:
            return FromClient(events=[event])  # nothing to convert: Yandex's schema checks it as it is
        raw = b64decode(audio)
        if raw is None:
            raise Refused("audio", "audio is not valid base64.")
        if len(raw) > MAX_APPEND_BYTES:
            raise Refused("audio", "audio is over 15 MiB (Yandex's limit per append).", "payload_too_large")
        return FromClient(events=self._appends(self._input_stream().push(raw), event))

    def _flush_input(self) -> list[dict[str, Any]]:
        """The input resampler's held-back tail, as an append (before a commit, or a format change)."""
        if self._input is None:
            return []
        tail = self._input.flush()
        return self._appends(tail, {"type": "input_audio_buffer.append"})

    def _commit(self, event: dict[str, Any]) -> FromClient:
        return FromClient(events=[*self._flush_input(), event])

    def _clear(self, event: dict[str, Any]) -> FromClient:
        self._input = None  # what it held is cleared too
        return FromClient(events=[event])

    def _items_upstream(self, items: Any, param: str) -> tuple[Any, list[Problem]]:
        problems: list[Problem] = []
        if not isinstance(items, list):
            return items, problems
        return [self._item_upstream(item, f"{param}[{i}]", problems) for i, item in enumerate(items)], problems

    def _item_upstream(self, item: Any, param: str, problems: list[Problem]) -> Any:
        """A message's audio in the upstream's format; an image's `detail` (Yandex takes none) dropped."""
        if not isinstance(item, dict) or not isinstance(item.get("content"), list):
            return item
        item = {**item, "content": list(item["content"])}
        for i, part in enumerate(item["content"]):
            if not isinstance(part, dict):
                continue
            part = item["content"][i] = dict(part)
            if "detail" in part:
                del part["detail"]
                drop(problems, f"{param}.content[{i}].detail", "Yandex takes no image detail.")
            if isinstance(part.get("audio"), str):
                raw = b64decode(part["audio"])
                if raw is None:
                    raise Refused(f"{param}.content[{i}].audio", f"{param}.content[{i}].audio is not valid base64.")
                source, target = self._clip_formats(part.get("type"))
                part["audio"] = b64encode(convert_clip(raw, source, target))
        return item

    def _clip_formats(self, part_type: Any) -> tuple[AudioFormat, AudioFormat]:
        """(client format, upstream format) of an item's audio part: the input side unless it is output audio."""
        if part_type == "output_audio":
            return self.client_output, self.upstream_output
        return self.client_input, self.upstream_input

    def _item_create(self, event: dict[str, Any]) -> FromClient:
        problems: list[Problem] = []
        if "item" in event:
            event["item"] = self._item_upstream(event["item"], "item", problems)
        return FromClient(events=[event], dropped=problems)

    def _response_create(self, event: dict[str, Any]) -> FromClient:
        if event.get("response") is None:
            return FromClient(events=[event])
        response = event["response"]
        mapped = response_to_upstream(response, self.voices, self.client_output)
        if isinstance(response, dict) and "input" in response:
            mapped.upstream["input"], problems = self._items_upstream(response["input"], "response.input")
            mapped.problems += problems
        return FromClient(
            events=[{**event, "response": mapped.upstream}],
            dropped=mapped.problems,
            changes=self._voice_change(mapped),
        )

    # --- upstream → client ---------------------------------------------------------------------------------

    def from_server(self, text: str) -> list[str]:
        head = _HEAD_TYPE.match(text)
        kind = head.group(1) if head else None
        if kind is not None and (kind not in self._server or (kind in _ITEM_EVENTS and '"audio"' not in text)):
            return [text]
        if kind == "response.output_audio.delta" and self._same_output_format():
            return [text]  # nothing to convert (the upstream speaks the client's format): not even parsed
        try:
            event = json.loads(text)
        except ValueError:
            return [text]
        if not isinstance(event, dict) or event.get("type") not in self._server:
            return [text]
        return [dumps(out) for out in self._server[event["type"]](event)]

    def _session_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        session = event.get("session")
        if not isinstance(session, dict):
            return [event]
        audio = _dict(session.get("audio"))
        self.upstream_input = upstream_format(_dict(audio.get("input")).get("format"), self.upstream_input)
        self.upstream_output = upstream_format(_dict(audio.get("output")).get("format"), self.upstream_output)
        event["session"] = session_to_client(
            session,
            shown=self.shown,
            input_format=self.client_input,
            output_format=self.client_output,
            voice_names=self.voice_names,
        )
        return [event]

    def _response_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        response = event.get("response")
        if isinstance(response, dict):
            output = _dict(_dict(response.get("audio")).get("output"))
            if isinstance(response.get("id"), str):
                self._response_formats[response["id"]] = upstream_format(output.get("format"), self.upstream_output)
            response_to_client(response, output_format=self.client_output, voice_names=self.voice_names)
        return [event]

    def _response_done(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        response = event.get("response")
        if isinstance(response, dict):
            self._response_formats.pop(response.get("id"), None)
            # An answer cut short (cancelled, interrupted) gets no output_audio.done: its streams go.
            ids = {item.get("id") for item in response.get("output") or [] if isinstance(item, dict)}
            for key in [key for key in self._outputs if key[0] in ids]:
                del self._outputs[key]
        return self._response_event(event)

    @staticmethod
    def _stream_key(event: dict[str, Any]) -> tuple[str, int] | None:
        item_id, index = event.get("item_id"), event.get("content_index", 0)
        return (item_id, index) if isinstance(item_id, str) and isinstance(index, int) else None

    def _same_output_format(self) -> bool:
        return self.upstream_output == self.client_output and all(
            fmt == self.client_output for fmt in self._response_formats.values()
        )

    def _output_stream(self, event: dict[str, Any]) -> AudioStream | None:
        key = self._stream_key(event)
        if key is None:
            return None
        stream = self._outputs.get(key)
        if stream is None:
            source = self._response_formats.get(event.get("response_id"), self.upstream_output)
            stream = self._outputs[key] = AudioStream(source, self.client_output)
        return stream

    def _audio_delta(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        delta = event.get("delta")
        raw = b64decode(delta) if isinstance(delta, str) else None
        stream = self._output_stream(event)
        if raw is None or stream is None:
            return [event]
        audio = stream.push(raw)
        if not audio:
            return []  # held back by the resampler: it comes with the next delta
        event["delta"] = b64encode(audio)
        return [event]

    def _audio_done(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        key = self._stream_key(event)
        stream = self._outputs.pop(key) if key in self._outputs else None
        tail = stream.flush() if stream is not None else b""
        if not tail:
            return [event]
        where: dict[str, Any] = {
            k: event[k] for k in ("response_id", "item_id", "output_index", "content_index") if k in event
        }
        delta = {"type": "response.output_audio.delta", "event_id": _event_id(), **where, "delta": b64encode(tail)}
        return [delta, event]

    def _item_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        item = event.get("item")
        if not isinstance(item, dict) or not isinstance(item.get("content"), list):
            return [event]
        for part in item["content"]:
            if isinstance(part, dict) and isinstance(part.get("audio"), str):
                raw = b64decode(part["audio"])
                if raw is not None:
                    client, upstream = self._clip_formats(part.get("type"))
                    part["audio"] = b64encode(convert_clip(raw, upstream, client))
        return [event]
