"""Checks are part of a preset's content: versioned with it, in the file format (version 3), and a bad
definition is refused naming the field, with nothing saved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async

from playground.presets.models import PresetVersion
from tests.check_helpers import b64, espeak_wav, preset_with_checks, text_check

ROOT = Path(__file__).resolve().parent.parent
GREETING = text_check("greets", "Hello", {"type": "response_status"})


async def _versions(preset_id: str) -> int:
    return await database_sync_to_async(PresetVersion.objects.filter(preset_id=preset_id).count)()


def _turn(user: dict[str, Any] | None = None, *expect: dict[str, Any]) -> dict[str, Any]:
    turn: dict[str, Any] = {"expect": list(expect) or [{"type": "response_status"}]}
    if user is not None:
        turn["user"] = user
    return turn


BAD_CHECKS = [
    (
        [{"name": "a", "turns": [_turn(None, {"type": "latency", "to": "done", "max_ms": 0})]}],
        "checks[0].turns[0].expect[0].max_ms",
        "greater than or equal to 1",
    ),
    (
        [{"name": "a", "turns": [_turn(None, {"type": "sounds_nice"})]}],
        "checks[0].turns[0].expect[0].type",
        "'sounds_nice' is not one of the assertion types",
    ),
    (
        [{"name": "a", "turns": [_turn({"type": "speak", "text": "hi"})]}],
        "checks[0].turns[0].user.type",
        "'speak' is not one of the input types",
    ),
    (
        [{"name": "a", "turns": [{"user": {"type": "text", "text": "hi"}, "expect": []}]}],
        "checks[0].turns",
        "no turn expects anything",
    ),
    ([GREETING, GREETING], "checks[1].name", "another check has this name"),
    (
        [{"name": "a", "turns": [_turn({"type": "audio", "filename": "x.wav", "data": b64(b"not audio at all")})]}],
        "checks[0].turns[0].user.data",
        "not an audio file that can be read",
    ),
    (
        [{"name": "a", "turns": [_turn({"type": "audio", "filename": "x.wav", "data": "%%%"})]}],
        "checks[0].turns[0].user.data",
        "not valid base64",
    ),
    (
        [{"name": "a", "turns": [_turn(None, {"type": "text_matches", "pattern": "(unclosed"})]}],
        "checks[0].turns[0].expect[0].pattern",
        "not a valid regular expression",
    ),
    (
        [
            {
                "name": "a",
                "turns": [_turn(None, {"type": "function_call", "name": "f", "arguments_schema": {"type": 5}})],
            }
        ],
        "checks[0].turns[0].expect[0].arguments_schema",
        "not a valid JSON Schema",
    ),
    (
        [{"name": "a", "turns": [_turn(None, {"type": "spoken_duration", "min_ms": 900, "max_ms": 100})]}],
        "checks[0].turns[0].expect[0].max_ms",
        "below min_ms",
    ),
    ([{"name": "a", "turns": []}], "checks[0].turns", "at least 1 item"),
    ([{"name": "   ", "turns": [_turn()]}], "checks[0].name", "at least 1 character"),
    (
        [{"name": "a", "turns": [_turn({"type": "text", "text": "hi", "voice": "x"})]}],
        "checks[0].turns[0].user.voice",
        "",
    ),
]


@pytest.mark.parametrize(("checks", "field", "words"), BAD_CHECKS)
async def test_a_bad_check_is_refused_naming_its_field_and_nothing_is_saved(
    api: httpx.AsyncClient, checks: list[dict[str, Any]], field: str, words: str
) -> None:
    preset = await preset_with_checks(api, [GREETING])
    res = await api.put(f"/api/presets/{preset['id']}/checks", json={"checks": checks})
    assert res.status_code == 422, res.text
    assert res.json()["field"] == field
    assert words in res.json()["detail"]
    assert await _versions(preset["id"]) == 1
    assert (await api.get(f"/api/presets/{preset['id']}/checks")).json()["checks"] == [GREETING]

    # The same check in a whole content (the Content tab's save) and in a file to import: the same field.
    content = {"session": {}, "checks": checks}
    res = await api.put(f"/api/presets/{preset['id']}", json={"content": content})
    assert res.status_code == 422 and res.json()["field"] == f"content.{field}", res.text
    assert await _versions(preset["id"]) == 1
    file = {"format": "realtime-playground.preset", "version": 3, "name": "Bad", "content": content}
    res = await api.post("/api/presets/import", json=file)
    assert res.status_code == 422 and res.json()["field"] == f"content.{field}", res.text


async def test_checks_are_versioned_with_the_preset(api: httpx.AsyncClient) -> None:
    preset = await preset_with_checks(api, [GREETING])
    other = text_check("says bye", "Bye", {"type": "no_function_call"})
    res = await api.put(f"/api/presets/{preset['id']}/checks", json={"checks": [GREETING, other]})
    assert res.status_code == 200, res.text
    assert res.json()["version"] == 2 and [c["name"] for c in res.json()["checks"]] == ["greets", "says bye"]
    v1 = (await api.get(f"/api/presets/{preset['id']}/versions/1")).json()["content"]
    v2 = (await api.get(f"/api/presets/{preset['id']}/versions/2")).json()["content"]
    assert v1["checks"] == [GREETING] and v2["checks"] == [GREETING, other]
    # Only the checks changed: the rest of the content is version 1's.
    assert {k: v for k, v in v1.items() if k != "checks"} == {k: v for k, v in v2.items() if k != "checks"}
    diff = (await api.get(f"/api/presets/{preset['id']}/diff", params={"from": 1, "to": 2})).json()["diff"]
    assert '"says bye"' in diff


async def test_a_builtin_presets_checks_cannot_be_changed(api: httpx.AsyncClient) -> None:
    from playground.presets.services import presets_onboarding_load

    await database_sync_to_async(presets_onboarding_load)()
    presets = {p["slug"]: p for p in (await api.get("/api/presets")).json()}
    res = await api.put(f"/api/presets/{presets['text-chat']['id']}/checks", json={"checks": [GREETING]})
    assert res.status_code == 403 and "fork it" in res.json()["detail"]


async def test_the_file_format_carries_checks_and_older_files_still_import(api: httpx.AsyncClient) -> None:
    spoken = {
        "name": "speaks",
        "turns": [
            {
                "user": {"type": "audio", "filename": "hello.ogg", "data": b64(_ogg())},
                "expect": [{"type": "tokens", "max": 9}],
            }
        ],
    }
    preset = await preset_with_checks(api, [GREETING, spoken])
    exported = (await api.get(f"/api/presets/{preset['id']}/export")).json()
    assert exported["version"] == 3 and exported["content"]["checks"] == [GREETING, spoken]
    again = (await api.post("/api/presets/import", json=exported)).json()
    assert again["content"]["checks"] == [GREETING, spoken]

    v2 = {
        "format": "realtime-playground.preset",
        "version": 2,
        "name": "From before checks",
        "content": {"session": {"instructions": "Hi."}, "tool_outputs": {"f": "1"}},
    }
    res = await api.post("/api/presets/import", json=v2)
    assert res.status_code == 201, res.text
    assert res.json()["content"]["checks"] == [] and res.json()["content"]["tool_outputs"] == {"f": "1"}
    # Checks belong to version 3: a version-2 file with them is refused, naming the field.
    res = await api.post("/api/presets/import", json={**v2, "content": {"checks": [GREETING]}})
    assert res.status_code == 422 and res.json()["field"] == "content.checks", res.text


def _ogg() -> bytes:
    from tests.check_helpers import encoded

    return encoded(espeak_wav("hello"), "OGG", "VORBIS")


def test_the_json_schema_in_docs_describes_checks() -> None:
    schema = json.loads((ROOT / "docs" / "preset-format.schema.json").read_text())
    assert schema["properties"]["version"]["const"] == 3
    assert "checks" in schema["$defs"]["PresetContent"]["properties"]
    check = schema["$defs"]["Check"]
    assert check["required"] == ["name", "turns"]
    kinds = {
        member["$ref"].rsplit("/", 1)[1]
        for member in schema["$defs"]["CheckTurn"]["properties"]["expect"]["items"]["oneOf"]
    }
    assert {"Latency", "Judge", "FunctionCallMade", "SpokenDuration", "Cost", "Tokens"} <= kinds
