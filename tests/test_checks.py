"""Running a preset's checks on the emulator through the API: every attempt a recorded session, results per check
and per assertion with reasons in words, versions side by side, repeats, limits, one check or all."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import timedelta

import httpx
import pytest
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from playground.checks.models import CheckRun
from tests.check_helpers import (
    WEATHER_TOOL,
    b64,
    encoded,
    espeak_wav,
    failed_assertions,
    only_result,
    preset_with_checks,
    run_checks,
    text_check,
    tone_wav,
)

WEATHER_CHECK = {
    "name": "calls get_weather",
    "turns": [
        {
            "user": {"type": "text", "text": "What is the weather in Oslo?"},
            "expect": [
                {
                    "type": "function_call",
                    "name": "get_weather",
                    "arguments_schema": {"type": "object", "required": ["city"]},
                    "arguments": {"city": "Oslo"},
                },
                {"type": "text_contains", "value": "sunny"},
                {"type": "response_status", "status": "completed"},
            ],
        }
    ],
}


async def test_a_run_is_recorded_sessions_with_verdicts_per_assertion(api: httpx.AsyncClient) -> None:
    checks = [
        text_check(
            "echoes",
            "Hello there",
            {"type": "text_contains", "value": "hello THERE"},
            {"type": "text_not_contains", "value": "goodbye"},
            {"type": "text_matches", "pattern": r"said: .Hello"},
            {"type": "no_function_call"},
            {"type": "response_status", "status": "completed"},
            {"type": "latency", "to": "first_text", "max_ms": 10000},
            {"type": "latency", "to": "done", "max_ms": 10000},
            {"type": "tokens", "max": 500},
            {"type": "cost", "max": 1},
        ),
        WEATHER_CHECK,
    ]
    session = {"output_modalities": ["text"], "tools": [WEATHER_TOOL]}
    preset = await preset_with_checks(api, checks, session=session, tool_outputs={"get_weather": '{"sky": "sunny"}'})
    run = await run_checks(api, preset["id"])
    assert run["state"] == "finished" and run["version"] == 1 and run["upstream"] == "emulator"
    assert run["source"] == "api"  # a bearer token's; the preset page's are "page"
    assert (run["total"], run["done"], run["passed"], run["failed"], run["errors"]) == (2, 2, 2, 0, 0)
    echoes, weather = run["results"]
    assert echoes["status"] == "passed" and echoes["reason"] == ""
    assert [a["status"] for a in echoes["assertions"]] == ["passed"] * 9
    latency = next(a for a in echoes["assertions"] if a["type"] == "latency")
    assert latency["reason"].startswith("the first text came after ") and latency["value"]["ms"] >= 0
    assert echoes["turns"][0]["answer"] == 'You said: "Hello there".'
    assert echoes["turns"][0]["tokens"]["total"] > 0
    call = weather["assertions"][0]
    assert call["reason"] == 'called get_weather({"city": "Oslo"})'
    # The canned output answered the call and the next response used it: both within the turn.
    assert "sunny" in weather["turns"][0]["answer"]
    assert weather["turns"][0]["calls"][0]["name"] == "get_weather"

    # Every attempt is an ordinary recording of the preset's version, ended, its replay linked at the moment.
    for result in run["results"]:
        session_out = (await api.get(f"/api/sessions/{result['session']}")).json()
        assert session_out["state"] == "ended"
        assert session_out["preset"] == {"id": preset["id"], "name": preset["name"], "version": 1}
        assert result["replay_url"] == f"/sessions/{result['session']}/replay/"
    frames = (await api.get(f"/api/sessions/{weather['session']}/events")).json()
    by_seq = {f["seq"]: f for f in frames}
    assert by_seq[call["seq"]]["event"]["type"] == "response.function_call_arguments.done"
    assert call["replay_url"] == f"/sessions/{weather['session']}/replay/#seq={call['seq']}"


async def test_a_version_whose_instructions_break_a_check_fails_with_the_reason(api: httpx.AsyncClient) -> None:
    """The emulator counts the instructions as input tokens: longer instructions break a token budget."""
    check = text_check("stays within budget", "Hi", {"type": "tokens", "max": 40, "kind": "input"})
    preset = await preset_with_checks(api, [check])
    first = await run_checks(api, preset["id"])
    assert only_result(first)["status"] == "passed"

    verbose = {"output_modalities": ["text"], "instructions": "Always explain everything at great length. " * 20}
    res = await api.put(f"/api/presets/{preset['id']}", json={"content": {"session": verbose, "checks": [check]}})
    assert res.status_code == 200 and res.json()["version"] == 2
    second = await run_checks(api, preset["id"])
    result = only_result(second)
    assert second["version"] == 2 and second["failed"] == 1
    assert result["status"] == "failed"
    (failure,) = failed_assertions(result)
    assert failure["label"] == "input tokens ≤ 40"
    assert failure["reason"].startswith("used ") and failure["reason"].endswith("input tokens, over the 40 allowed")
    assert result["reason"] == f"turn 1: input tokens ≤ 40: {failure['reason']}"

    # The matrix's data: both runs, newest first, each with its version and verdict.
    runs = (await api.get(f"/api/presets/{preset['id']}/check-runs")).json()
    assert [(r["version"], r["results"][0]["status"]) for r in runs] == [(2, "failed"), (1, "passed")]
    # Running an older version by number still works, and passes again.
    again = await run_checks(api, preset["id"], version=1)
    assert again["version"] == 1 and only_result(again)["status"] == "passed"


async def test_function_call_assertions_say_what_went_wrong(api: httpx.AsyncClient) -> None:
    checks = [
        text_check(
            "wrong argument",
            "What is the weather in Oslo?",
            {"type": "function_call", "name": "get_weather", "arguments": {"city": "Paris"}},
        ),
        text_check(
            "schema",
            "What is the weather in Oslo?",
            {"type": "function_call", "name": "get_weather", "arguments_schema": {"required": ["country"]}},
        ),
        text_check("no call expected", "What is the weather in Oslo?", {"type": "no_function_call"}),
        text_check("other tool", "What is the weather in Oslo?", {"type": "function_call", "name": "set_alarm"}),
        text_check("no tool at all", "Tell me a joke", {"type": "function_call", "name": "get_weather"}),
    ]
    preset = await preset_with_checks(api, checks, session={"output_modalities": ["text"], "tools": [WEATHER_TOOL]})
    run = await run_checks(api, preset["id"], concurrency=3)
    reasons = {r["check"]: failed_assertions(r)[0]["reason"] for r in run["results"]}
    assert reasons == {
        "wrong argument": 'called get_weather({"city": "Oslo"}), but argument \'city\' is "Oslo", not "Paris"',
        "schema": 'called get_weather({"city": "Oslo"}), but the arguments do not fit the schema: '
        "'country' is a required property",
        "no call expected": 'called get_weather({"city": "Oslo"})',
        "other tool": "called get_weather, not set_alarm",
        "no tool at all": 'no function was called; the answer was “You said: "Tell me a joke".”',
    }
    assert run["failed"] == 5 and {r["status"] for r in run["results"]} == {"failed"}


async def test_audio_turns_an_uploaded_file_and_espeak_speech(api: httpx.AsyncClient) -> None:
    """Both end their turn by the session's server VAD; the audio reaches the upstream at the session's rate."""
    spoken = espeak_wav("What time is it?")
    checks = [
        {
            "name": f"file {fmt}",
            "turns": [
                {
                    "user": {"type": "audio", "filename": f"question.{fmt.lower()}", "data": b64(raw)},
                    "expect": [
                        {"type": "response_status", "status": "completed"},
                        {"type": "spoken_duration", "min_ms": 100, "max_ms": 5000},
                        {"type": "text_matches", "pattern": r"speech \d+\.\d+ s"},
                    ],
                }
            ],
        }
        for fmt, raw in (
            ("WAV", spoken),
            ("MP3", encoded(spoken, "MP3")),
            ("OGG", encoded(spoken, "OGG", "VORBIS")),
            ("FLAC", encoded(spoken, "FLAC")),
        )
    ]
    checks.append(
        {
            "name": "espeak",
            "turns": [
                {
                    "user": {"type": "tts", "text": "Привет, как дела?"},
                    "expect": [{"type": "latency", "to": "first_audio", "max_ms": 10000}],
                }
            ],
        }
    )
    session = {"output_modalities": ["audio"], "audio": {"input": {"format": {"type": "audio/pcm", "rate": 44100}}}}
    preset = await preset_with_checks(api, checks, session=session)
    run = await run_checks(api, preset["id"], concurrency=3)
    assert [(r["check"], r["status"]) for r in run["results"]] == [(c["name"], "passed") for c in checks], run
    wav = run["results"][0]
    turn = wav["turns"][0]
    assert re.fullmatch(r"\(audio file question\.wav, \d\.\d s\)", turn["said"]), turn["said"]
    assert turn["note"] == "the server's VAD ended the turn"
    assert re.fullmatch(r"\(speech \d\.\d\d s\)", turn["heard"]), turn["heard"]  # the emulator's "transcript"
    espeak = run["results"][-1]["turns"][0]
    assert espeak["said"] == "Привет, как дела? (spoken by espeak-ng (voice ru))"
    # What was appended is PCM16 at the session's 44.1 kHz (plus the silence that lets the VAD end the turn).
    frames = (await api.get(f"/api/sessions/{wav['session']}/events")).json()
    appended = sum(
        len(f["event"]["audio"]) * 3 // 4
        for f in frames
        if f["direction"] == "client" and f["event"]["type"] == "input_audio_buffer.append"
    )
    assert turn["audio_in_ms"] == pytest.approx(appended / 2 / 44100 * 1000, abs=1)


async def test_without_turn_detection_an_audio_turn_is_committed_and_answered(api: httpx.AsyncClient) -> None:
    check = {
        "name": "push to talk",
        "turns": [
            {
                "user": {"type": "audio", "filename": "tone.wav", "data": b64(tone_wav(seconds=0.5))},
                "expect": [{"type": "response_status"}],
            }
        ],
    }
    session = {"output_modalities": ["text"], "audio": {"input": {"turn_detection": None}}}
    preset = await preset_with_checks(api, [check], session=session)
    result = only_result(await run_checks(api, preset["id"]))
    assert result["status"] == "passed", result
    frames = (await api.get(f"/api/sessions/{result['session']}/events")).json()
    client = [f["event"]["type"] for f in frames if f["direction"] == "client"]
    assert client[-3:] == ["input_audio_buffer.append", "input_audio_buffer.commit", "response.create"]
    assert result["turns"][0]["answer"] == 'You said: "(audio 0.50 s)".'


async def test_several_turns_and_a_turn_without_input(api: httpx.AsyncClient) -> None:
    check = {
        "name": "conversation",
        "turns": [
            {"user": {"type": "text", "text": "first"}, "expect": [{"type": "text_contains", "value": "first"}]},
            {"expect": [{"type": "text_contains", "value": "first"}]},
            {"user": {"type": "text", "text": "second"}, "expect": [{"type": "text_contains", "value": "second"}]},
        ],
    }
    preset = await preset_with_checks(api, [check])
    result = only_result(await run_checks(api, preset["id"]))
    assert result["status"] == "passed", result
    assert [t["said"] for t in result["turns"]] == ["first", "", "second"]
    assert [a["turn"] for a in result["assertions"]] == [1, 2, 3]


@override_settings(PLAYGROUND_EMULATOR_PACE=2)
async def test_a_turn_without_an_answer_in_time_is_an_error_and_the_rest_is_not_played(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The emulator sends 2 events a second here: an answer takes seconds, the turn waits 0.3 s."""
    monkeypatch.setattr("playground.checks.turns.TURN_TIMEOUT_S", 0.3)
    check = {
        "name": "slow",
        "turns": [
            {"user": {"type": "text", "text": "one"}, "expect": [{"type": "response_status"}]},
            {"user": {"type": "text", "text": "two"}, "expect": [{"type": "no_function_call"}]},
        ],
    }
    preset = await preset_with_checks(api, [check])
    result = only_result(await run_checks(api, preset["id"]))
    assert result["status"] == "error"
    assert result["reason"] == "turn 1 did not finish: no answer finished within 0 s"
    assert [(a["turn"], a["status"], a["reason"]) for a in result["assertions"]] == [
        (1, "error", "not evaluated: the turn did not finish (no answer finished within 0 s)"),
        (2, "error", "not evaluated: the turn did not finish (not played)"),
    ]
    assert [t["problem"] for t in result["turns"]] == ["no answer finished within 0 s", "not played"]
    # The session is closed all the same: its recording ends there.
    assert (await api.get(f"/api/sessions/{result['session']}")).json()["state"] == "ended"


