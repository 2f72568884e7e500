"""From the console: "Add as check" turns the conversation just held into a check of its preset, and an audio
file is sent as the user's turn (decoded, resampled to the session's rate, appended, committed)."""

from __future__ import annotations

import asyncio
import base64
import io
from typing import Any

import httpx
import soundfile
from channels.db import database_sync_to_async

from tests.check_helpers import WEATHER_TOOL, encoded, espeak_wav, preset_with_checks, run_checks, tone_wav
from tests.test_relay_path import create_session


async def _frames(api: httpx.AsyncClient, sid: str) -> list[dict[str, Any]]:
    return list((await api.get(f"/api/sessions/{sid}/events")).json())


async def _wait(api: httpx.AsyncClient, sid: str, count: int, kind: str = "response.done") -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            frames = await _frames(api, sid)
            if sum(1 for f in frames if f["direction"] == "server" and f["event"]["type"] == kind) >= count:
                return frames
            await asyncio.sleep(0.05)


async def _send(api: httpx.AsyncClient, sid: str, event: dict[str, Any]) -> None:
    res = await api.post(f"/api/sessions/{sid}/client-events/{event['type']}", json=event)
    assert res.status_code == 200, res.text


def _say(text: str) -> dict[str, Any]:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return {"type": "conversation.item.create", "item": item}


async def test_add_as_check_makes_a_check_of_the_conversation_that_then_passes(api: httpx.AsyncClient) -> None:
    session = {"output_modalities": ["text"], "tools": [WEATHER_TOOL], "audio": {"input": {"turn_detection": None}}}
    preset = await preset_with_checks(api, [], session=session, name="Weather desk")
    opened = await api.post(f"/api/presets/{preset['id']}/sessions", json={"upstream": "emulator"})
    sid = opened.json()["id"]
    # Turn 1 typed (answered by a function call the user answers by hand); turn 2 spoken (a WAV, pushed to talk).
    await _send(api, sid, _say("What is the weather in Oslo?"))
    await _send(api, sid, {"type": "response.create"})
    frames = await _wait(api, sid, 1)
    call = next(f["event"] for f in frames if f["event"]["type"] == "response.function_call_arguments.done")
    output = {"type": "function_call_output", "call_id": call["call_id"], "output": '{"sky": "grey"}'}
    await _send(api, sid, {"type": "conversation.item.create", "item": output})
    await _send(api, sid, {"type": "response.create"})
    await _wait(api, sid, 2)
    res = await api.post(
        f"/api/sessions/{sid}/audio-turn", files={"file": ("hello.wav", tone_wav(seconds=0.4), "audio/wav")}
    )
    assert res.status_code == 200, res.text
    await _wait(api, sid, 3)

    res = await api.post(f"/api/sessions/{sid}/check", json={"name": "weather then a tone"})
    assert res.status_code == 201, res.text
    added = res.json()
    assert added["preset"]["id"] == preset["id"] and added["version"] == 2
    assert added["preset_url"] == f"/presets/{preset['id']}/#checks"
    check = added["check"]
    assert check["name"] == "weather then a tone"
    assert check["tool_outputs"] == {"get_weather": '{"sky": "grey"}'}
    first, second = check["turns"]
    assert first["user"] == {"type": "text", "text": "What is the weather in Oslo?"}
    assert first["expect"] == [
        {"type": "response_status", "status": "completed"},
        {"type": "function_call", "name": "get_weather", "arguments": {"city": "Oslo"}},
    ]
    assert second["user"]["type"] == "audio" and second["user"]["filename"] == "turn-2.flac"
    data, rate = soundfile.read(io.BytesIO(base64.b64decode(second["user"]["data"])))
    assert rate == 44100 and abs(len(data) / rate - 0.4) < 0.01
    assert second["expect"] == [{"type": "response_status", "status": "completed"}, {"type": "no_function_call"}]
    await api.post(f"/api/sessions/{sid}/close")

    # The preset's checks now hold it, and it passes against the emulator.
    run = await run_checks(api, preset["id"])
    assert [(r["check"], r["status"]) for r in run["results"]] == [("weather then a tone", "passed")], run
    # Adding again keeps the first: a new name is found.
    again = await api.post(f"/api/sessions/{sid}/check", json={"name": "weather then a tone"})
    assert again.json()["check"]["name"] == "weather then a tone (2)"


