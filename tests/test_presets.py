"""Presets: CRUD with versions, diff, fork, trash, files, the permission matrix, onboarding presets,
and a live session started from a preset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command

from playground.presets.models import Preset, PresetVersion
from playground.presets.schemas import preset_file_json_schema

ROOT = Path(__file__).resolve().parent.parent

CONTENT: dict[str, Any] = {
    "session": {"output_modalities": ["text"], "instructions": "Be brief."},
    "response": {"instructions": "One word."},
    "conversation": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello"}]},
    ],
    "tool_outputs": {"lookup": "42"},
    "checks": [],
}


def _stranger(api: httpx.AsyncClient, other_token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=api._transport,
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {other_token}"},
        timeout=30,
    )


async def _count(model: Any) -> int:
    return await database_sync_to_async(model.objects.count)()


async def create_preset(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("name", "My preset")
    body.setdefault("tags", ["demo"])
    body.setdefault("content", CONTENT)
    res = await api.post("/api/presets", json=body)
    assert res.status_code == 201, res.text
    return res.json()


async def _load_onboarding() -> None:
    await database_sync_to_async(call_command)("load_onboarding_presets")


async def _builtin_id(api: httpx.AsyncClient, slug: str) -> str:
    res = await api.get("/api/presets")
    return next(p["id"] for p in res.json() if p["slug"] == slug)


async def test_create_read_list_and_filter_by_tag(api: httpx.AsyncClient) -> None:
    created = await create_preset(api, description="d")
    assert created["version"] == 1 and created["owner"] == "alice" and not created["builtin"]
    assert created["content"]["session"] == CONTENT["session"]
    assert created["content"]["tool_outputs"] == {"lookup": "42"}
    await create_preset(api, name="Other", tags=["x"])

    detail = (await api.get(f"/api/presets/{created['id']}")).json()
    assert detail["content"] == created["content"] and detail["version"] == 1

    names = {p["name"] for p in (await api.get("/api/presets")).json()}
    assert names == {"My preset", "Other"}
    tagged = (await api.get("/api/presets", params={"tag": "demo"})).json()
    assert [p["name"] for p in tagged] == ["My preset"]


async def test_every_save_is_a_new_version_with_a_diff(api: httpx.AsyncClient) -> None:
    preset = await create_preset(api)
    changed = json.loads(json.dumps(CONTENT))
    changed["session"]["instructions"] = "Be verbose."
    res = await api.put(
        f"/api/presets/{preset['id']}", json={"name": "Renamed", "tags": ["a", "b"], "content": changed}
    )
    assert res.status_code == 200, res.text
    assert res.json()["version"] == 2 and res.json()["name"] == "Renamed" and res.json()["tags"] == ["a", "b"]
    res = await api.put(f"/api/presets/{preset['id']}", json={"content": changed})
    assert res.json()["version"] == 3 and res.json()["name"] == "Renamed"

    versions = (await api.get(f"/api/presets/{preset['id']}/versions")).json()
    assert [v["number"] for v in versions] == [1, 2, 3] and versions[0]["created_by"] == "alice"
    v1 = (await api.get(f"/api/presets/{preset['id']}/versions/1")).json()
    assert v1["content"]["session"]["instructions"] == "Be brief."
    assert (await api.get(f"/api/presets/{preset['id']}/versions/9")).status_code == 404

    diff = (await api.get(f"/api/presets/{preset['id']}/diff", params={"from": 1, "to": 2})).json()
    assert diff["from"] == 1 and diff["to"] == 2
    assert '-    "instructions": "Be brief."' in diff["diff"]
    assert '+    "instructions": "Be verbose."' in diff["diff"]
    assert diff["diff"].startswith("--- version 1\n+++ version 2")
    same = (await api.get(f"/api/presets/{preset['id']}/diff", params={"from": 2, "to": 3})).json()
    assert same["diff"] == ""


async def test_patch_renames_and_null_means_leave_it(api: httpx.AsyncClient) -> None:
    preset = await create_preset(api, description="What it is for.")
    res = await api.patch(f"/api/presets/{preset['id']}", json={"name": "Renamed", "tags": ["x"]})
    assert res.status_code == 200, res.text
    assert (res.json()["name"], res.json()["tags"], res.json()["version"]) == ("Renamed", ["x"], 1)
    # A client that sends every field, unset ones as null (many do), changes nothing: the columns are
    # NOT NULL, and a null once reached the database as a 500.
    res = await api.patch(f"/api/presets/{preset['id']}", json={"name": None, "description": None, "tags": None})
    assert res.status_code == 200, res.text
    detail = (await api.get(f"/api/presets/{preset['id']}")).json()
    assert (detail["name"], detail["description"], detail["tags"]) == ("Renamed", "What it is for.", ["x"])
    assert detail["version"] == 1 and await _count(PresetVersion) == 1


async def test_bad_content_is_refused_naming_the_field_and_writes_nothing(api: httpx.AsyncClient) -> None:
    bad = {"session": {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 5}}}}}
    res = await api.post("/api/presets", json={"name": "x", "content": bad})
    assert res.status_code == 422
    assert res.json()["field"] == "content.session.audio.output.format.rate"
    assert await _count(Preset) == 0

    preset = await create_preset(api)
    res = await api.put(f"/api/presets/{preset['id']}", json={"name": "changed", "content": bad})
    assert res.status_code == 422 and res.json()["field"] == "content.session.audio.output.format.rate"
    res = await api.put(
        f"/api/presets/{preset['id']}",
        json={"content": {"conversation": [{"type": "message", "role": "robot", "content": []}]}},
    )
    assert res.status_code == 422 and res.json()["field"] == "content.conversation[0].role"
    detail = (await api.get(f"/api/presets/{preset['id']}")).json()
    assert detail["version"] == 1 and detail["name"] == "My preset"
    assert await _count(PresetVersion) == 1


async def test_trash_and_restore(api: httpx.AsyncClient) -> None:
    preset = await create_preset(api)
    res = await api.delete(f"/api/presets/{preset['id']}")
    assert res.status_code == 200 and res.json()["deleted_at"] is not None
    assert (await api.get("/api/presets")).json() == []
    trash = (await api.get("/api/presets", params={"trashed": True})).json()
    assert [p["id"] for p in trash] == [preset["id"]]
    assert (await api.put(f"/api/presets/{preset['id']}", json={"content": CONTENT})).status_code == 409
    res = await api.post(f"/api/presets/{preset['id']}/restore")
    assert res.status_code == 200 and res.json()["deleted_at"] is None
    assert [p["id"] for p in (await api.get("/api/presets")).json()] == [preset["id"]]


async def test_fork_copies_the_current_content(api: httpx.AsyncClient) -> None:
    preset = await create_preset(api, description="Original.")
    changed = dict(CONTENT, tool_outputs={"lookup": "43"})
    await api.put(f"/api/presets/{preset['id']}", json={"content": changed})
    res = await api.post(f"/api/presets/{preset['id']}/fork")
    assert res.status_code == 201, res.text
    fork = res.json()
    assert fork["id"] != preset["id"] and fork["version"] == 1 and fork["owner"] == "alice"
    assert fork["content"]["tool_outputs"] == {"lookup": "43"}
    assert fork["forked_from"] == preset["id"]
    assert "Forked from" in fork["description"] and preset["id"] in fork["description"]


async def test_export_import_round_trip(api: httpx.AsyncClient) -> None:
    preset = await create_preset(api, description="Round trip.", tags=["a", "b"])
    exported = (await api.get(f"/api/presets/{preset['id']}/export")).json()
    assert exported["format"] == "realtime-playground.preset" and exported["version"] == 3
    assert set(exported) == {"format", "version", "name", "description", "tags", "content"}
    res = await api.post("/api/presets/import", json=exported)
    assert res.status_code == 201, res.text
    imported = res.json()
    assert imported["id"] != preset["id"] and imported["version"] == 1
    assert (imported["name"], imported["description"], imported["tags"]) == ("My preset", "Round trip.", ["a", "b"])
    assert imported["content"] == preset["content"]
    again = (await api.get(f"/api/presets/{imported['id']}/export")).json()
    assert again == exported


async def test_a_version_1_file_imports(api: httpx.AsyncClient) -> None:
    old = {
        "format": "realtime-playground.preset",
        "version": 1,
        "name": "Old one",
        "description": "From before tags.",
        "session": {"output_modalities": ["text"], "instructions": "Hi."},
        "response": {"max_output_tokens": 100},
        "conversation": [CONTENT["conversation"][0]],
    }
    res = await api.post("/api/presets/import", json=old)
    assert res.status_code == 201, res.text
    body = res.json()
    assert body["name"] == "Old one" and body["tags"] == []
    assert body["content"] == {
        "session": old["session"],
        "response": old["response"],
        "conversation": old["conversation"],
        "tool_outputs": {},
        "checks": [],
    }


@pytest.mark.parametrize(
    ("file", "field"),
    [
        (
            {
                "format": "realtime-playground.preset",
                "version": 2,
                "name": "Bad",
                "content": {"session": {"audio": {"output": {"format": {"rate": 5}}}}},
            },
            "content.session.audio.output.format.rate",
        ),
        (
            {
                "format": "realtime-playground.preset",
                "version": 2,
                "name": "Bad",
                "content": {"tool_outputs": {"a": 1}},
            },
            "content.tool_outputs.a",
        ),
        ({"format": "realtime-playground.preset", "version": 1, "name": "Bad", "tags": ["x"]}, "tags"),
        ({"format": "realtime-playground.preset", "version": 7, "name": "Bad"}, "version"),
        ({"format": "something-else", "version": 2, "name": "Bad"}, "format"),
        ({"format": "realtime-playground.preset", "version": 2, "content": {}}, "name"),
    ],
)
async def test_a_bad_file_is_refused_and_nothing_is_created(
    api: httpx.AsyncClient, file: dict[str, Any], field: str
) -> None:
    res = await api.post("/api/presets/import", json=file)
    assert res.status_code == 422, res.text
    assert res.json()["field"] == field
    assert await _count(Preset) == 0 and await _count(PresetVersion) == 0


def test_the_json_schema_file_matches_the_model() -> None:
    on_disk = json.loads((ROOT / "docs" / "preset-format.schema.json").read_text())
    assert on_disk == preset_file_json_schema()
    assert on_disk["$schema"] == "https://json-schema.org/draft/2020-12/schema"


async def test_a_stranger_gets_404_on_every_endpoint(api: httpx.AsyncClient, other_token: str) -> None:
    preset = await create_preset(api)
    pid = preset["id"]
    async with _stranger(api, other_token) as mallory:
        calls = [
            mallory.get(f"/api/presets/{pid}"),
            mallory.put(f"/api/presets/{pid}", json={"content": CONTENT}),
            mallory.get(f"/api/presets/{pid}/versions"),
            mallory.get(f"/api/presets/{pid}/versions/1"),
            mallory.get(f"/api/presets/{pid}/diff", params={"from": 1, "to": 1}),
            mallory.post(f"/api/presets/{pid}/fork"),
            mallory.delete(f"/api/presets/{pid}"),
            mallory.post(f"/api/presets/{pid}/restore"),
            mallory.get(f"/api/presets/{pid}/export"),
            mallory.post(f"/api/presets/{pid}/sessions", json={"upstream": "emulator"}),
        ]
        for call in calls:
            res = await call
            assert res.status_code == 404, (res.request.method, res.request.url, res.text)
        assert (await mallory.get("/api/presets")).json() == []
    detail = (await api.get(f"/api/presets/{pid}")).json()
    assert detail["version"] == 1 and detail["deleted_at"] is None and await _count(Preset) == 1
    assert (await api.get("/api/presets/not-a-uuid")).status_code == 404


async def test_builtin_presets_are_readable_and_forkable_but_not_writable(
    api: httpx.AsyncClient, other_token: str
) -> None:
    await _load_onboarding()
    pid = await _builtin_id(api, "text-chat")
    async with _stranger(api, other_token) as mallory:
        for client, who in ((api, "alice"), (mallory, "mallory")):
            listed = (await client.get("/api/presets")).json()
            assert len(listed) == 5 and all(p["builtin"] and p["owner"] is None for p in listed)
            assert (await client.get(f"/api/presets/{pid}")).status_code == 200
            assert (await client.get(f"/api/presets/{pid}/versions")).status_code == 200
            assert (await client.get(f"/api/presets/{pid}/versions/1")).status_code == 200
            assert (await client.get(f"/api/presets/{pid}/diff", params={"from": 1, "to": 1})).status_code == 200
            assert (await client.get(f"/api/presets/{pid}/export")).status_code == 200
            fork = await client.post(f"/api/presets/{pid}/fork")
            assert fork.status_code == 201 and fork.json()["owner"] == who and not fork.json()["builtin"]
            assert (await client.put(f"/api/presets/{pid}", json={"content": CONTENT})).status_code == 403
            assert (await client.delete(f"/api/presets/{pid}")).status_code == 403
            assert (await client.post(f"/api/presets/{pid}/restore")).status_code == 403
        # Each sees only their own fork next to the builtin ones.
        assert len((await mallory.get("/api/presets")).json()) == 6
    assert len((await api.get("/api/presets")).json()) == 6
    assert (await api.get(f"/api/presets/{pid}")).json()["version"] == 1


async def test_load_onboarding_presets_is_idempotent(api: httpx.AsyncClient) -> None:
    await _load_onboarding()
    await _load_onboarding()
    assert await _count(Preset) == 5 and await _count(PresetVersion) == 5
    presets = {p["slug"]: p for p in (await api.get("/api/presets")).json()}
    assert set(presets) == {
        "text-chat",
        "russian-voice-agent",
        "function-calling-weather",
        "interruption-demo",
        "vad-tuning",
    }
    voice = (await api.get(f"/api/presets/{presets['russian-voice-agent']['id']}")).json()["content"]["session"]
    assert voice["audio"]["output"]["voice"] == "marina" and voice["audio"]["output"]["role"] == "good"
    assert voice["audio"]["input"]["languages"] == ["ru-RU"]
    assert voice["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    weather = (await api.get(f"/api/presets/{presets['function-calling-weather']['id']}")).json()["content"]
    assert weather["tool_outputs"] == {"get_weather": '{"temp_c": 3, "sky": "snow"}'}
    assert weather["session"]["tools"][0]["parameters"]["properties"]["city"]["type"] == "string"
    interrupt = (await api.get(f"/api/presets/{presets['interruption-demo']['id']}")).json()["content"]["session"]
    assert interrupt["audio"]["input"]["turn_detection"]["interrupt_response"] is True
    vad = (await api.get(f"/api/presets/{presets['vad-tuning']['id']}")).json()["content"]["session"]
    td = vad["audio"]["input"]["turn_detection"]
    assert {"threshold", "prefix_padding_ms", "silence_duration_ms"} <= set(td)
    assert all(word in vad["instructions"] for word in ("threshold", "prefix_padding_ms", "silence_duration_ms"))


async def test_a_session_starts_from_the_function_calling_preset(api: httpx.AsyncClient) -> None:
    await _load_onboarding()
    pid = await _builtin_id(api, "function-calling-weather")
    res = await api.post(f"/api/presets/{pid}/sessions", json={"upstream": "emulator"})
    assert res.status_code == 201, res.text
    session = res.json()
    assert session["upstream"] == "emulator" and session["state"] == "live"
    assert session["ws_url"] == f"ws://testserver/ws/sessions/{session['id']}/"
    assert session["config"]["tools"][0]["name"] == "get_weather"

    live = (await api.get(f"/api/sessions/{session['id']}")).json()
    assert live["state"] == "live"
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while not any(f["direction"] == "client" and f["event"]["type"] == "conversation.item.create" for f in frames):
            await asyncio.sleep(0.05)
            frames = (await api.get(f"/api/sessions/{session['id']}/events")).json()
    client = [f["event"] for f in frames if f["direction"] == "client"]
    assert [e["type"] for e in client] == ["session.update", "conversation.item.create"]
    assert client[0]["session"]["tools"][0]["name"] == "get_weather"
    assert client[1]["item"]["content"][0]["text"] == "What is the weather in Moscow right now?"


async def test_canned_tool_output_answers_the_models_call_without_code(api: httpx.AsyncClient) -> None:
    """Run the weather preset with `respond`: the model calls get_weather, the playground answers with the
    preset's canned output, and the model's next response uses it."""
    await _load_onboarding()
    pid = await _builtin_id(api, "function-calling-weather")
    preset = (await api.get(f"/api/presets/{pid}")).json()
    canned = preset["content"]["tool_outputs"]["get_weather"]
    res = await api.post(f"/api/presets/{pid}/sessions", json={"upstream": "emulator", "respond": True})
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    assert res.json()["preset"] == {"id": pid, "name": preset["name"], "version": preset["version"]}

    def done(frames: list[dict[str, Any]]) -> int:
        return sum(1 for f in frames if f["direction"] == "server" and f["event"]["type"] == "response.done")

    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(10):
        while done(frames) < 2:
            await asyncio.sleep(0.05)
            frames = (await api.get(f"/api/sessions/{sid}/events")).json()
    client = [f["event"] for f in frames if f["direction"] == "client"]
    assert [e["type"] for e in client] == [
        "session.update",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
    ]
    call = next(
        item
        for f in frames
        if f["direction"] == "server" and f["event"]["type"] == "response.done"
        for item in f["event"]["response"]["output"]
        if item["type"] == "function_call"
    )
    answer = client[3]
    assert answer["event_id"].startswith("evt_canned_")
    assert answer["item"] == {"type": "function_call_output", "call_id": call["call_id"], "output": canned}
    last = [f for f in frames if f["direction"] == "server" and f["event"]["type"] == "response.done"][-1]
    text = json.dumps(last["event"]["response"]["output"], ensure_ascii=False)
    assert "The tool answered" in text


async def test_unauthenticated_is_401(application: Any, transactional_db: None) -> None:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as anon:
        assert (await anon.get("/api/presets")).status_code == 401


async def test_the_nul_character_is_refused_naming_the_field(api: httpx.AsyncClient) -> None:
    """PostgreSQL stores no NUL: refused as bad input on every backend, before anything is written."""
    res = await api.post("/api/presets", json={"name": "a\u0000b", "content": CONTENT})
    assert res.status_code == 422 and res.json()["field"] == "name", res.text
    content = {**CONTENT, "tool_outputs": {"lookup": "4\u00002"}}
    res = await api.post("/api/presets", json={"name": "ok", "content": content})
    assert res.status_code == 422 and res.json()["field"] == "content.tool_outputs.lookup", res.text
    assert await _count(Preset) == 0
    res = await api.get("/api/sessions", params={"user": "x\u0000"})
    assert res.status_code == 422 and res.json()["field"] == "user", res.text