async def test_repeat_gives_a_pass_rate_and_one_check_can_run_alone(api: httpx.AsyncClient) -> None:
    checks = [
        text_check("a", "one", {"type": "text_contains", "value": "one"}),
        text_check("b", "two", {"type": "text_contains", "value": "nope"}),
    ]
    preset = await preset_with_checks(api, checks)
    run = await run_checks(api, preset["id"], repeat=3)
    assert run["total"] == 6 and run["repeat"] == 3
    assert [(r["check"], r["attempt"], r["status"]) for r in run["results"]] == [
        ("a", 1, "passed"),
        ("a", 2, "passed"),
        ("a", 3, "passed"),
        ("b", 1, "failed"),
        ("b", 2, "failed"),
        ("b", 3, "failed"),
    ]
    assert len({r["session"] for r in run["results"]}) == 6
    alone = await run_checks(api, preset["id"], check="b")
    assert alone["check"] == "b" and [r["check"] for r in alone["results"]] == ["b"]


async def test_refusals_of_a_run_name_the_field(api: httpx.AsyncClient) -> None:
    empty = (await api.post("/api/presets", json={"name": "No checks"})).json()
    res = await api.post(f"/api/presets/{empty['id']}/check-runs", json={"upstream": "emulator"})
    assert res.status_code == 422 and res.json()["field"] == "check" and "has no checks" in res.json()["detail"]
    preset = await preset_with_checks(api, [text_check("a", "x", {"type": "response_status"})])
    res = await api.post(f"/api/presets/{preset['id']}/check-runs", json={"check": "zzz"})
    assert res.status_code == 422 and res.json()["field"] == "check" and "“a”" in res.json()["detail"]
    res = await api.post(f"/api/presets/{preset['id']}/check-runs", json={"upstream": "yandex"})
    assert res.status_code == 422 and res.json()["field"] == "upstream" and "YC_API_KEY" in res.json()["detail"]
    res = await api.post(f"/api/presets/{preset['id']}/check-runs", json={"repeat": 0})
    assert res.status_code == 422 and res.json()["field"] == "repeat"
    res = await api.post(f"/api/presets/{preset['id']}/check-runs", json={"version": 9})
    assert res.status_code == 404 and res.json()["field"] == "version"
    assert await database_sync_to_async(CheckRun.objects.count)() == 0


