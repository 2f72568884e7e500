"""The session: its defaults, the checks of what a client sets, and `session.update`."""

from __future__ import annotations

import copy
from typing import Any

from .protocol import ClientError, Emit, Json, check_type, require
from .tools import check_tool_choice, check_tools

MODEL = "speech-realtime-250923"
DEFAULT_VOICE = "marina"
DEFAULT_ROLE = "good"
DEFAULT_LANGUAGES = ("ru-RU",)
# SpeechKit voices (playground/realtime/dialect/voices.py lists the same; a test keeps them equal).
VOICES = frozenset(
    {"marina", "dasha", "alena", "filipp", "jane", "omazh", "zahar", "ermil", "madirus", "alexander", "kirill"}
    | {"anton", "lera", "masha", "julia"}
)
# The fields a session has, as Yandex documents it (plus OpenAI's GA fields it shares): anything else in a
# session.update is refused, naming it, as OpenAI's own server does. `id`, `object` and `model` are the
# server's: a client echoing its session back may send them (they change nothing).
KNOWN_FIELDS: dict[str, frozenset[str]] = {
    "session": frozenset(
        {"type", "id", "object", "model", "output_modalities", "instructions", "tools", "tool_choice"}
        | {"max_output_tokens", "temperature", "audio"}
    ),
    "session.audio": frozenset({"input", "output"}),
    "session.audio.input": frozenset({"format", "turn_detection", "transcription", "noise_reduction", "languages"}),
    "session.audio.output": frozenset({"format", "voice", "speed", "role"}),
    "session.audio.input.format": frozenset({"type", "rate"}),
    "session.audio.output.format": frozenset({"type", "rate"}),
    "session.audio.input.turn_detection": frozenset(
        {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response"}
    ),
}


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


def check_modalities(value: Any, param: str) -> list[str]:
    if not isinstance(value, list) or len(value) != 1 or value[0] not in ("text", "audio"):
        raise ClientError("invalid_value", f'\'{param}\' must be ["text"] or ["audio"].', param)
    return value


def check_max_tokens(value: Any, param: str) -> int | None:
    if value == "inf":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4096:
        raise ClientError("invalid_value", f"'{param}' must be an integer from 1 to 4096, or \"inf\".", param)
    return value


def check_format(value: Any, param: str, rate: int) -> None:
    """Yandex speaks PCM16 at one rate (44.1 kHz; it may answer at it whatever was asked): another one is
    refused here, so a client that does not convert finds out at once."""
    if value is None:
        return
    check_type(value, dict, "an object", param)
    if value.get("type", "audio/pcm") != "audio/pcm":
        raise ClientError(
            "invalid_value", "The emulator speaks PCM16 only: the type must be audio/pcm.", param + ".type"
        )
    asked = value.get("rate")
    if asked is not None and (isinstance(asked, bool) or not isinstance(asked, int) or asked != rate):
        raise ClientError(
            "invalid_value", f"The rate must be {rate} Hz: audio is PCM16 at {rate} Hz, both ways.", param + ".rate"
        )


def check_voice(value: Any, param: str) -> None:
    if value is not None and value not in VOICES:
        raise ClientError("invalid_value", f"Unknown voice {value!r}: use one of {', '.join(sorted(VOICES))}.", param)


def check_known(patch: Json, param: str = "session") -> None:
    """Refuse a field Yandex's session does not have, naming it (where the session's shape is fixed)."""
    known = KNOWN_FIELDS.get(param)
    if known is None or not isinstance(patch, dict):
        return
    for key, value in patch.items():
        if key not in known:
            raise ClientError("unknown_parameter", f"Unknown parameter: '{param}.{key}'.", f"{param}.{key}")
        check_known(value, f"{param}.{key}")


def _check_turn_detection(value: Any, param: str) -> None:
    if value is None:
        return
    check_type(value, dict, "an object or null", param)
    if value.get("type") != "server_vad":
        raise ClientError("invalid_value", 'Turn detection must be {"type": "server_vad", …} or null.', param)
    threshold = value.get("threshold")
    if threshold is not None and (not isinstance(threshold, int | float) or not 0 <= threshold <= 1):
        raise ClientError("invalid_value", "The threshold must be a number from 0 to 1.", param + ".threshold")
    for name in ("prefix_padding_ms", "silence_duration_ms"):
        ms = value.get(name)
        if ms is not None and (isinstance(ms, bool) or not isinstance(ms, int) or ms < 0):
            raise ClientError("invalid_value", f"'{name}' must be a whole number of ms, 0 or more.", f"{param}.{name}")


def check_session(session: Json, rate: int) -> None:
    """Refuse a merged session the emulator could not honour, naming the field."""
    if session.get("type") != "realtime":
        raise ClientError("invalid_value", "Only realtime sessions are supported.", "session.type")
    check_modalities(session.get("output_modalities"), "session.output_modalities")
    check_type(session.get("instructions") or "", str, "a string", "session.instructions")
    tools = check_tools(session.get("tools") or [], "session.tools")
    check_tool_choice(session.get("tool_choice", "auto"), tools, "session.tool_choice")
    check_max_tokens(session.get("max_output_tokens", "inf"), "session.max_output_tokens")
    audio = check_type(session.get("audio") or {}, dict, "an object", "session.audio")
    audio_in = check_type(audio.get("input") or {}, dict, "an object", "session.audio.input")
    audio_out = check_type(audio.get("output") or {}, dict, "an object", "session.audio.output")
    check_format(audio_in.get("format"), "session.audio.input.format", rate)
    check_format(audio_out.get("format"), "session.audio.output.format", rate)
    check_voice(audio_out.get("voice"), "session.audio.output.voice")
    _check_turn_detection(audio_in.get("turn_detection"), "session.audio.input.turn_detection")


class SessionConfig:
    """A connection's session: what it starts with and what `session.update` makes of it."""

    def __init__(self, session_id: str, rate: int, emit: Emit) -> None:
        self._emit = emit
        self.rate = rate  # the one PCM rate of this connection, both ways
        self.session = default_session(session_id, rate)

    async def on_session_update(self, event: Json) -> None:
        patch = require(event, "session", dict, "an object")
        # id, object and model are the server's; a client echoing its session back may send them.
        check_known(patch)
        patch = {k: v for k, v in patch.items() if k not in ("id", "object", "model")}
        merged = deep_merge(self.session, patch)
        check_session(merged, self.rate)
        self.session = merged
        await self._emit("session.updated", session=self.session)

    def audio_config(self, side: str) -> Json:
        config = (self.session.get("audio") or {}).get(side) or {}
        return config if isinstance(config, dict) else {}

    @property
    def input_rate(self) -> int:
        fmt = self.audio_config("input").get("format") or {}
        return int(fmt.get("rate") or 44100)

    def ms(self, samples: int) -> int:
        return samples * 1000 // self.input_rate
