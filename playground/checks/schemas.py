"""A preset's checks, as the preset file format holds them (docs/checks.md, docs/preset-format.md).

A check is a short scripted conversation: turns, each a user input (text, an uploaded audio file,
text spoken by a local TTS, or nothing: "answer what is there") and the assertions on what came back.
Bad definitions are refused by pydantic with the field at fault (`checks[0].turns[1].expect[0].max_ms`).

The two unions (inputs, assertions) pick their member by `type` through a callable discriminator whose
tags are not field names (`assert:latency`): `realtime.events.field_path` leaves such tags out of the
field it names, and an unknown `type` lands on a member that refuses it as `….type`, in words.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import InitErrorDetails, PydanticCustomError

# An uploaded audio file: its bytes (before base64). Kept in the preset's content, so in every version:
# a minute of speech as MP3, OGG or FLAC fits easily; a long WAV does not (docs/checks.md says so).
MAX_AUDIO_FILE_BYTES: Final = 2 * 1024 * 1024
MAX_AUDIO_FILE_SECONDS: Final = 60.0
MAX_CHECKS: Final = 50
MAX_TURNS: Final = 20
MAX_ASSERTIONS: Final = 30

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Phrase = Annotated[str, StringConstraints(min_length=1, max_length=4000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _refuse_at(field: str, kind: str, message: str, value: Any) -> ValidationError:
    """An error at one field of a model, raised from its model validator (pydantic puts the model's own
    location in front), so the field people are told is the one to fix."""
    error = PydanticCustomError(kind, message)
    return ValidationError.from_exception_data(field, [InitErrorDetails(type=error, loc=(field,), input=value)])


def _tag_of(prefix: str, known: frozenset[str]) -> Any:
    def pick(value: Any) -> str:
        kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
        return f"{prefix}:{kind}" if kind in known else f"{prefix}:?"

    return pick


class _UnknownType(BaseModel):
    """The member an unknown or missing `type` lands on: it refuses the `type`, listing the known ones."""

    model_config = ConfigDict(extra="allow")
    what: ClassVar[str] = ""
    known: ClassVar[frozenset[str]] = frozenset()
    type: Any = Field(default=None, validate_default=True)

    @field_validator("type")
    @classmethod
    def _refuse(cls, value: Any) -> Any:
        choices = ", ".join(sorted(cls.known))
        if value is None:
            raise PydanticCustomError("missing_type", f"required: the {cls.what}'s type, one of {choices}")
        raise PydanticCustomError("unknown_type", f"{value!r} is not one of the {cls.what} types: {choices}")


# --- what the user says ------------------------------------------------------------------------------------------


class TextInput(_Strict):
    """The user types: a `message` item with `input_text`, then `response.create`."""

    type: Literal["text"]
    text: Phrase


class AudioFileInput(_Strict):
    """An uploaded audio file (WAV, MP3, OGG or FLAC), decoded and resampled to the session's input rate."""

    type: Literal["audio"]
    filename: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    data: str = Field(description=f"The file, base64; at most {MAX_AUDIO_FILE_BYTES} bytes before encoding.")

    @field_validator("data")
    @classmethod
    def _an_audio_file(cls, value: str) -> str:
        audio_file_check(value)
        return value


class SpeechInput(_Strict):
    """Text spoken by a TTS so voice paths are tested without a microphone."""

    type: Literal["tts"]
    text: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    engine: Literal["auto", "espeak-ng", "speechkit"] = Field(
        "auto",
        description="auto: Yandex SpeechKit when the run's upstream is yandex (credentials set), else espeak-ng.",
    )
    voice: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_+\-]{1,40}$")] | None = Field(
        None, description="espeak-ng: a voice such as en, ru, de; SpeechKit: alena, filipp, … Default from the text."
    )


class NoInput(_Strict):
    """Nothing is said: `response.create` answers the conversation as it stands (a preset's opening one)."""

    type: Literal["none"]


_INPUT_TYPES = frozenset({"text", "audio", "tts", "none"})


class UnknownInput(_UnknownType):
    what = "input"
    known = _INPUT_TYPES


UserInput = Annotated[
    Annotated[TextInput, Tag("input:text")]
    | Annotated[AudioFileInput, Tag("input:audio")]
    | Annotated[SpeechInput, Tag("input:tts")]
    | Annotated[NoInput, Tag("input:none")]
    | Annotated[SkipJsonSchema[UnknownInput], Tag("input:?")],
    Discriminator(_tag_of("input", _INPUT_TYPES)),
]