@override_settings(PLAYGROUND_LIVE_SESSIONS_PER_USER=1)
async def test_concurrency_stays_within_the_session_limits(api: httpx.AsyncClient) -> None:
    checks = [text_check(f"c{i}", f"turn {i}", {"type": "response_status"}) for i in range(3)]
    preset = await preset_with_checks(api, checks)
    run = await run_checks(api, preset["id"], concurrency=5)
    assert run["concurrency"] == 1 and run["passed"] == 3
    # One at a time: each attempt started after the one before had finished.
    spans = sorted((r["started_at"], r["finished_at"]) for r in run["results"])
    assert all(later[0] >= earlier[1] for earlier, later in itertools.pairwise(spans))


async def test_a_stranger_sees_no_run(api: httpx.AsyncClient, other_token: str) -> None:
    preset = await preset_with_checks(api, [text_check("a", "x", {"type": "response_status"})])
    run = await run_checks(api, preset["id"])
    headers = {"Authorization": f"Bearer {other_token}"}
    assert (await api.get(f"/api/check-runs/{run['id']}", headers=headers)).status_code == 404
    assert (await api.get(f"/api/presets/{preset['id']}/check-runs", headers=headers)).status_code == 404
    assert (await api.post(f"/api/check-runs/{run['id']}/cancel", headers=headers)).status_code == 404
    res = await api.post(f"/api/check-runs/{run['id']}/cancel")
    assert res.status_code == 409 and "finished" in res.json()["detail"]


