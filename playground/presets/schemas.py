"""A preset's content and its file format (`realtime-playground.preset`, versions 1 to 3).

Version 3 (written by export):
    {"format": "realtime-playground.preset", "version": 3, "name", "description", "tags",
     "content": {"session", "response", "conversation", "tool_outputs", "checks"}}
Version 2 (read only): the same without `content.checks`.
Version 1 (read only): no `tags`, no `tool_outputs`, and `session`, `response`, `conversation`
at the top level instead of under `content`.

docs/preset-format.md describes them; docs/preset-format.schema.json is `preset_file_json_schema()`.
Checks (playground/checks/schemas.py, docs/checks.md) are part of the content, so they are versioned
with the rest of the preset.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from playground.checks.schemas import Checks, check_to_json
from playground.errors import PlaygroundError
from playground.realtime.events import Item, ResponseConfig, SessionConfig, field_path

FORMAT: Final = "realtime-playground.preset"
FILE_VERSION: Final = 3
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PresetContentV2(_Strict):
    """What a version-2 file's content holds: the session, response.create overrides, the opening conversation,
    canned tool outputs."""

    session: SessionConfig = Field(default_factory=SessionConfig, description="Sent as session.update.")
    response: ResponseConfig | None = Field(default=None, description="Overrides for response.create.")
    conversation: list[Item] = Field(
        default_factory=list, max_length=200, description="Items created before the first response."
    )
    tool_outputs: dict[str, str] = Field(
        default_factory=dict, description="Canned output per tool name, answered to function calls."
    )


class PresetContent(PresetContentV2):
    """What a preset sets up, and the checks that say whether it still works (docs/checks.md)."""

    checks: Checks = Field(
        default_factory=list,
        description="Scripted conversations with assertions, run against an upstream (docs/checks.md).",
    )


def content_to_json(content: PresetContent) -> dict[str, Any]:
    """The content as stored and exported: every key present, unset fields of the protocol left out."""
    return {
        "session": content.session.model_dump(mode="json", exclude_unset=True),
        "response": content.response.model_dump(mode="json", exclude_unset=True) if content.response else None,
        "conversation": [item.model_dump(mode="json", exclude_unset=True) for item in content.conversation],
        "tool_outputs": dict(content.tool_outputs),
        "checks": [check_to_json(check) for check in content.checks],
    }


class PresetFileV3(_Strict):
    """A preset file, version 3 (what export writes)."""

    model_config = ConfigDict(extra="forbid", title="Realtime Playground preset file, version 3")

    format: Literal["realtime-playground.preset"]
    version: Literal[3]
    name: Name
    description: str = Field(default="", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    content: PresetContent


# What the playground writes, and reads every older version as.
PresetFile = PresetFileV3


class PresetFileV2(_Strict):
    """A preset file, version 2 (read only): no checks."""

    format: Literal["realtime-playground.preset"]
    version: Literal[2]
    name: Name
    description: str = Field(default="", max_length=10_000)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    content: PresetContentV2


class PresetFileV1(_Strict):
    """A preset file, version 1 (read only): no tags, no tool outputs, content at the top level."""

    format: Literal["realtime-playground.preset"]
    version: Literal[1]
    name: Name
    description: str = Field(default="", max_length=10_000)
    session: SessionConfig = Field(default_factory=SessionConfig)
    response: ResponseConfig | None = None
    conversation: list[Item] = Field(default_factory=list, max_length=200)


def preset_file_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of version 3, as docs/preset-format.schema.json holds it."""
    schema = PresetFileV3.model_json_schema()
    return {"$schema": JSON_SCHEMA_DIALECT, "$id": "realtime-playground.preset.v3.schema.json", **schema}


def _refuse(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> PlaygroundError:
    errors = [{"field": field_path(prefix + tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
    first = errors[0]
    return PlaygroundError(
        f"Not a valid preset file: {first['field']}: {first['message']}",
        status=422,
        field=first["field"],
        errors=errors,
    )


def preset_file_parse(data: Any) -> PresetFile:
    """Validate a preset file of any version; older ones come back as version 3. Raises PlaygroundError (422)."""
    if not isinstance(data, dict):
        raise PlaygroundError("A preset file is a JSON object.", status=422, field="body")
    if data.get("format") != FORMAT:
        raise PlaygroundError(f'Not a preset file: "format" must be "{FORMAT}".', status=422, field="format")
    version = data.get("version")
    try:
        if version == 3:
            return PresetFileV3.model_validate(data)
        if version == 2:
            v2 = PresetFileV2.model_validate(data)
            return PresetFileV3(
                format=FORMAT,
                version=3,
                name=v2.name,
                description=v2.description,
                tags=list(v2.tags),
                content=PresetContent(**dict(v2.content)),
            )
        if version == 1:
            old = PresetFileV1.model_validate(data)
            return PresetFileV3(
                format=FORMAT,
                version=3,
                name=old.name,
                description=old.description,
                tags=[],
                content=PresetContent(session=old.session, response=old.response, conversation=old.conversation),
            )
    except ValidationError as exc:
        raise _refuse(exc) from None
    raise PlaygroundError(
        f"Unknown preset file version {version!r}; this playground reads versions 1, 2 and 3.",
        status=422,
        field="version",
    )
