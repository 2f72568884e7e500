"""Schemas of the eleven client events, in the GA realtime protocol as Yandex speaks it.

The REST body of a client event is Yandex's REST form: `type`, an optional
`event_id`, then the event's own fields. The same schemas validate events sent
over the playground's WebSocket. Known structures refuse unknown fields, so a
typo comes back as an error naming it instead of silently doing nothing;
free-form parts (JSON schemas of tools, metadata) stay free.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import secrets
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

# Yandex documents 15 MiB as the most one append may carry.
MAX_AUDIO_APPEND_BYTES = 15 * 1024 * 1024


def _non_finite_at(value: Any, path: tuple[int | str, ...] = ()) -> tuple[int | str, ...] | None:
    """Where a NaN or an Infinity hides (Python's json reads them; JSON has neither), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _non_finite_at(item, (*path, key))
        if found is not None:
            return found
    return None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _finite_numbers(cls, data: Any) -> Any:
        # Python's json reads NaN and Infinity; free-form parts (tool parameters, tracing, …) would take one
        # and forward it as null. Refused instead, naming where.
        where = _non_finite_at(data)
        if where is not None:
            raise PydanticCustomError(
                "not_json", "NaN or Infinity, which JSON does not have", {"where": field_path(where)}
            )
        return data


# --- session -----------------------------------------------------------------


class AudioFormat(Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] = "audio/pcm"
    rate: int | None = Field(default=None, ge=8000, le=96000, description="Hz; Yandex uses 44100")


class ServerVad(Strict):
    type: Literal["server_vad"]
    threshold: float | None = Field(default=None, ge=0, le=1)
    prefix_padding_ms: int | None = Field(default=None, ge=0)
    silence_duration_ms: int | None = Field(default=None, ge=0)
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: int | None = Field(default=None, ge=0)


class SemanticVad(Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


TurnDetection = Annotated[ServerVad | SemanticVad, Field(discriminator="type")]


class Transcription(Strict):
    model: str | None = None
    language: str | None = None
    prompt: str | None = None


class NoiseReduction(Strict):
    type: Literal["near_field", "far_field"]


class AudioInput(Strict):
    format: AudioFormat | None = None
    turn_detection: TurnDetection | None = None
    transcription: Transcription | None = None
    noise_reduction: NoiseReduction | None = None
    languages: list[str] | None = Field(default=None, description='Yandex extension, e.g. ["ru-RU"]')


class AudioOutput(Strict):
    format: AudioFormat | None = None
    voice: str | None = Field(default=None, description="SpeechKit voice: marina (default), dasha, alena, filipp, …")
    speed: float | None = Field(default=None, gt=0, le=4)
    role: str | None = Field(default=None, description="Yandex extension, e.g. good")


class SessionAudio(Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class FunctionTool(Strict):
    type: Literal["function"] = "function"
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class BuiltinTool(Strict):
    """Yandex's built-in tools; `file_search` takes the vector store id in `description`."""

    type: Literal["web_search", "file_search"]
    name: str | None = None
    description: str | None = None


class McpTool(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: Literal["mcp"]
    server_label: str


Tool = Annotated[FunctionTool | BuiltinTool | McpTool, Field(discriminator="type")]


class ToolChoiceFunction(Strict):
    type: Literal["function"]
    name: str


ToolChoice = Literal["auto", "none", "required"] | ToolChoiceFunction

MaxTokens = Annotated[int, Field(ge=1)] | Literal["inf"]
Modalities = list[Literal["text", "audio"]]


class SessionConfig(Strict):
    type: Literal["realtime"] = "realtime"
    model: str | None = None
    instructions: str | None = None
    output_modalities: Modalities | None = None
    audio: SessionAudio | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    max_output_tokens: MaxTokens | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    include: list[str] | None = None
    tracing: Any = None
    truncation: Any = None
    prompt: Any = None


# --- conversation items --------------------------------------------------------


class ContentPart(Strict):
    type: Literal["input_text", "input_audio", "input_image", "output_text", "output_audio", "text", "audio"]
    text: str | None = None
    audio: str | None = None
    transcript: str | None = None
    image_url: str | None = None


class MessageItem(Strict):
    type: Literal["message"]
    id: str | None = None
    object: Literal["realtime.item"] | None = None
    role: Literal["user", "assistant", "system"]
    content: list[ContentPart]
    status: Literal["completed", "incomplete", "in_progress"] | None = None


class FunctionCallItem(Strict):
    type: Literal["function_call"]
    id: str | None = None
    object: Literal["realtime.item"] | None = None
    call_id: str | None = None
    name: str
    arguments: str
    status: Literal["completed", "incomplete", "in_progress"] | None = None


class FunctionCallOutputItem(Strict):
    type: Literal["function_call_output"]
    id: str | None = None
    object: Literal["realtime.item"] | None = None
    call_id: str
    output: str
    status: Literal["completed", "incomplete", "in_progress"] | None = None


Item = Annotated[MessageItem | FunctionCallItem | FunctionCallOutputItem, Field(discriminator="type")]


class ItemReference(Strict):
    """An item of the conversation, by id, in a response's own `input`."""

    type: Literal["item_reference"]
    id: str = Field(min_length=1)


ResponseInputItem = Annotated[
    MessageItem | FunctionCallItem | FunctionCallOutputItem | ItemReference, Field(discriminator="type")
]


class ResponseAudioOutput(Strict):
    format: AudioFormat | None = None
    voice: str | None = None


class ResponseAudio(Strict):
    output: ResponseAudioOutput | None = None


class ResponseConfig(Strict):
    output_modalities: Modalities | None = None
    instructions: str | None = None
    audio: ResponseAudio | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    max_output_tokens: MaxTokens | None = None
    conversation: Literal["auto", "none"] | str | None = None
    metadata: dict[str, str] | None = None
    input: list[ResponseInputItem] | None = None
    prompt: Any = None


# --- the eleven client events ---------------------------------------------------


class ClientEvent(Strict):
    event_id: str | None = Field(default=None, max_length=200, description="Generated when missing.")

    @property
    def event_type(self) -> str:
        return str(type(self).model_fields["type"].default)


class SessionUpdate(ClientEvent):
    """Update the session's configuration; the server answers `session.updated`."""

    type: Literal["session.update"] = "session.update"
    session: SessionConfig


class InputAudioBufferAppend(ClientEvent):
    """Append base64 PCM16 audio to the input buffer (at most 15 MiB per event)."""

    type: Literal["input_audio_buffer.append"] = "input_audio_buffer.append"
    audio: str = Field(description="base64 of PCM16 mono at the session's input rate")

    @field_validator("audio")
    @classmethod
    def _base64(cls, value: str) -> str:
        # Checked here rather than upstream, so a bad append is refused before it is recorded.
        if len(value) * 3 // 4 > MAX_AUDIO_APPEND_BYTES:
            # Its own error type: the API answers 413 for it, not 422.
            raise PydanticCustomError("too_large", "audio is over 15 MiB (Yandex's limit per append)")
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("audio is not valid base64") from None
        return value


class InputAudioBufferCommit(ClientEvent):
    """Commit the input buffer as a user message."""

    type: Literal["input_audio_buffer.commit"] = "input_audio_buffer.commit"


class InputAudioBufferClear(ClientEvent):
    """Clear the input buffer (Yandex's docs: not supported yet)."""

    type: Literal["input_audio_buffer.clear"] = "input_audio_buffer.clear"


class ConversationItemCreate(ClientEvent):
    """Add an item (message, function call or its output) to the conversation."""

    type: Literal["conversation.item.create"] = "conversation.item.create"
    previous_item_id: str | None = None
    item: Item


class ConversationItemRetrieve(ClientEvent):
    """Ask for an item as the server holds it."""

    type: Literal["conversation.item.retrieve"] = "conversation.item.retrieve"
    item_id: str = Field(min_length=1)


class ConversationItemTruncate(ClientEvent):
    """Cut an assistant audio item at what was actually played."""

    type: Literal["conversation.item.truncate"] = "conversation.item.truncate"
    item_id: str = Field(min_length=1)
    content_index: int = Field(ge=0)
    audio_end_ms: int = Field(ge=0)


class ConversationItemDelete(ClientEvent):
    """Remove an item from the conversation."""

    type: Literal["conversation.item.delete"] = "conversation.item.delete"
    item_id: str = Field(min_length=1)


class ResponseCreate(ClientEvent):
    """Ask for a response, optionally overriding session settings for this one."""

    type: Literal["response.create"] = "response.create"
    response: ResponseConfig | None = None


class ResponseCancel(ClientEvent):
    """Stop the response in progress."""

    type: Literal["response.cancel"] = "response.cancel"
    response_id: str | None = None


class OutputAudioBufferClear(ClientEvent):
    """Drop audio not yet played (Yandex's docs: not supported yet)."""

    type: Literal["output_audio_buffer.clear"] = "output_audio_buffer.clear"


CLIENT_EVENTS: dict[str, type[ClientEvent]] = {
    cls.model_fields["type"].default: cls
    for cls in (
        SessionUpdate,
        InputAudioBufferAppend,
        InputAudioBufferCommit,
        InputAudioBufferClear,
        ConversationItemCreate,
        ConversationItemRetrieve,
        ConversationItemTruncate,
        ConversationItemDelete,
        ResponseCreate,
        ResponseCancel,
        OutputAudioBufferClear,
    )
}

AnyClientEvent = Annotated[
    SessionUpdate
    | InputAudioBufferAppend
    | InputAudioBufferCommit
    | InputAudioBufferClear
    | ConversationItemCreate
    | ConversationItemRetrieve
    | ConversationItemTruncate
    | ConversationItemDelete
    | ResponseCreate
    | ResponseCancel
    | OutputAudioBufferClear,
    Field(discriminator="type"),
]
_any_client_event: TypeAdapter[ClientEvent] = TypeAdapter(AnyClientEvent)


class ClientEventError(ValueError):
    """A client event the playground refuses; `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None, status: int = 422) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status


def new_event_id() -> str:
    return "evt_" + secrets.token_hex(10)


# Parts of pydantic's error locations that name a union member, not a field.
_UNION_TAGS = frozenset(
    {"int", "str", "float", "bool", "none", "list", "dict", "message", "function_call", "function_call_output"}
    | {"item_reference"}
    | {"function", "web_search", "file_search", "mcp", "server_vad", "semantic_vad"}
)
_FIELD_NAME = re.compile(r"[a-z_][a-z0-9_]*")


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's loc as people write it: `session.tools[0].name`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _FIELD_NAME.fullmatch(part) and part not in _UNION_TAGS:
            out += ("." if out else "") + part
        # else: a union member's tag (`constrained-int`, `literal['inf']`, `response.create`, …)
    return out or "body"


def error_field(loc: tuple[int | str, ...], err: Any) -> str:
    """The field an error names: its location, made precise for a NaN found inside a structure."""
    field = field_path(loc)
    if err.get("type") == "not_json":
        where = str(err.get("ctx", {}).get("where", ""))
        if field == "body":
            return where
        return field + where if where.startswith("[") else f"{field}.{where}"
    return field


def describe_validation_error(exc: ValidationError) -> list[dict[str, str]]:
    return [{"field": error_field(tuple(err["loc"]), err), "message": err["msg"]} for err in exc.errors()]


def parse_client_event(data: Any) -> ClientEvent:
    """Validate one client event (a dict with `type`); raises ClientEventError."""
    if not isinstance(data, dict):
        raise ClientEventError("A client event must be a JSON object.", field="body")
    kind = data.get("type")
    if kind not in CLIENT_EVENTS:
        raise ClientEventError(
            f"Unknown client event type {kind!r}; valid types: {', '.join(CLIENT_EVENTS)}.", field="type"
        )
    try:
        return _any_client_event.validate_python(data)
    except ValidationError as exc:
        errors = describe_validation_error(exc)
        first = errors[0]
        status = 413 if any(e["type"] == "too_large" for e in exc.errors()) else 422
        raise ClientEventError(f"{first['field']}: {first['message']}", field=first["field"], status=status) from None


def compact_json(data: Any) -> str:
    """JSON as the wire carries it: no spaces, non-ASCII kept as is."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def event_to_wire(event: ClientEvent) -> dict[str, Any]:
    """The event as sent upstream: unset fields left out (an explicit null stays: `turn_detection: null`
    means "no VAD"), event_id filled in."""
    body = event.model_dump(mode="json", exclude_unset=True)
    body["type"] = event.event_type
    body["event_id"] = event.event_id or new_event_id()
    # Keep `type` and `event_id` first, as the protocol's examples do.
    return {"type": body.pop("type"), "event_id": body.pop("event_id"), **body}
