"""The emulator: an offline realtime server speaking the GA protocol the way Yandex does.

It is a real WebSocket server (pure asyncio + `websockets`, no Django), so the
relay, the tests and the benchmark talk to it exactly as they talk to Yandex.
Everything it says is deterministic: the same client events on a fresh
connection give the same server events, ids included (ids count per
connection; only the session id carries the server's connection number).

What it answers:
- a user message `hello` → `You said: "hello".` (text, or audio: a quiet sine
  tone, 60 ms per word, with its transcript);
- a user message that names a function tool → a function call whose
  arguments come from the tool's JSON schema and the user's words; after a
  `function_call_output` item → `The tool answered: <output>.`;
- `response.metadata.emulator_words = "<N>"` stretches the answer to N words
  (benchmarks use it for long streams).

Per connection, `?pace=<events/s>&lifetime=<seconds>` in the URL override the
server's defaults; any path and a `model=` parameter are accepted; `?stamp=1`
(benchmarks) adds each event's send time as `x_emulator_sent_at`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import json
import logging
import math
import re
import sys
import time
from array import array
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

logger = logging.getLogger(__name__)

Json = dict[str, Any]
Event = tuple[str, Json]  # (type, fields without type and event_id)

MODEL = "speech-realtime-250923"
DEFAULT_VOICE = "marina"
DEFAULT_ROLE = "good"
DEFAULT_LANGUAGES = ("ru-RU",)
# The playground forwards appends of up to 15 MiB of audio (events.py): 20 MiB of base64, plus the envelope.
MAX_FRAME_BYTES = 21 * 1024 * 1024

WORD_MS = 60  # audio per spoken word
TONE_HZ = 500  # 60 ms holds exactly 30 periods, so word chunks join without clicks
TONE_AMPLITUDE = 1000  # about -30 dBFS: audible but quiet
VAD_WINDOW_MS = 10
GREETING = "Hello! This is the realtime emulator. Say something and I will repeat it."
FILLER = tuple("and the emulator keeps talking so that the stream is long enough to measure".split())  # noqa: SIM905
# The field `?stamp=1` adds to every event: its send time (Unix seconds), for benchmarks.
STAMP_FIELD = "x_emulator_sent_at"
QUERY_KEYS = ("query", "q", "text", "question", "message", "prompt", "input")
# Words too common to tell one tool from another.
STOPWORDS = frozenset(
    "a an and are at be by can could do does for from get give how i in is it me my of on or please set show "  # noqa: SIM905
    "tell that the this to what when where which who why will with would you your".split()
)


class _ClientError(Exception):
    """A client event we refuse; becomes an `error` event and the connection goes on."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


# --- pure helpers ------------------------------------------------------------------------------------------------


def default_session(session_id: str, sample_rate: int) -> Json:
    """The session a new connection starts with, Yandex extensions included."""
    return {
        "type": "realtime",
        "id": session_id,
        "object": "realtime.session",
        "model": MODEL,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": sample_rate},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": {
                    "type": "server_vad",
                    "threshold": 0.5,
                    "prefix_padding_ms": 300,
                    "silence_duration_ms": 500,
                    "create_response": True,
                    "interrupt_response": True,
                },
                "languages": list(DEFAULT_LANGUAGES),
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": sample_rate},
                "voice": DEFAULT_VOICE,
                "speed": 1.0,
                "role": DEFAULT_ROLE,
            },
        },
    }


def deep_merge(base: Json, patch: Json) -> Json:
    """Objects merge key by key; anything else (lists, null) replaces."""
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def samples_per_word(rate: int) -> int:
    return rate * WORD_MS // 1000


def _to_pcm_bytes(samples: array[int]) -> bytes:
    # The wire format is little-endian PCM16 whatever the machine.
    if sys.byteorder == "big":
        samples.byteswap()
    return samples.tobytes()


