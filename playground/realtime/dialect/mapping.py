"""Settings between the dialects: an OpenAI session or response config as Yandex gets it, and back.

Every field OpenAI's SDKs send is either mapped (Yandex gets its own way of saying it, the client
sees what it asked for), served here (nothing to send: `tracing`, the transcription `model`), or
dropped with a Problem the client gets as an `error` event naming it while the rest applies.
A value that cannot be served at all (an unknown field, `session.type: "transcription"`, an audio
encoding nobody speaks) refuses the whole event: Refused. docs/openai-compat.md is the table.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from .audio import G711_RATE, MAX_RATE, MIN_RATE, OPENAI_PCM_RATE, PCM, PCMA, PCMU, AudioFormat
from .voices import VoiceMap

DROPPED = "unsupported_parameter"  # the code of a dropped field's error event

# semantic_vad's eagerness as server VAD's silence before the turn ends (ms): OpenAI's low, medium
# and high wait up to 8, 4 and 2 s for a semantic end of turn; server VAD has only silence to go on,
# so these keep the order (low waits longest) around Yandex's default of 500 ms.
EAGERNESS_SILENCE_MS = {"low": 1000, "medium": 500, "auto": 500, "high": 300}
SERVER_VAD_KEYS = frozenset(
    {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response", "interrupt_response"}
)
SEMANTIC_VAD_KEYS = frozenset({"type", "eagerness", "create_response", "interrupt_response"})
# OpenAI's transcription language is ISO 639-1; Yandex's recognizer takes locales (audio.input.languages).
LOCALES = {
    "ru": "ru-RU",
    "en": "en-US",
    "kk": "kk-KZ",
    "uz": "uz-UZ",
    "de": "de-DE",
    "fr": "fr-FR",
    "es": "es-ES",
    "it": "it-IT",
    "pt": "pt-PT",
    "tr": "tr-TR",
}
_LOCALE = re.compile(r"[a-z]{2}-[A-Z]{2}")


@dataclass(frozen=True, slots=True)
class Problem:
    """A field of a client event the upstream does not get, and why (an OpenAI `error` names `param`)."""

    param: str
    message: str
    code: str = DROPPED


class Refused(Exception):
    """The event cannot be served: nothing of it is forwarded."""

    def __init__(self, param: str, message: str, code: str = "invalid_value") -> None:
        super().__init__(message)
        self.problem = Problem(param, message, code)


def _object(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise Refused(param, f"{param} must be an object.", "invalid_type")
    return value


def _no_unknown(obj: dict[str, Any], known: frozenset[str] | set[str], param: str) -> None:
    for key in obj:
        if key not in known:
            raise Refused(f"{param}.{key}", f"Unknown parameter: '{param}.{key}'.", "unknown_parameter")


def drop(problems: list[Problem], param: str, why: str) -> None:
    problems.append(Problem(param, f"'{param}' was dropped: {why} The rest of the event applies."))


@dataclass
class Mapped:
    """A client config as the upstream gets it, and what the client asked for in its own terms."""

    upstream: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # What the client set and is served other than by the same field upstream: shown back as asked.
    shown: dict[str, Any] = field(default_factory=dict)
    input_format: AudioFormat | None = None
    output_format: AudioFormat | None = None
    voice: tuple[str, str] | None = None  # (the client's name, the Yandex voice)


def client_format(value: Any, param: str, problems: list[Problem]) -> AudioFormat:
    """An OpenAI audio format: `audio/pcm` (24 kHz in OpenAI's types; any rate 8-96 kHz is served)."""
    obj = _object(value, param)
    _no_unknown(obj, {"type", "rate"}, param)
    kind = obj.get("type", PCM)
    rate = obj.get("rate")
    if kind == PCM:
        if rate is None:
            return AudioFormat(PCM, OPENAI_PCM_RATE)
        if isinstance(rate, bool) or not isinstance(rate, int) or not MIN_RATE <= rate <= MAX_RATE:
            raise Refused(f"{param}.rate", f"'{param}.rate' must be a whole number of Hz from 8000 to 96000.")
        return AudioFormat(PCM, rate)
    if kind in (PCMU, PCMA):
        if rate is not None and rate != G711_RATE:
            drop(problems, f"{param}.rate", f"{kind} is 8000 Hz, always.")
        return AudioFormat(kind, G711_RATE)
    raise Refused(f"{param}.type", f"'{param}.type' must be {PCM}, {PCMU} or {PCMA}.")


def turn_detection(value: Any, param: str, problems: list[Problem]) -> dict[str, Any] | None:
    """OpenAI's turn detection as Yandex's server VAD (semantic_vad's eagerness as a silence length)."""
    if value is None:
        return None
    obj = _object(value, param)
    kind = obj.get("type")
    if kind == "server_vad":
        _no_unknown(obj, SERVER_VAD_KEYS | {"idle_timeout_ms"}, param)
        if obj.get("idle_timeout_ms") is not None:
            drop(problems, f"{param}.idle_timeout_ms", "Yandex's server VAD has no idle timeout.")
        return {k: v for k, v in obj.items() if k in SERVER_VAD_KEYS}
    if kind == "semantic_vad":
        _no_unknown(obj, SEMANTIC_VAD_KEYS, param)
        eagerness = obj.get("eagerness") or "auto"
        if eagerness not in EAGERNESS_SILENCE_MS:
            raise Refused(f"{param}.eagerness", f"'{param}.eagerness' must be low, medium, high or auto.")
        upstream: dict[str, Any] = {"type": "server_vad", "silence_duration_ms": EAGERNESS_SILENCE_MS[eagerness]}
        upstream.update({k: obj[k] for k in ("create_response", "interrupt_response") if k in obj})
        return upstream
    raise Refused(f"{param}.type", f"'{param}.type' must be server_vad or semantic_vad (or turn detection null).")


def _locale(language: Any) -> str | None:
    if isinstance(language, str):
        if _LOCALE.fullmatch(language):
            return language
        return LOCALES.get(language.lower())
    return None


def transcription(value: Any, param: str, problems: list[Problem]) -> list[str] | None:
    """Input transcription: Yandex's recognizer transcribes on its own; a language becomes its locale
    (`audio.input.languages`, returned). The OpenAI transcription model names nothing at Yandex."""
    if value is None:
        return None
    obj = _object(value, param)
    _no_unknown(obj, {"model", "language", "languages", "prompt", "keywords", "delay"}, param)
    for key in ("prompt", "keywords", "delay"):
        if obj.get(key) not in (None, "", []):
            drop(problems, f"{param}.{key}", "Yandex's recognizer takes no transcription hints.")
    asked = [obj["language"]] if obj.get("language") else list(obj.get("languages") or [])
    locales = []
    for i, language in enumerate(asked):
        locale = _locale(language)
        where = f"{param}.language" if obj.get("language") else f"{param}.languages[{i}]"
        if locale is None:
            drop(problems, where, f"no Yandex locale is known for {language!r} (use e.g. 'ru' or 'ru-RU').")
        else:
            locales.append(locale)
    return locales or None


def _voice(value: Any, param: str, voices: VoiceMap, out: Mapped) -> str | None:
    yandex = voices.to_yandex(value)
    if yandex is None:
        what = "a custom voice" if isinstance(value, dict) else repr(value)
        drop(
            out.problems,
            param,
            f"Yandex has no voice for {what}: use one of {', '.join(voices.known())} "
            "(or map it with PLAYGROUND_VOICE_MAP).",
        )
        return None
    if isinstance(value, str):
        out.voice = (value, yandex)
    return yandex


def _audio_input(value: Any, param: str, out: Mapped) -> dict[str, Any]:
    obj = _object(value, param)
    _no_unknown(obj, {"format", "turn_detection", "transcription", "noise_reduction", "languages"}, param)
    upstream: dict[str, Any] = {}
    shown: dict[str, Any] = {}
    if "format" in obj:
        out.input_format = client_format(obj["format"], f"{param}.format", out.problems)
    if "turn_detection" in obj:
        upstream["turn_detection"] = turn_detection(obj["turn_detection"], f"{param}.turn_detection", out.problems)
        shown["turn_detection"] = copy.deepcopy(obj["turn_detection"])
    if "transcription" in obj:
        locales = transcription(obj["transcription"], f"{param}.transcription", out.problems)
        if locales:
            upstream["languages"] = locales
        shown["transcription"] = copy.deepcopy(obj["transcription"])
    if obj.get("noise_reduction") is not None:
        drop(out.problems, f"{param}.noise_reduction", "Yandex has no input noise reduction.")
    if "languages" in obj:  # Yandex's own field, for clients that know it
        upstream["languages"] = obj["languages"]
    if shown:
        out.shown.setdefault("audio", {})["input"] = shown
    return upstream


def _audio_output(value: Any, param: str, voices: VoiceMap, out: Mapped) -> dict[str, Any]:
    obj = _object(value, param)
    _no_unknown(obj, {"format", "voice", "speed", "role"}, param)
    upstream: dict[str, Any] = {k: obj[k] for k in ("speed", "role") if k in obj}  # `role`: Yandex's own field
    if "format" in obj:
        out.output_format = client_format(obj["format"], f"{param}.format", out.problems)
    if obj.get("voice") is not None:
        voice = _voice(obj["voice"], f"{param}.voice", voices, out)
        if voice is not None:
            upstream["voice"] = voice
    return upstream


def _tool_choice(value: Any, param: str, out: Mapped) -> Any:
    if isinstance(value, dict) and value.get("type") == "mcp":
        drop(out.problems, param, "Yandex cannot be made to call one MCP tool; it chooses ('auto').")
        return None
    return value


def _common(obj: dict[str, Any], param: str, out: Mapped) -> None:
    """The fields a session and a response share that are dropped or served here."""
    if obj.get("prompt") is not None:
        drop(out.problems, f"{param}.prompt", "prompt templates are stored at OpenAI; Yandex has none.")
    for key, why in (
        ("parallel_tool_calls", "Yandex decides how many tools to call."),
        ("reasoning", "Yandex's realtime model has no reasoning settings."),
    ):
        if obj.get(key) is not None:
            drop(out.problems, f"{param}.{key}", why)
    if "tool_choice" in obj:
        choice = _tool_choice(obj["tool_choice"], f"{param}.tool_choice", out)
        if choice is not None:
            out.upstream["tool_choice"] = choice


SESSION_KEYS = frozenset(
    {"type", "model", "instructions", "output_modalities", "audio", "tools", "tool_choice", "max_output_tokens"}
    | {"include", "prompt", "tracing", "truncation", "parallel_tool_calls", "reasoning"}
    | {"id", "object", "expires_at"}  # the server's own, when a client sends its session back
)


def session_to_upstream(session: Any, voices: VoiceMap) -> Mapped:
    """`session.update`'s session, OpenAI GA → Yandex. Raises Refused."""
    obj = _object(session, "session")
    _no_unknown(obj, SESSION_KEYS, "session")
    if obj.get("type", "realtime") != "realtime":
        raise Refused(
            "session.type",
            f"session.type {obj.get('type')!r} is not served: Yandex has realtime sessions only, not "
            "transcription sessions (transcribe within a realtime session: audio.input.transcription).",
            "unsupported_value",
        )
    out = Mapped()
    out.upstream["type"] = "realtime"
    for key in ("instructions", "output_modalities", "tools", "max_output_tokens"):
        if key in obj:
            out.upstream[key] = copy.deepcopy(obj[key])
    _common(obj, "session", out)
    # Served here: the recording is the trace; truncation "auto" is what Yandex does with a full context.
    for key in ("tracing", "prompt"):
        if key in obj and (key == "tracing" or obj[key] is None):
            out.shown[key] = copy.deepcopy(obj[key])
    truncation = obj.get("truncation")
    if truncation not in (None, "auto"):
        drop(out.problems, "session.truncation", "Yandex keeps its own context window (the same as 'auto').")
    elif "truncation" in obj:
        out.shown["truncation"] = truncation
    if obj.get("include"):
        drop(out.problems, "session.include", "Yandex gives no transcription logprobs.")
    elif "include" in obj:
        out.shown["include"] = obj["include"]
    audio = _object(obj.get("audio") or {}, "session.audio")
    _no_unknown(audio, {"input", "output"}, "session.audio")
    upstream_audio = {}
    if audio.get("input") is not None:
        upstream_audio["input"] = _audio_input(audio["input"], "session.audio.input", out)
    if audio.get("output") is not None:
        upstream_audio["output"] = _audio_output(audio["output"], "session.audio.output", voices, out)
    upstream_audio = {side: config for side, config in upstream_audio.items() if config}
    if upstream_audio:
        out.upstream["audio"] = upstream_audio
    return out


RESPONSE_KEYS = frozenset(
    {"output_modalities", "instructions", "audio", "tools", "tool_choice", "max_output_tokens"}
    | {"conversation", "metadata", "input", "prompt", "parallel_tool_calls", "reasoning"}
)


def response_to_upstream(response: Any, voices: VoiceMap, session_output: AudioFormat) -> Mapped:
    """`response.create`'s response, OpenAI GA → Yandex (its `input` items are the caller's). Raises Refused."""
    obj = _object(response, "response")
    _no_unknown(obj, RESPONSE_KEYS, "response")
    out = Mapped()
    for key in ("output_modalities", "instructions", "tools", "max_output_tokens", "conversation", "metadata"):
        if key in obj:
            out.upstream[key] = copy.deepcopy(obj[key])
    _common(obj, "response", out)
    audio = _object(obj.get("audio") or {}, "response.audio")
    _no_unknown(audio, {"output"}, "response.audio")
    output = _object(audio.get("output") or {}, "response.audio.output")
    _no_unknown(output, {"format", "voice"}, "response.audio.output")
    if output.get("format") is not None:
        fmt = client_format(output["format"], "response.audio.output.format", out.problems)
        if fmt != session_output:
            drop(
                out.problems,
                "response.audio.output.format",
                "one response cannot have an audio format of its own here: it comes in the session's "
                f"({session_output.type}, {session_output.rate} Hz); change that with session.update.",
            )
    if output.get("voice") is not None:
        voice = _voice(output["voice"], "response.audio.output.voice", voices, out)
        if voice is not None:
            out.upstream["audio"] = {"output": {"voice": voice}}
    return out


# --- back: what the client sees ------------------------------------------------------------------------------


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _side(audio: dict[str, Any], side: str) -> dict[str, Any]:
    config = audio.get(side)
    if not isinstance(config, dict):
        config = audio[side] = {}
    return config


def session_to_client(
    upstream: dict[str, Any],
    *,
    shown: dict[str, Any],
    input_format: AudioFormat,
    output_format: AudioFormat,
    voice_names: dict[str, str],
) -> dict[str, Any]:
    """The upstream's session object in OpenAI's terms, with what the client asked for."""
    view = copy.deepcopy(upstream)
    audio = view.get("audio")
    if not isinstance(audio, dict):
        audio = view["audio"] = {}
    audio_in, audio_out = _side(audio, "input"), _side(audio, "output")
    audio_in["format"] = input_format.as_openai()
    audio_out["format"] = output_format.as_openai()
    if isinstance(audio_out.get("voice"), str):
        audio_out["voice"] = voice_names.get(audio_out["voice"], audio_out["voice"])
    asked_in = (shown.get("audio") or {}).get("input") or {}
    asked_vad, vad = asked_in.get("turn_detection"), audio_in.get("turn_detection")
    if isinstance(asked_vad, dict) and asked_vad.get("type") == "semantic_vad" and isinstance(vad, dict):
        audio_in["turn_detection"] = {
            "type": "semantic_vad",
            "eagerness": asked_vad.get("eagerness") or "auto",
            "create_response": vad.get("create_response", True),
            "interrupt_response": vad.get("interrupt_response", True),
        }
    if "transcription" in asked_in:
        audio_in["transcription"] = copy.deepcopy(asked_in["transcription"])
    for key in ("tracing", "truncation", "include", "prompt"):
        if key in shown:
            view[key] = copy.deepcopy(shown[key])
    return view


def response_to_client(response: dict[str, Any], *, output_format: AudioFormat, voice_names: dict[str, str]) -> None:
    """A response object (response.created, response.done) in OpenAI's terms, in place."""
    audio = response.get("audio")
    output = audio.get("output") if isinstance(audio, dict) else None
    if not isinstance(output, dict):
        return
    if "format" in output:
        output["format"] = output_format.as_openai()
    if isinstance(output.get("voice"), str):
        output["voice"] = voice_names.get(output["voice"], output["voice"])