async def test_add_as_check_refusals(api: httpx.AsyncClient) -> None:
    plain = await create_session(api)
    res = await api.post(f"/api/sessions/{plain['id']}/check", json={})
    assert res.status_code == 409 and "not started from a preset" in res.json()["detail"]

    preset = await preset_with_checks(api, [])
    sid = (await api.post(f"/api/presets/{preset['id']}/sessions", json={"upstream": "emulator"})).json()["id"]
    res = await api.post(f"/api/sessions/{sid}/check", json={})
    assert res.status_code == 409 and "no answered turn" in res.json()["detail"]

    from playground.presets.services import presets_onboarding_load

    await database_sync_to_async(presets_onboarding_load)()
    chat = next(p for p in (await api.get("/api/presets")).json() if p["slug"] == "text-chat")
    sid = (await api.post(f"/api/presets/{chat['id']}/sessions", json={"upstream": "emulator"})).json()["id"]
    await _send(api, sid, _say("Hi"))
    await _send(api, sid, {"type": "response.create"})
    await _wait(api, sid, 1)
    res = await api.post(f"/api/sessions/{sid}/check", json={})
    assert res.status_code == 403 and "builtin" in res.json()["detail"]


async def test_an_audio_file_is_the_users_turn_at_the_sessions_rate(api: httpx.AsyncClient) -> None:
    """Server VAD on (the emulator's default): the file, then silence; the VAD commits and the server answers."""
    session = await create_session(
        api,
        # 44.1 kHz: the rate the emulator (as Yandex) serves; the file is 22.05 kHz, so it is resampled.
        session={"output_modalities": ["text"], "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}},
    )
    sid = session["id"]
    spoken = encoded(espeak_wav("Good morning"), "MP3")
    res = await api.post(f"/api/sessions/{sid}/audio-turn", files={"file": ("morning.mp3", spoken, "audio/mpeg")})
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["filename"] == "morning.mp3" and out["source_rate"] == 22050 and out["rate"] == 44100
    assert out["committed_by"] == "server_vad" and out["note"] == "the server's VAD ended the turn"
    frames = await _wait(api, sid, 1)
    client = [f["event"] for f in frames if f["direction"] == "client"]
    assert [e["type"] for e in client[1:]] == ["input_audio_buffer.append"] * len(client[1:])
    appended = b"".join(base64.b64decode(e["audio"]) for e in client[1:])
    # The speech at 16 kHz, then the VAD's 500 ms of silence and a 500 ms margin, so the VAD ends the turn.
    assert abs(len(appended) / 2 / 44100 - (out["seconds"] + 1.0)) < 0.001
    last_append = max(f["seq"] for f in frames if f["direction"] == "client")
    committed = [f["seq"] for f in frames if f["event"]["type"] == "input_audio_buffer.committed"]
    assert len(committed) == 1 and out["first_seq"] < committed[0] <= last_append + 10


async def test_without_turn_detection_the_file_is_committed_and_answered(api: httpx.AsyncClient) -> None:
    session = await create_session(
        api, session={"output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
    )
    sid = session["id"]
    res = await api.post(
        f"/api/sessions/{sid}/audio-turn",
        files={"file": ("tone.flac", encoded(tone_wav(seconds=0.25), "FLAC"), "audio/flac")},
    )
    assert res.status_code == 200 and res.json()["committed_by"] == "playground", res.text
    frames = await _wait(api, sid, 1)
    client = [f["event"]["type"] for f in frames if f["direction"] == "client"]
    assert client[-3:] == ["input_audio_buffer.append", "input_audio_buffer.commit", "response.create"]
    answer = "".join(f["event"]["delta"] for f in frames if f["event"]["type"] == "response.output_text.delta")
    assert answer == 'You said: "(audio 0.25 s)".'

    # Without asking for a response: appended and committed only.
    res = await api.post(
        f"/api/sessions/{sid}/audio-turn",
        files={"file": ("tone.wav", tone_wav(seconds=0.1), "audio/wav")},
        data={"respond": "false"},
    )
    assert res.status_code == 200, res.text
    frames = await _wait(api, sid, 2, kind="input_audio_buffer.committed")
    assert [f["event"]["type"] for f in frames if f["direction"] == "client"][-1] == "input_audio_buffer.commit"


async def test_an_audio_turn_refuses_what_is_not_audio_or_not_live(api: httpx.AsyncClient) -> None:
    session = await create_session(api)
    res = await api.post(
        f"/api/sessions/{session['id']}/audio-turn", files={"file": ("notes.txt", b"hello", "text/plain")}
    )
    assert res.status_code == 422 and res.json()["field"] == "file"
    assert "notes.txt is not an audio file that can be read" in res.json()["detail"]
    assert [f["event"]["type"] for f in await _frames(api, session["id"]) if f["direction"] == "client"] == [
        "session.update"
    ]
    await api.post(f"/api/sessions/{session['id']}/close")
    res = await api.post(
        f"/api/sessions/{session['id']}/audio-turn", files={"file": ("a.wav", tone_wav(seconds=0.1), "audio/wav")}
    )
    assert res.status_code == 409 and "not live" in res.json()["detail"]