async def test_a_run_whose_worker_stopped_shows_as_interrupted(api: httpx.AsyncClient) -> None:
    preset = await preset_with_checks(api, [text_check("a", "x", {"type": "response_status"})])
    run = await run_checks(api, preset["id"])

    def orphan() -> None:
        stale = timezone.now() - timedelta(minutes=5)
        CheckRun.objects.filter(pk=run["id"]).update(state="running", heartbeat_at=stale)

    await database_sync_to_async(orphan)()
    assert (await api.get(f"/api/check-runs/{run['id']}")).json()["state"] == "interrupted"


async def test_cancel_stops_the_attempts_not_yet_started(api: httpx.AsyncClient) -> None:
    checks = [text_check(f"c{i}", "x", {"type": "response_status"}) for i in range(4)]
    preset = await preset_with_checks(api, checks)
    res = await api.post(f"/api/presets/{preset['id']}/check-runs", json={"upstream": "emulator", "concurrency": 1})
    run = res.json()
    cancelled = await api.post(f"/api/check-runs/{run['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    async with asyncio.timeout(30):
        while run["state"] in ("queued", "running"):
            await asyncio.sleep(0.05)
            run = (await api.get(f"/api/check-runs/{run['id']}")).json()
    assert run["state"] == "cancelled" and "not yet started" in run["message"]
    statuses = [r["status"] for r in run["results"]]
    assert statuses.count("cancelled") >= 3 and set(statuses) <= {"passed", "cancelled"}
    assert all(r["reason"] == "not run: the run was cancelled" for r in run["results"] if r["status"] == "cancelled")