@lru_cache(maxsize=16)
def word_tone(rate: int) -> bytes:
    """One word of speech: 60 ms of a quiet sine, PCM16 mono at `rate`."""
    count = samples_per_word(rate)
    wave = array("h", (round(TONE_AMPLITUDE * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(count)))
    return _to_pcm_bytes(wave)


@lru_cache(maxsize=16)
def word_tone_b64(rate: int) -> str:
    # Cached: long streams send the same chunk thousands of times.
    return base64.b64encode(word_tone(rate)).decode("ascii")


def tone(rate: int, samples: int) -> bytes:
    """`samples` samples of the emulator's voice (the word tone repeated)."""
    chunk = word_tone(rate)
    repeats = samples // max(1, len(chunk) // 2) + 1
    return (chunk * repeats)[: samples * 2]


def rms(pcm: bytes | bytearray) -> float:
    samples = array("h", bytes(pcm))
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return 0.0
    return math.sqrt(sum(s * s for s in samples) / len(samples))


def words_of(text: str) -> list[str]:
    """Lower-case words, Cyrillic included; `_` splits words (tool names)."""
    return re.findall(r"[^\W_]+", text.lower())


def count_tokens(text: str) -> int:
    # Deterministic stand-in for a tokenizer: one token per word or number.
    return len(re.findall(r"\w+", text))


def split_evenly(text: str, parts: int) -> list[str]:
    size = max(1, math.ceil(len(text) / parts))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


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


def function_tools(tools: list[Json]) -> list[Json]:
    return [t for t in tools if t.get("type", "function") == "function" and isinstance(t.get("name"), str)]


def choose_tool(tools: list[Json], tool_choice: Any, said: str) -> Json | None:
    """The function tool a user message calls, if any (`tool_choice` as in the protocol)."""
    functions = function_tools(tools)
    if tool_choice == "none" or not functions:
        return None
    if isinstance(tool_choice, dict):
        return next((t for t in functions if t["name"] == tool_choice.get("name")), None)
    heard = set(words_of(said))
    # The tool's name speaks louder than its description: `get_weather` wins on "weather".
    for tool in functions:
        if (set(words_of(tool["name"])) - STOPWORDS) & heard:
            return tool
    for tool in functions:
        description = tool.get("description")
        keywords = {w for w in words_of(description if isinstance(description, str) else "") if len(w) >= 4}
        if (keywords - STOPWORDS) & heard:
            return tool
    return functions[0] if tool_choice == "required" else None


def tool_arguments(tool: Json, said: str) -> str:
    """JSON arguments for `tool`, from its parameters schema and the user's words."""
    schema = tool.get("parameters")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    words = re.findall(r"[^\W_][\w'-]*", said)
    numbers = re.findall(r"-?\d+(?:\.\d+)?", said)
    arguments = {}
    for name, spec in (properties or {}).items():
        arguments[name] = _argument_value(name, spec if isinstance(spec, dict) else {}, said, words, numbers)
    return json.dumps(arguments, ensure_ascii=False)


def _argument_value(name: str, spec: Json, said: str, words: list[str], numbers: list[str]) -> Any:
    enum = spec.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    kind = spec.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    if kind in ("integer", "number"):
        number = float(numbers[0]) if numbers else 1.0
        return int(number) if kind == "integer" else number
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    if name.lower() in QUERY_KEYS:
        return said
    # "what is the weather in Moscow" → city "Moscow": places tend to come last.
    return words[-1] if words else ""


def stretch(words: list[str], count: int) -> list[str]:
    """Exactly `count` words: the answer, then filler words in a fixed cycle."""
    if count <= len(words):
        return words[:count]
    extra = [FILLER[i % len(FILLER)] for i in range(count - len(words))]
    return words + extra


def connection_options(path: str, *, pace: float, lifetime: float) -> tuple[float, float]:
    """(pace, lifetime) for one connection: the URL's query overrides the server's defaults."""
    query = parse_qs(urlsplit(path).query)
    return _query_number(query, "pace", pace), _query_number(query, "lifetime", lifetime)


def _query_number(query: dict[str, list[str]], name: str, default: float) -> float:
    if name not in query:
        return default
    raw = query[name][-1]
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be zero or a positive number, got {raw!r}")
    return value


# --- validation of client input ----------------------------------------------------------------------------------


def _require(obj: Json, name: str, kind: type | tuple[type, ...], what: str, *, prefix: str = "") -> Any:
    param = prefix + name
    if obj.get(name) is None:
        raise _ClientError("missing_required_parameter", f"Missing required parameter '{param}'.", param)
    return _check_type(obj[name], kind, what, param)


def _optional(obj: Json, name: str, kind: type | tuple[type, ...], what: str, *, prefix: str = "") -> Any:
    if obj.get(name) is None:
        return None
    return _check_type(obj[name], kind, what, prefix + name)


def _check_type(value: Any, kind: type | tuple[type, ...], what: str, param: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    # bool is an int in Python, never in JSON schemas.
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        raise _ClientError("invalid_type", f"'{param}' must be {what}.", param)
    return value


def _check_modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ("text", "audio"):
        raise _ClientError("invalid_value", f'\'{param}\' must be ["text"] or ["audio"].', param)
    return value


def _check_max_tokens(value: Any, param: str) -> int | None:
    if value == "inf":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise _ClientError("invalid_value", f"'{param}' must be an integer from 1 to 4096, or \"inf\".", param)
    return value


def _check_tools(value: Any, param: str) -> list[Json]:
    if not isinstance(value, list) or not all(isinstance(t, dict) for t in value):
        raise _ClientError("invalid_type", f"'{param}' must be a list of tool objects.", param)
    for i, tool in enumerate(value):
        if tool.get("type", "function") == "function" and not isinstance(tool.get("name"), str):
            raise _ClientError("missing_required_parameter", "A function tool needs a 'name'.", f"{param}[{i}].name")
    return value


def _check_tool_choice(value: Any, tools: list[Json], param: str) -> Any:
    if value in ("auto", "none", "required"):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        if not any(t["name"] == value["name"] for t in function_tools(tools)):
            raise _ClientError("invalid_value", f"'{param}' names a function that is not in the tools.", param)
        return value
    raise _ClientError(
        "invalid_value", f'\'{param}\' must be auto, none, required or {{"type": "function", "name": …}}.', param
    )


def _check_format(value: Any, param: str) -> None:
    if value is None:
        return
    _check_type(value, dict, "an object", param)
    if value.get("type", "audio/pcm") != "audio/pcm":
        raise _ClientError(
            "invalid_value", "The emulator speaks PCM16 only: the type must be audio/pcm.", param + ".type"
        )
    rate = value.get("rate")
    if rate is not None and (isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 96000):
        raise _ClientError(
            "invalid_value", "The rate must be an integer number of Hz from 8000 to 96000.", param + ".rate"
        )


def _check_turn_detection(value: Any, param: str) -> None:
    if value is None:
        return
    _check_type(value, dict, "an object or null", param)
    if value.get("type") != "server_vad":
        raise _ClientError("invalid_value", 'Turn detection must be {"type": "server_vad", …} or null.', param)
    threshold = value.get("threshold")
    if threshold is not None and (not isinstance(threshold, int | float) or not 0 <= threshold <= 1):
        raise _ClientError("invalid_value", "The threshold must be a number from 0 to 1.", param + ".threshold")
    for name in ("prefix_padding_ms", "silence_duration_ms"):
        ms = value.get(name)
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int) or ms < 0):
            raise _ClientError("invalid_value", f"'{name}' must be a whole number of ms, 0 or more.", f"{param}.{name}")