def audio_file_check(value: str) -> bytes:
    """The file's bytes, if `value` is base64 of an audio file soundfile can read, short enough; else refused."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise PydanticCustomError("audio_base64", "not valid base64") from None
    if len(raw) > MAX_AUDIO_FILE_BYTES:
        raise PydanticCustomError(
            "audio_too_big",
            f"the file is {len(raw)} bytes, over the {MAX_AUDIO_FILE_BYTES} allowed: "
            "compress it (MP3, OGG, FLAC) or shorten it",
        )
    import soundfile  # heavy: only where audio is actually given

    try:
        info = soundfile.info(io.BytesIO(raw))
    except (RuntimeError, soundfile.LibsndfileError) as exc:
        why = str(exc).rsplit(": ", 1)[-1]  # libsndfile's words, without the BytesIO's repr before them
        raise PydanticCustomError(
            "audio_unreadable", f"not an audio file that can be read (WAV, MP3, OGG, FLAC): {why}"
        ) from None
    if info.duration > MAX_AUDIO_FILE_SECONDS:
        raise PydanticCustomError(
            "audio_too_long", f"the audio lasts {info.duration:.1f} s, over the {MAX_AUDIO_FILE_SECONDS:.0f} s allowed"
        )
    return raw


# --- assertions --------------------------------------------------------------------------------------------------


class TextContains(_Strict):
    """The answer's text (or audio transcript) contains `value`."""

    type: Literal["text_contains"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    case_sensitive: bool = False


class TextNotContains(_Strict):
    type: Literal["text_not_contains"]
    value: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    case_sensitive: bool = False


class TextMatches(_Strict):
    """The answer's text matches a regular expression (Python's `re`, searched anywhere in it)."""

    type: Literal["text_matches"]
    pattern: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    case_sensitive: bool = False

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise PydanticCustomError("regex", f"not a valid regular expression: {exc}") from None
        return value


class FunctionCallMade(_Strict):
    """The model called function `name`; its arguments valid against `arguments_schema` and/or including `arguments`."""

    type: Literal["function_call"]
    name: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    arguments_schema: dict[str, Any] | None = Field(None, description="A JSON Schema the call's arguments must fit.")
    arguments: dict[str, Any] | None = Field(
        None, description="Values the arguments must have (keys not given here are not compared)."
    )

    @field_validator("arguments_schema")
    @classmethod
    def _a_json_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return value
        import jsonschema

        try:
            jsonschema.validators.validator_for(value).check_schema(value)
        except jsonschema.SchemaError as exc:
            raise PydanticCustomError("json_schema", f"not a valid JSON Schema: {exc.message}") from None
        return value


class NoFunctionCall(_Strict):
    type: Literal["no_function_call"]


class ResponseStatus(_Strict):
    """The status of the turn's last `response.done`."""

    type: Literal["response_status"]
    status: Literal["completed", "incomplete", "cancelled", "failed"] = "completed"


class Latency(_Strict):
    """From the turn's hand-over (our response.create, or the server VAD's speech_stopped) to an event, in ms."""

    type: Literal["latency"]
    to: Literal["first_text", "first_audio", "done"]
    max_ms: int = Field(ge=1, le=600_000)


class Tokens(_Strict):
    """Tokens the turn's responses used (their response.done usage, summed)."""

    type: Literal["tokens"]
    max: int = Field(ge=0, le=10_000_000)
    kind: Literal["total", "input", "output"] = "total"


class Cost(_Strict):
    """The turn's estimated cost, with the prices in PLAYGROUND_PRICES (placeholders unless set)."""

    type: Literal["cost"]
    max: float = Field(ge=0, le=1_000_000)


class SpokenDuration(_Strict):
    """How long the answer's audio lasts (its output audio deltas at the session's output rate)."""

    type: Literal["spoken_duration"]
    min_ms: int = Field(0, ge=0, le=3_600_000)
    max_ms: int | None = Field(None, ge=0, le=3_600_000)

    @model_validator(mode="after")
    def _a_range(self) -> SpokenDuration:
        if self.max_ms is not None and self.max_ms < self.min_ms:
            raise _refuse_at(
                "max_ms", "range", f"{self.max_ms} is below min_ms ({self.min_ms}): no duration fits", self.max_ms
            )
        if self.max_ms is None and self.min_ms == 0:
            raise _refuse_at("max_ms", "range", "give min_ms, max_ms or both: 0 to anything always holds", None)
        return self


class Judge(_Strict):
    """A rubric graded by a Yandex text model (OpenAI-compatible chat API); not run without credentials."""

    type: Literal["judge"]
    rubric: Annotated[str, StringConstraints(min_length=1, max_length=4000)]


ASSERTION_TYPES: Final = frozenset(
    {
        "text_contains",
        "text_not_contains",
        "text_matches",
        "function_call",
        "no_function_call",
        "response_status",
        "latency",
        "tokens",
        "cost",
        "spoken_duration",
        "judge",
    }
)


class UnknownAssertion(_UnknownType):
    what = "assertion"
    known = ASSERTION_TYPES


Assertion = Annotated[
    Annotated[TextContains, Tag("assert:text_contains")]
    | Annotated[TextNotContains, Tag("assert:text_not_contains")]
    | Annotated[TextMatches, Tag("assert:text_matches")]
    | Annotated[FunctionCallMade, Tag("assert:function_call")]
    | Annotated[NoFunctionCall, Tag("assert:no_function_call")]
    | Annotated[ResponseStatus, Tag("assert:response_status")]
    | Annotated[Latency, Tag("assert:latency")]
    | Annotated[Tokens, Tag("assert:tokens")]
    | Annotated[Cost, Tag("assert:cost")]
    | Annotated[SpokenDuration, Tag("assert:spoken_duration")]
    | Annotated[Judge, Tag("assert:judge")]
    | Annotated[SkipJsonSchema[UnknownAssertion], Tag("assert:?")],
    Discriminator(_tag_of("assert", ASSERTION_TYPES)),
]


# --- a check -----------------------------------------------------------------------------------------------------


class CheckTurn(_Strict):
    user: UserInput = Field(
        default_factory=lambda: NoInput(type="none"),
        description='What the user says; absent: {"type": "none"} (a response to the conversation as it is).',
    )
    expect: list[Assertion] = Field(default_factory=list, max_length=MAX_ASSERTIONS)


class Check(_Strict):
    name: Name
    description: str = Field("", max_length=2000)
    turns: list[CheckTurn] = Field(min_length=1, max_length=MAX_TURNS)
    tool_outputs: dict[str, str] = Field(
        default_factory=dict,
        description="Canned outputs for this check, added to (and overriding) the preset's tool_outputs.",
    )

    @model_validator(mode="after")
    def _can_fail(self) -> Check:
        # A check with nothing to assert could never fail: it would only ever say "passed".
        if not any(turn.expect for turn in self.turns):
            raise _refuse_at(
                "turns", "no_assertion", "no turn expects anything: add an assertion (`expect`) to one", []
            )
        return self


def checks_unique_names(checks: list[Check]) -> list[Check]:
    """Refuse two checks of one name (results and CI test cases are keyed by it), naming the second one's
    `name` (a ValidationError raised here gets the list's own location put in front by pydantic)."""
    seen: set[str] = set()
    for index, check in enumerate(checks):
        if check.name in seen:
            error = PydanticCustomError("duplicate_name", "another check has this name: names must differ")
            raise ValidationError.from_exception_data(
                "checks", [InitErrorDetails(type=error, loc=(index, "name"), input=check.name)]
            )
        seen.add(check.name)
    return checks


# A preset's checks: at most MAX_CHECKS, each name once (wherever a list of checks is taken: content, the API).
Checks = Annotated[list[Check], Field(max_length=MAX_CHECKS), AfterValidator(checks_unique_names)]


def check_to_json(check: Check) -> dict[str, Any]:
    """A check as stored: what was given (defaults left out, as for the session config)."""
    return check.model_dump(mode="json", exclude_unset=True)


def assertion_label(assertion: Any) -> str:
    """An assertion in words, for result lists and JUnit."""
    kind = assertion.type
    if kind == "text_contains":
        return f"the answer contains “{assertion.value}”"
    if kind == "text_not_contains":
        return f"the answer does not contain “{assertion.value}”"
    if kind == "text_matches":
        return f"the answer matches /{assertion.pattern}/"
    if kind == "function_call":
        extra = []
        if assertion.arguments_schema is not None:
            extra.append("arguments fit the schema")
        if assertion.arguments:
            extra.append("arguments include " + ", ".join(f"{k}={v!r}" for k, v in assertion.arguments.items()))
        return f"calls {assertion.name}" + (f" ({'; '.join(extra)})" if extra else "")
    if kind == "no_function_call":
        return "calls no function"
    if kind == "response_status":
        return f"the response is {assertion.status}"
    if kind == "latency":
        what = {"first_text": "first text", "first_audio": "first audio", "done": "response.done"}[assertion.to]
        return f"{what} within {assertion.max_ms} ms"
    if kind == "tokens":
        return f"{assertion.kind} tokens ≤ {assertion.max}"
    if kind == "cost":
        return f"estimated cost ≤ {assertion.max:g}"
    if kind == "spoken_duration":
        if assertion.max_ms is None:
            return f"speaks for at least {assertion.min_ms} ms"
        return f"speaks for {assertion.min_ms}–{assertion.max_ms} ms"
    if kind == "judge":
        rubric = assertion.rubric if len(assertion.rubric) <= 80 else assertion.rubric[:79] + "…"
        return f"judge: {rubric}"
    return kind