def check_session(session: Json) -> None:
    """Refuse a merged session the emulator could not honour, naming the field."""
    if session.get("type") != "realtime":
        raise _ClientError("invalid_value", "Only realtime sessions are supported.", "session.type")
    _check_modalities(session.get("output_modalities"), "session.output_modalities")
    _check_type(session.get("instructions") or "", str, "a string", "session.instructions")
    tools = _check_tools(session.get("tools") or [], "session.tools")
    _check_tool_choice(session.get("tool_choice", "auto"), tools, "session.tool_choice")
    _check_max_tokens(session.get("max_output_tokens", "inf"), "session.max_output_tokens")
    audio = _check_type(session.get("audio") or {}, dict, "an object", "session.audio")
    audio_in = _check_type(audio.get("input") or {}, dict, "an object", "session.audio.input")
    audio_out = _check_type(audio.get("output") or {}, dict, "an object", "session.audio.output")
    _check_format(audio_in.get("format"), "session.audio.input.format")
    _check_format(audio_out.get("format"), "session.audio.output.format")
    _check_turn_detection(audio_in.get("turn_detection"), "session.audio.input.turn_detection")


# --- per-connection state ----------------------------------------------------------------------------------------


class _Ids:
    """Sequential ids per prefix: the same script on a fresh connection gives the same ids."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def next(self, prefix: str) -> str:
        number = self._counts.get(prefix, 0) + 1
        self._counts[prefix] = number
        return f"{prefix}_{number:04d}"


@dataclass
class _StoredAudio:
    """Audio kept beside an item (events carry no audio back unless retrieved)."""

    rate: int
    samples: int
    pcm: bytes | None = None  # None: the emulator's own voice, regenerated when asked for

    def data(self) -> bytes:
        return self.pcm[: self.samples * 2] if self.pcm is not None else tone(self.rate, self.samples)

    @property
    def ms(self) -> int:
        return self.samples * 1000 // self.rate


@dataclass
class _VadState:
    speaking: bool = False
    item_id: str = ""
    speech_start: int = 0  # sample position of the first loud window
    last_loud_end: int = 0
    quiet_samples: int = 0


@dataclass
class _ResponseParams:
    modalities: list[str]
    instructions: str
    tools: list[Json]
    tool_choice: Any
    max_output_tokens: int | None  # None: "inf"
    metadata: dict[str, str] | None
    in_conversation: bool
    context: list[Json]
    output_format: Json
    voice: Any
    words: int | None  # metadata.emulator_words


@dataclass
class _Plan:
    """What a response will say, decided when it is created."""

    kind: str  # "message" or "function_call"
    words: list[str] = field(default_factory=list)
    limited: bool = False  # cut by max_output_tokens
    tool_name: str = ""
    arguments: str = ""


@dataclass
class _Response:
    id: str
    params: _ResponseParams
    input_text_tokens: int
    input_audio_tokens: int
    status: str = "in_progress"
    status_details: Json | None = None
    output: list[Json] = field(default_factory=list)
    text_tokens: int = 0
    audio_samples: int = 0
    started: float = 0.0
    cancel_reason: str | None = None
    waiter: asyncio.Future[None] | None = None
    task: asyncio.Task[None] | None = None

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        # Wake the stream if it is waiting for its next paced slot.
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Connection:
    """One client connection: its session, conversation, audio buffer and response stream."""

    def __init__(
        self, ws: ServerConnection, *, session_id: str, pace: float, lifetime: float, rate: int, stamp: bool = False
    ) -> None:
        self._ws = ws
        # Benchmarks only (`?stamp=1`): each event carries its send time, to measure what a relay adds.
        self._stamp = stamp
        self._pace = pace
        self._lifetime = lifetime
        self._ids = _Ids()
        self._session = default_session(session_id, rate)
        self._conversation_id = self._ids.next("conv")
        self._items: list[Json] = []
        self._audio: dict[str, _StoredAudio] = {}
        self._buffer = bytearray()
        self._buffer_start = 0  # sample position of the buffer's first sample in the session's audio
        self._vad_cursor = 0  # audio up to here has been through VAD
        self._vad = _VadState()
        self._response: _Response | None = None
        # Every stream task, so shutdown awaits even one that is sending its last response.done.
        self._streams: set[asyncio.Task[None]] = set()
        self._expiring = False
        self._handlers: dict[str, Callable[[Json], Awaitable[None]]] = {
            "session.update": self._on_session_update,
            "conversation.item.create": self._on_item_create,
            "conversation.item.retrieve": self._on_item_retrieve,
            "conversation.item.delete": self._on_item_delete,
            "conversation.item.truncate": self._on_item_truncate,
            "input_audio_buffer.append": self._on_audio_append,
            "input_audio_buffer.commit": self._on_audio_commit,
            "input_audio_buffer.clear": self._on_audio_clear,
            "output_audio_buffer.clear": self._on_output_audio_clear,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }

    # --- lifecycle -----------------------------------------------------------------------------------------------

    async def run(self) -> None:
        expiry = asyncio.create_task(self._expire_after(self._lifetime)) if self._lifetime > 0 else None
        try:
            await self._emit("session.created", session=self._session)
            async for message in self._ws:
                await self._handle_message(message)
        except ConnectionClosed:
            pass
        finally:
            await self._shutdown(expiry)

    async def _shutdown(self, expiry: asyncio.Task[None] | None) -> None:
        tasks = [*self._streams, *([expiry] if expiry is not None else [])]
        for task in tasks:
            # An expiring session is busy closing the socket politely: let it finish.
            if not (task is expiry and self._expiring):
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _expire_after(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._expiring = True
        for stream in self._streams:
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
                raise _ClientError("unknown_event", f"Unknown event type '{event['type']}'.", "type")
            await handler(event)
        except _ClientError as exc:
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
            raise _ClientError("invalid_json", "Binary frames are not supported: send client events as JSON text.")
        try:
            event = json.loads(raw)
        except ValueError as exc:
            raise _ClientError("invalid_json", f"The message is not valid JSON: {exc}.") from None
        if not isinstance(event, dict):
            raise _ClientError("invalid_json", "A client event must be a JSON object.")
        _require(event, "type", str, "a string")
        return event

    # --- session -------------------------------------------------------------------------------------------------

    async def _on_session_update(self, event: Json) -> None:
        patch = _require(event, "session", dict, "an object")
        # id, object and model are the server's; a client echoing its session back may send them.
        patch = {k: v for k, v in patch.items() if k not in ("id", "object", "model")}
        merged = deep_merge(self._session, patch)
        check_session(merged)
        self._session = merged
        await self._emit("session.updated", session=self._session)

    def _audio_config(self, side: str) -> Json:
        config = (self._session.get("audio") or {}).get(side) or {}
        return config if isinstance(config, dict) else {}

    @property
    def _input_rate(self) -> int:
        fmt = self._audio_config("input").get("format") or {}
        return int(fmt.get("rate") or 44100)

    def _ms(self, samples: int) -> int:
        return samples * 1000 // self._input_rate

    # --- conversation --------------------------------------------------------------------------------------------

    def _index(self, item_id: str, param: str = "item_id") -> int:
        for i, item in enumerate(self._items):
            if item["id"] == item_id:
                return i
        raise _ClientError("item_not_found", f"No item with id '{item_id}' in the conversation.", param)

    def _new_item_id(self) -> str:
        known = {item["id"] for item in self._items}
        while True:
            item_id = self._ids.next("item")
            if item_id not in known:
                return item_id

    def _insert(self, item: Json, previous_item_id: str | None = None) -> str | None:
        """Put an item in the conversation (at the end by default); returns the id of the one before it."""
        if previous_item_id is None:
            position = len(self._items)
        elif previous_item_id == "root":
            position = 0
        else:
            position = self._index(previous_item_id, "previous_item_id") + 1
        self._items.insert(position, item)
        return self._items[position - 1]["id"] if position > 0 else None

    async def _add_item(self, item: Json, previous_item_id: str | None = None) -> None:
        previous = self._insert(item, previous_item_id)
        await self._emit("conversation.item.added", previous_item_id=previous, item=item)
        await self._emit("conversation.item.done", previous_item_id=previous, item=item)

    async def _on_item_create(self, event: Json) -> None:
        raw = _require(event, "item", dict, "an object")
        previous = _optional(event, "previous_item_id", str, "a string")
        if previous not in (None, "root"):
            self._index(previous, "previous_item_id")
        item = self._normalise_item(raw)
        await self._add_item(item, previous)

    def _normalise_item(self, raw: Json) -> Json:
        item = copy.deepcopy(raw)
        kind = _require(item, "type", str, "a string", prefix="item.")
        if kind == "message":
            role = _require(item, "role", str, "a string", prefix="item.")
            if role not in ("user", "assistant", "system"):
                raise _ClientError("invalid_value", "'item.role' must be user, assistant or system.", "item.role")
            content = _require(item, "content", list, "a list", prefix="item.")
            if not all(isinstance(part, dict) for part in content):
                raise _ClientError("invalid_type", "'item.content' must be a list of objects.", "item.content")
        elif kind == "function_call":
            _require(item, "name", str, "a string", prefix="item.")
            item["arguments"] = _optional(item, "arguments", str, "a string", prefix="item.") or ""
            item["call_id"] = _optional(item, "call_id", str, "a string", prefix="item.") or self._ids.next("call")
        elif kind == "function_call_output":
            _require(item, "call_id", str, "a string", prefix="item.")
            _require(item, "output", str, "a string", prefix="item.")
        else:
            raise _ClientError(
                "invalid_value", "'item.type' must be message, function_call or function_call_output.", "item.type"
            )
        item_id = _optional(item, "id", str, "a string", prefix="item.")
        if item_id is not None and any(existing["id"] == item_id for existing in self._items):
            raise _ClientError("item_already_exists", f"An item with id '{item_id}' already exists.", "item.id")
        item["id"] = item_id or self._new_item_id()
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
            pcm = self._decode_audio(audio, f"item.content[{i}].audio")
            side = "input" if part["type"] == "input_audio" else "output"
            rate = int((self._audio_config(side).get("format") or {}).get("rate") or 44100)
            stored = _StoredAudio(rate=rate, samples=len(pcm) // 2, pcm=pcm)
            self._audio.setdefault(item["id"], stored)
            del part["audio"]
            if not part.get("transcript"):
                part["transcript"] = f"(audio {stored.samples / rate:.2f} s)"

    @staticmethod
    def _decode_audio(data: str, param: str) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise _ClientError("invalid_value", f"'{param}' is not valid base64.", param) from None

    async def _on_item_retrieve(self, event: Json) -> None:
        item_id = _require(event, "item_id", str, "a string")
        item = copy.deepcopy(self._items[self._index(item_id)])
        stored = self._audio.get(item_id)
        if stored is not None:
            # Retrieval is the one place the server's copy of the audio comes back.
            part = next((p for p in item.get("content", []) if p.get("type") in ("input_audio", "output_audio")), None)
            if part is not None:
                part["audio"] = base64.b64encode(stored.data()).decode("ascii")
        await self._emit("conversation.item.retrieved", item=item)

    async def _on_item_delete(self, event: Json) -> None:
        item_id = _require(event, "item_id", str, "a string")
        del self._items[self._index(item_id)]
        self._audio.pop(item_id, None)
        await self._emit("conversation.item.deleted", item_id=item_id)

    async def _on_item_truncate(self, event: Json) -> None:
        item_id = _require(event, "item_id", str, "a string")
        content_index = _require(event, "content_index", int, "an integer")
        audio_end_ms = _require(event, "audio_end_ms", int, "an integer")
        item = self._items[self._index(item_id)]
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise _ClientError("invalid_value", "Only assistant messages can be truncated.", "item_id")
        content = item.get("content") or []
        if not 0 <= content_index < len(content) or content[content_index].get("type") != "output_audio":
            raise _ClientError("invalid_value", "'content_index' must point at the item's audio.", "content_index")
        stored = self._audio.get(item_id) or _StoredAudio(rate=self._input_rate, samples=0)
        if not 0 <= audio_end_ms <= stored.ms:
            raise _ClientError(
                "invalid_value",
                f"'audio_end_ms' ({audio_end_ms}) must be between 0 and the audio's length ({stored.ms} ms).",
                "audio_end_ms",
            )
        self._truncate(content[content_index], stored, audio_end_ms)
        self._audio[item_id] = stored
        await self._emit(
            "conversation.item.truncated", item_id=item_id, content_index=content_index, audio_end_ms=audio_end_ms
        )

    @staticmethod
    def _truncate(part: Json, stored: _StoredAudio, audio_end_ms: int) -> None:
        """Cut the audio at `audio_end_ms` and keep only the words heard by then."""
        kept = min(stored.samples, audio_end_ms * stored.rate // 1000)
        words = (part.get("transcript") or "").split()
        heard = len(words) * kept // stored.samples if stored.samples else 0
        part["transcript"] = " ".join(words[:heard])
        stored.samples = kept

    # --- input audio ---------------------------------------------------------------------------------------------

    @property
    def _position(self) -> int:
        """Samples written to the input buffer since the session started."""
        return self._buffer_start + len(self._buffer) // 2

    def _reset_buffer(self) -> None:
        self._buffer_start = self._position
        self._buffer.clear()
        self._vad_cursor = self._buffer_start
        self._vad = _VadState()

    async def _on_audio_append(self, event: Json) -> None:
        audio = _require(event, "audio", str, "a base64 string")
        self._buffer += self._decode_audio(audio, "audio")
        turn_detection = self._audio_config("input").get("turn_detection")
        if isinstance(turn_detection, dict) and turn_detection.get("type") == "server_vad":
            await self._run_vad(turn_detection)
        else:
            self._vad_cursor = self._position
            self._vad = _VadState()

    async def _on_audio_commit(self, event: Json) -> None:
        if len(self._buffer) < 2:
            raise _ClientError("input_audio_buffer_commit_empty", "The input audio buffer is empty: nothing to commit.")
        samples = len(self._buffer) // 2
        pcm = bytes(self._buffer[: samples * 2])
        self._reset_buffer()
        await self._commit_audio(self._new_item_id(), pcm, f"(audio {samples / self._input_rate:.2f} s)")

    async def _on_audio_clear(self, event: Json) -> None:
        self._reset_buffer()
        await self._emit("input_audio_buffer.cleared")

    async def _on_output_audio_clear(self, event: Json) -> None:
        raise _ClientError(
            "unsupported_event",
            "output_audio_buffer.clear is not supported: Yandex's documentation marks it as not supported yet.",
            "type",
        )

    async def _commit_audio(self, item_id: str, pcm: bytes, transcript: str) -> None:
        """The committed audio becomes a user message in the conversation."""
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": transcript}],
        }
        self._audio[item_id] = _StoredAudio(rate=self._input_rate, samples=len(pcm) // 2, pcm=pcm)
        previous = self._items[-1]["id"] if self._items else None
        await self._emit("input_audio_buffer.committed", previous_item_id=previous, item_id=item_id)
        await self._add_item(item)

    async def _run_vad(self, config: Json) -> None:
        """Energy VAD over 10 ms windows of what has not been looked at yet."""
        rate = self._input_rate
        window = max(1, rate * VAD_WINDOW_MS // 1000)
        level = float(config.get("threshold", 0.5)) * 0.1 * 32768
        silence = int(config.get("silence_duration_ms", 500)) * rate // 1000
        while self._vad_cursor + window <= self._position:
            offset = (self._vad_cursor - self._buffer_start) * 2
            loud = rms(self._buffer[offset : offset + window * 2]) > level
            start, self._vad_cursor = self._vad_cursor, self._vad_cursor + window
            if not self._vad.speaking:
                if loud:
                    await self._speech_started(config, start)
            elif loud:
                self._vad.last_loud_end = self._vad_cursor
                self._vad.quiet_samples = 0
            else:
                self._vad.quiet_samples += window
                if self._vad.quiet_samples >= silence:
                    await self._speech_stopped(config)

    def _speech_start_with_padding(self, config: Json) -> int:
        padding = int(config.get("prefix_padding_ms", 300)) * self._input_rate // 1000
        return max(self._buffer_start, self._vad.speech_start - padding)

    async def _speech_started(self, config: Json, start: int) -> None:
        self._vad = _VadState(
            speaking=True, item_id=self._new_item_id(), speech_start=start, last_loud_end=self._vad_cursor
        )
        if self._response is not None and config.get("interrupt_response", True) is not False:
            # The user talks over the answer: it stops, as with Yandex's default settings.
            self._response.cancel("turn_detected")
        audio_start_ms = self._ms(self._speech_start_with_padding(config))
        await self._emit("input_audio_buffer.speech_started", audio_start_ms=audio_start_ms, item_id=self._vad.item_id)

    async def _speech_stopped(self, config: Json) -> None:
        vad = self._vad
        start = self._speech_start_with_padding(config)
        end = self._vad_cursor
        pcm = bytes(self._buffer[(start - self._buffer_start) * 2 : (end - self._buffer_start) * 2])
        # What stays in the buffer is what came after the turn.
        del self._buffer[: (end - self._buffer_start) * 2]
        self._buffer_start = end
        self._vad = _VadState()
        await self._emit("input_audio_buffer.speech_stopped", audio_end_ms=self._ms(end), item_id=vad.item_id)
        speech_s = (vad.last_loud_end - vad.speech_start) / self._input_rate
        await self._commit_audio(vad.item_id, pcm, f"(speech {speech_s:.2f} s)")
        if config.get("create_response", True) is not False:
            await self._start_response(self._response_params({}))

    # --- responses -----------------------------------------------------------------------------------------------

    async def _on_response_create(self, event: Json) -> None:
        overrides = _optional(event, "response", dict, "an object") or {}
        await self._start_response(self._response_params(overrides))

    async def _on_response_cancel(self, event: Json) -> None:
        response_id = _optional(event, "response_id", str, "a string")
        active = self._response
        if active is None or active.cancel_reason is not None:
            raise _ClientError("response_cancel_not_active", "There is no response in progress to cancel.")
        if response_id is not None and response_id != active.id:
            raise _ClientError("invalid_value", f"Response '{response_id}' is not the one in progress.", "response_id")
        active.cancel("client_cancelled")

    def _response_params(self, overrides: Json) -> _ResponseParams:
        """The session's settings with the response's overrides, checked."""
        session = self._session
        p = "response."
        # An override that is absent or null means the session's value.
        overrides = {k: v for k, v in overrides.items() if v is not None}
        modalities = overrides.get("output_modalities", session["output_modalities"])
        tools = overrides.get("tools", session.get("tools") or [])
        metadata = _optional(overrides, "metadata", dict, "an object", prefix=p)
        if metadata is not None and not all(isinstance(v, str) for v in metadata.values()):
            raise _ClientError("invalid_type", "'response.metadata' values must be strings.", "response.metadata")
        conversation = overrides.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise _ClientError(
                "invalid_value", "'response.conversation' must be auto or none.", "response.conversation"
            )
        output = deep_merge(self._audio_config("output"), ((overrides.get("audio") or {}).get("output")) or {})
        _check_format(output.get("format"), "response.audio.output.format")
        tools = _check_tools(tools, "response.tools")
        return _ResponseParams(
            modalities=_check_modalities(modalities, "response.output_modalities"),
            instructions=_check_type(
                overrides.get("instructions", session.get("instructions")) or "", str, "a string", p + "instructions"
            ),
            tools=tools,
            tool_choice=_check_tool_choice(
                overrides.get("tool_choice", session.get("tool_choice", "auto")), tools, p + "tool_choice"
            ),
            max_output_tokens=_check_max_tokens(
                overrides.get("max_output_tokens", session.get("max_output_tokens", "inf")), p + "max_output_tokens"
            ),
            metadata=metadata,
            in_conversation=conversation == "auto",
            context=self._response_context(overrides.get("input")),
            output_format=output.get("format") or {"type": "audio/pcm", "rate": 44100},
            voice=output.get("voice", DEFAULT_VOICE),
            words=self._emulator_words(metadata),
        )

    def _response_context(self, input_items: Any) -> list[Json]:
        """The items a response reads: the conversation, or the response's own `input`."""
        if input_items is None:
            return list(self._items)
        if not isinstance(input_items, list) or not all(isinstance(i, dict) for i in input_items):
            raise _ClientError("invalid_type", "'response.input' must be a list of items.", "response.input")
        context = []
        for i, item in enumerate(input_items):
            if item.get("type") == "item_reference":
                reference = _require(item, "id", str, "a string", prefix=f"response.input[{i}].")
                context.append(self._items[self._index(reference, f"response.input[{i}].id")])
            else:
                context.append(item)
        return context

    @staticmethod
    def _emulator_words(metadata: dict[str, str] | None) -> int | None:
        raw = (metadata or {}).get("emulator_words")
        if raw is None:
            return None
        if not raw.strip().isdigit() or int(raw) > 1_000_000:
            raise _ClientError(
                "invalid_value",
                "'response.metadata.emulator_words' must be a whole number of words up to 1000000.",
                "response.metadata.emulator_words",
            )
        return int(raw)

    def _plan(self, params: _ResponseParams) -> _Plan:
        """Decide the answer from the conversation: deterministic by design."""
        trigger = next(
            (
                item
                for item in reversed(params.context)
                if item.get("type") == "function_call_output"
                or (item.get("type") == "message" and item.get("role") == "user")
            ),
            None,
        )
        if trigger is None:
            text = GREETING
        elif trigger["type"] == "function_call_output":
            text = f"The tool answered: {trigger.get('output', '')}."
        else:
            said = message_text(trigger)
            tool = choose_tool(params.tools, params.tool_choice, said)
            if tool is not None:
                return _Plan(kind="function_call", tool_name=tool["name"], arguments=tool_arguments(tool, said))
            text = f'You said: "{said}".'
        words = text.split()
        if params.words is not None:
            words = stretch(words, params.words)
        limit = params.max_output_tokens
        if limit is not None and len(words) > limit:
            return _Plan(kind="message", words=words[:limit], limited=True)
        return _Plan(kind="message", words=words)

    async def _start_response(self, params: _ResponseParams) -> None:
        active = self._response
        if active is not None:
            if active.cancel_reason is None:
                raise _ClientError(
                    "conversation_already_has_active_response",
                    f"Response '{active.id}' is still in progress: wait for response.done or cancel it.",
                )
            # It is being cancelled: its response.done goes out before the new response.created.
            if active.task is not None:
                await asyncio.wait({active.task})
        plan = self._plan(params)
        input_text = count_tokens(params.instructions) + sum(item_tokens(item) for item in params.context)
        input_audio = sum(self._audio[i["id"]].ms // 100 for i in params.context if i.get("id") in self._audio)
        response = _Response(
            id=self._ids.next("resp"), params=params, input_text_tokens=input_text, input_audio_tokens=input_audio
        )
        self._response = response
        response.task = asyncio.create_task(self._stream(response, self._response_events(response, plan)))
        self._streams.add(response.task)
        response.task.add_done_callback(self._streams.discard)

    async def _stream(self, response: _Response, events: Iterator[Event]) -> None:
        """Send a response's events on the pace schedule, stopping early when it is cancelled."""
        response.started = asyncio.get_running_loop().time()
        try:
            number = 0
            # Wait, then make the next event: the generator's state changes happen right before their event is sent.
            while await self._wait_turn(response, number):
                event = next(events, None)
                if event is None:
                    return
                type_, fields = event
                if type_ == "response.done":
                    # Free the slot first: a client that sees response.done may create the next one at once.
                    self._response = None
                await self._emit(type_, **fields)
                number += 1
            self._finish(response, "cancelled", {"type": "cancelled", "reason": response.cancel_reason})
            self._response = None
            await self._emit("response.done", response=self._response_object(response))
        except ConnectionClosed:
            pass
        except Exception:
            logger.exception("emulator failed while streaming a response")
        finally:
            if self._response is response:
                self._response = None

    async def _wait_turn(self, response: _Response, number: int) -> bool:
        """Wait until event `number` is due (`number / pace` s after the start: a schedule, not a drift).

        False when the response was cancelled meanwhile.
        """
        loop = asyncio.get_running_loop()
        due = response.started + number / self._pace if self._pace > 0 else 0.0
        if due <= loop.time() or response.cancel_reason is not None:
            await asyncio.sleep(0)  # as fast as possible, but let client events (a cancel) in
        else:
            waiter: asyncio.Future[None] = loop.create_future()
            response.waiter = waiter
            timer = loop.call_at(due, _wake, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                response.waiter = None
        return response.cancel_reason is None

    def _finish(self, response: _Response, status: str, details: Json | None) -> None:
        response.status = status
        response.status_details = details
        for item in response.output:
            if item.get("status") == "in_progress":
                item["status"] = "incomplete"

    def _response_events(self, response: _Response, plan: _Plan) -> Iterator[Event]:
        """All events of one response, lazily.

        State changes sit just before the `yield` of their event: the stream sends each event as soon as it is
        made, so a cancelled response leaves exactly what the client was told.
        """
        yield "response.created", {"response": self._response_object(response)}
        if plan.kind == "function_call":
            yield from self._function_call_events(response, plan)
        else:
            yield from self._message_events(response, plan, audio="audio" in response.params.modalities)
        if plan.limited:
            self._finish(response, "incomplete", {"type": "incomplete", "reason": "max_output_tokens"})
        else:
            self._finish(response, "completed", None)
        yield "response.done", {"response": self._response_object(response)}

    def _output_item(self, response: _Response, item: Json) -> Iterator[Event]:
        """A new output item: in the response, and in the conversation unless out of band."""
        response.output.append(item)
        yield (
            "response.output_item.added",
            {"response_id": response.id, "output_index": len(response.output) - 1, "item": item},
        )
        if response.params.in_conversation:
            previous = self._insert(item)
            yield "conversation.item.added", {"previous_item_id": previous, "item": item}

    def _output_item_done(self, response: _Response, item: Json, output_index: int) -> Iterator[Event]:
        yield "response.output_item.done", {"response_id": response.id, "output_index": output_index, "item": item}
        if response.params.in_conversation and any(existing is item for existing in self._items):
            position = next(i for i, existing in enumerate(self._items) if existing is item)
            previous = self._items[position - 1]["id"] if position > 0 else None
            yield "conversation.item.done", {"previous_item_id": previous, "item": item}

    def _message_events(self, response: _Response, plan: _Plan, *, audio: bool) -> Iterator[Event]:
        item_id = self._new_item_id()
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "in_progress",
            "role": "assistant",
            "content": [],
        }
        output_index = len(response.output)
        yield from self._output_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "content_index": 0}
        key, part_type = ("transcript", "audio") if audio else ("text", "text")
        content = {"type": "output_audio" if audio else "output_text", key: ""}
        item["content"].append(content)
        rate = int(response.params.output_format.get("rate") or 44100)
        if audio:
            self._audio[item_id] = _StoredAudio(rate=rate, samples=0)
        yield "response.content_part.added", {**where, "part": {"type": part_type, key: ""}}
        for number, word in enumerate(plan.words):
            delta = word if number == len(plan.words) - 1 else word + " "
            content[key] += delta
            response.text_tokens += 1
            if audio:
                yield "response.output_audio_transcript.delta", {**where, "delta": delta}
                # ~60 ms of voice per word, sent right after the word's transcript.
                self._audio[item_id].samples += samples_per_word(rate)
                response.audio_samples += samples_per_word(rate)
                yield "response.output_audio.delta", {**where, "delta": word_tone_b64(rate)}
            else:
                yield "response.output_text.delta", {**where, "delta": delta}
        if audio:
            yield "response.output_audio.done", where
            yield "response.output_audio_transcript.done", {**where, "transcript": content[key]}
        else:
            yield "response.output_text.done", {**where, "text": content[key]}
        yield "response.content_part.done", {**where, "part": {"type": part_type, key: content[key]}}
        item["status"] = "incomplete" if plan.limited else "completed"
        yield from self._output_item_done(response, item, output_index)

    def _function_call_events(self, response: _Response, plan: _Plan) -> Iterator[Event]:
        item_id = self._new_item_id()
        call_id = self._ids.next("call")
        item: Json = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "name": plan.tool_name,
            "call_id": call_id,
            "arguments": "",
        }
        output_index = len(response.output)
        yield from self._output_item(response, item)
        where = {"response_id": response.id, "item_id": item_id, "output_index": output_index, "call_id": call_id}
        for chunk in split_evenly(plan.arguments, 3):
            item["arguments"] += chunk
            response.text_tokens += count_tokens(chunk)
            yield "response.function_call_arguments.delta", {**where, "delta": chunk}
        yield (
            "response.function_call_arguments.done",
            {**where, "name": plan.tool_name, "arguments": plan.arguments},
        )
        item["status"] = "completed"
        yield from self._output_item_done(response, item, output_index)

    def _response_object(self, response: _Response) -> Json:
        params = response.params
        done = response.status != "in_progress"
        return {
            "id": response.id,
            "object": "realtime.response",
            "status": response.status,
            "status_details": response.status_details,
            "output": response.output,
            "conversation_id": self._conversation_id if params.in_conversation else None,
            "output_modalities": params.modalities,
            "max_output_tokens": params.max_output_tokens or "inf",
            "audio": {"output": {"format": params.output_format, "voice": params.voice}},
            "metadata": params.metadata,
            "usage": self._usage(response) if done else None,
        }

    @staticmethod
    def _usage(response: _Response) -> Json:
        rate = int(response.params.output_format.get("rate") or 44100)
        # Deterministic counts: a word is a token; a token of audio is 50 ms out, 100 ms in.
        out_audio = response.audio_samples * 1000 // rate // 50
        out_text = response.text_tokens
        in_text, in_audio = response.input_text_tokens, response.input_audio_tokens
        return {
            "total_tokens": in_text + in_audio + out_text + out_audio,
            "input_tokens": in_text + in_audio,
            "output_tokens": out_text + out_audio,
            "input_token_details": {
                "text_tokens": in_text,
                "audio_tokens": in_audio,
                "image_tokens": 0,
                "cached_tokens": 0,
                "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
            },
            "output_token_details": {"text_tokens": out_text, "audio_tokens": out_audio},
        }


# --- the server --------------------------------------------------------------------------------------------------


class EmulatorServer:
    """A realtime WebSocket server on a local port that answers like Yandex, offline and deterministically."""

    def __init__(
        self, *, events_per_second: float = 0.0, session_lifetime_s: float = 300.0, sample_rate: int = 44100
    ) -> None:
        # events_per_second: pace of each response's events (0: as fast as possible).
        # session_lifetime_s: then `error` session_expired and close 1000 (0: no limit).
        # sample_rate: input and output PCM rate of new sessions (Yandex uses 44100).
        self.events_per_second = events_per_second
        self.session_lifetime_s = session_lifetime_s
        self.sample_rate = sample_rate
        self._server: Server | None = None
        self._url = ""
        self._sessions = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on host:port (0: any free port); returns the ws:// URL to connect to."""
        if self._server is not None:
            raise RuntimeError("The emulator is already running.")
        self._server = await serve(
            self._handle,
            host,
            port,
            process_request=self._check_request,
            max_size=MAX_FRAME_BYTES,
            compression=None,  # loopback: compression only costs CPU
        )
        self._url = self._url_of(next(iter(self._server.sockets)).getsockname())
        return self._url

    @staticmethod
    def _url_of(sockname: Any) -> str:
        address, port = sockname[0], sockname[1]
        # A wildcard address is fine to listen on but not to connect to.
        address = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(address, address)
        if ":" in address:
            address = f"[{address}]"
        return f"ws://{address}:{port}/v1/realtime"

    @property
    def url(self) -> str:
        if not self._url:
            raise RuntimeError("The emulator is not running: call start() first.")
        return self._url

    async def stop(self) -> None:
        """Close the server and every connection; returns when all handlers have ended."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await server.wait_closed()
        self._url = ""

    async def serve_forever(self) -> None:
        """Serve until cancelled (Ctrl-C in the management command)."""
        if self._server is None:
            await self.start()
        assert self._server is not None
        try:
            await self._server.serve_forever()
        finally:
            await self.stop()

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        try:
            connection_options(request.path, pace=self.events_per_second, lifetime=self.session_lifetime_s)
        except ValueError as exc:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        pace, lifetime = connection_options(
            ws.request.path, pace=self.events_per_second, lifetime=self.session_lifetime_s
        )
        self._sessions += 1
        stamp = parse_qs(urlsplit(ws.request.path).query).get("stamp", ["0"])[-1] == "1"
        connection = _Connection(
            ws,
            session_id=f"sess_{self._sessions:04d}",
            pace=pace,
            lifetime=lifetime,
            rate=self.sample_rate,
            stamp=stamp,
        )
        await connection.run()
