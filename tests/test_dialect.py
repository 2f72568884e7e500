"""The OpenAI ↔ Yandex translator on its own (playground/realtime/dialect/): pure code, no sockets.

What a client sees is checked against the official `openai` types (RealtimeServerEvent), what Yandex
gets against the playground's schema of Yandex's client events (events.py) and the emulator's own
checks of a session (emulator/session_config.py); the served app and real clients are in
test_openai_clients.py.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent

from emulator import default_session
from emulator.protocol import ClientError
from emulator.session_config import VOICES, check_known, check_session, deep_merge
from playground.realtime.dialect import DEFAULT_VOICE_MAP, YANDEX_VOICES, OpenAIDialect, VoiceMap
from playground.realtime.dialect.mapping import DROPPED, EAGERNESS_SILENCE_MS
from playground.realtime.events import parse_client_event

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)

# What the OpenAI Agents SDK (0.24) sends first with its default settings and one tool.
AGENTS_DEFAULT_UPDATE = {
    "type": "session.update",
    "session": {
        "type": "realtime",
        "model": "gpt-realtime-2.1",
        "output_modalities": ["audio"],
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-mini-transcribe"},
                "turn_detection": {"type": "semantic_vad", "interrupt_response": True},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "ash"},
        },
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather", "parameters": {}}],
        "instructions": "Be brief.",
    },
}


def session_created(rate: int = 44100) -> str:
    return json.dumps({"type": "session.created", "event_id": "event_0001", "session": default_session("s", rate)})


def upstream_session_after(updates: list[dict[str, Any]], rate: int = 44100) -> dict[str, Any]:
    """The emulator's session after these upstream session.updates, each checked as the emulator checks it."""
    session = default_session("s", rate)
    for update in updates:
        patch = update["session"]
        check_known(patch)
        session = deep_merge(session, patch)
        check_session(session, rate)
    return session


def translate(dialect: OpenAIDialect, event: dict[str, Any]) -> Any:
    """(upstream events, each valid in Yandex's schema; dropped problems) of one client event."""
    out = dialect.from_client(event)
    assert out.refused is None, out.refused
    for upstream in out.events:
        parse_client_event(upstream)
    out.applied()  # as the socket does once Yandex's schema took the events
    return out.events, out.dropped


def shown(dialect: OpenAIDialect, text: str) -> list[dict[str, Any]]:
    """What the client gets for one upstream event, each validated by openai's own types."""
    events = [json.loads(t) for t in dialect.from_server(text)]
    for event in events:
        SERVER_EVENT.validate_python(event)
    return events


def pcm(samples: np.ndarray) -> str:
    return base64.b64encode(samples.astype("<i2").tobytes()).decode()


def samples(b64: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), dtype="<i2")


# --- the session ---------------------------------------------------------------------------------------------


def test_the_agents_sdk_defaults_map_without_a_single_dropped_field() -> None:
    dialect = OpenAIDialect()
    shown(dialect, session_created())
    events, dropped = translate(dialect, AGENTS_DEFAULT_UPDATE)
    assert dropped == []
    [update] = events
    # Yandex's dialect: server VAD, a SpeechKit voice, no OpenAI model names, no format (it stays Yandex's).
    assert update["session"] == {
        "type": "realtime",
        "instructions": "Be brief.",
        "output_modalities": ["audio"],
        "tools": AGENTS_DEFAULT_UPDATE["session"]["tools"],
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "interrupt_response": True}},
            "output": {"voice": "filipp"},
        },
    }
    upstream = upstream_session_after([update])
    [back] = shown(dialect, json.dumps({"type": "session.updated", "event_id": "e2", "session": upstream}))
    # The client sees what it asked for, in its own terms.
    audio = back["session"]["audio"]
    assert audio["input"]["format"] == audio["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert audio["input"]["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "auto",
        "create_response": True,
        "interrupt_response": True,
    }
    assert audio["input"]["transcription"] == {"model": "gpt-4o-mini-transcribe"}
    assert audio["output"]["voice"] == "ash"
    assert back["session"]["tools"][0]["name"] == "get_weather"


@pytest.mark.parametrize(("eagerness", "silence"), sorted(EAGERNESS_SILENCE_MS.items()))
def test_semantic_vad_eagerness_is_a_silence_length(eagerness: str, silence: int) -> None:
    session = {"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": eagerness}}}}
    events, dropped = translate(OpenAIDialect(), {"type": "session.update", "session": session})
    assert dropped == []
    assert events[0]["session"]["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "silence_duration_ms": silence,
    }
    assert EAGERNESS_SILENCE_MS["low"] > EAGERNESS_SILENCE_MS["medium"] > EAGERNESS_SILENCE_MS["high"]


def test_fields_yandex_lacks_are_dropped_by_name_and_the_rest_applies() -> None:
    dialect = OpenAIDialect()
    session = {
        "type": "realtime",
        "instructions": "Answer like a pirate.",
        "include": ["item.input_audio_transcription.logprobs"],
        "prompt": {"id": "pmpt_123"},
        "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
        "parallel_tool_calls": True,
        "reasoning": {"effort": "low"},
        "tool_choice": {"type": "mcp", "server_label": "deepwiki"},
        "audio": {
            "input": {
                "noise_reduction": {"type": "near_field"},
                "turn_detection": {"type": "server_vad", "threshold": 0.7, "idle_timeout_ms": 5000},
                "transcription": {"model": "whisper-1", "language": "ru", "prompt": "names"},
            },
            "output": {"voice": {"id": "voice_1234"}, "speed": 1.2},
        },
    }
    events, dropped = translate(dialect, {"type": "session.update", "event_id": "evt_1", "session": session})
    assert {p.param for p in dropped} == {
        "session.include",
        "session.prompt",
        "session.truncation",
        "session.parallel_tool_calls",
        "session.reasoning",
        "session.tool_choice",
        "session.audio.input.noise_reduction",
        "session.audio.input.turn_detection.idle_timeout_ms",
        "session.audio.input.transcription.prompt",
        "session.audio.output.voice",
    }
    assert all(p.code == DROPPED and p.param in p.message and "rest of the event applies" in p.message for p in dropped)
    voice = next(p for p in dropped if p.param == "session.audio.output.voice")
    assert "marina" in voice.message and "PLAYGROUND_VOICE_MAP" in voice.message
    # The rest goes upstream, and the emulator takes it.
    [update] = events
    assert update["event_id"] == "evt_1"
    assert update["session"] == {
        "type": "realtime",
        "instructions": "Answer like a pirate.",
        "audio": {
            "input": {"turn_detection": {"type": "server_vad", "threshold": 0.7}, "languages": ["ru-RU"]},
            "output": {"speed": 1.2},
        },
    }
    upstream_session_after([update])


def test_what_is_served_here_is_sent_nowhere_and_shown_back_as_asked() -> None:
    dialect = OpenAIDialect()
    session = {"type": "realtime", "tracing": "auto", "truncation": "auto", "include": [], "prompt": None}
    events, dropped = translate(dialect, {"type": "session.update", "session": session})
    assert dropped == []
    assert events[0]["session"] == {"type": "realtime"}
    [back] = shown(dialect, session_created())
    assert (back["session"]["tracing"], back["session"]["truncation"]) == ("auto", "auto")
    assert (back["session"]["include"], back["session"]["prompt"]) == ([], None)


@pytest.mark.parametrize(
    ("session", "param", "code"),
    [
        ({"type": "transcription"}, "session.type", "unsupported_value"),
        ({"instrutions": "typo"}, "session.instrutions", "unknown_parameter"),
        ({"audio": {"input": {"format": {"type": "audio/flac"}}}}, "session.audio.input.format.type", "invalid_value"),
        ({"audio": {"output": {"format": {"type": "audio/pcm", "rate": 5}}}}, "session.audio.output.format.rate", None),
        (
            {"audio": {"input": {"turn_detection": {"type": "psychic"}}}},
            "session.audio.input.turn_detection.type",
            None,
        ),
        ({"audio": {"input": {"turn_detection": {"type": "semantic_vad", "eagerness": "eager"}}}}, None, None),
        ({"audio": "loud"}, "session.audio", "invalid_type"),
    ],
)
def test_what_cannot_be_served_refuses_the_event_naming_the_field(
    session: dict[str, Any], param: str | None, code: str | None
) -> None:
    dialect = OpenAIDialect()
    out = dialect.from_client({"type": "session.update", "session": session})
    assert out.refused is not None and out.events == []
    if param is not None:
        assert out.refused.param == param
    if code is not None:
        assert out.refused.code == code
    assert out.refused.message
    # Nothing changed: the formats are still OpenAI's defaults.
    [back] = shown(dialect, session_created())
    assert back["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}


def test_voices_map_by_the_table_pass_yandex_names_and_follow_the_setting() -> None:
    assert set(DEFAULT_VOICE_MAP.values()) <= set(YANDEX_VOICES)
    assert set(YANDEX_VOICES) == VOICES  # the emulator accepts exactly Yandex's voices
    voices = VoiceMap({"alloy": "marina", "newvoice": "newvoice"})
    assert voices.to_yandex("alloy") == "marina"  # the setting wins
    assert voices.to_yandex("ash") == DEFAULT_VOICE_MAP["ash"]
    assert voices.to_yandex("dasha") == "dasha"  # a Yandex voice passes
    assert voices.to_yandex("newvoice") == "newvoice"
    assert voices.to_yandex("nobody") is None and voices.to_yandex({"id": "voice_1"}) is None

    dialect = OpenAIDialect()
    for name in ("cedar", "dasha"):
        events, dropped = translate(
            dialect, {"type": "session.update", "session": {"audio": {"output": {"voice": name}}}}
        )
        assert dropped == []
        yandex = events[0]["session"]["audio"]["output"]["voice"]
        assert yandex == DEFAULT_VOICE_MAP.get(name, name)
        [back] = shown(
            dialect, json.dumps({"type": "session.updated", "event_id": "e", "session": upstream_session_after(events)})
        )
        assert back["session"]["audio"]["output"]["voice"] == name


# --- responses ------------------------------------------------------------------------------------------------


def test_a_response_override_maps_its_voice_and_keeps_the_sessions_format() -> None:
    dialect = OpenAIDialect()
    event = {
        "type": "response.create",
        "response": {
            "instructions": "Shout.",
            "audio": {"output": {"voice": "echo", "format": {"type": "audio/pcmu"}}},
            "metadata": {"topic": "weather"},
        },
    }
    events, dropped = translate(dialect, event)
    assert [p.param for p in dropped] == ["response.audio.output.format"]
    assert events[0]["response"] == {
        "instructions": "Shout.",
        "metadata": {"topic": "weather"},
        "audio": {"output": {"voice": "alexander"}},
    }
    done = {
        "type": "response.done",
        "event_id": "e9",
        "response": {
            "id": "resp_1",
            "object": "realtime.response",
            "status": "completed",
            "output": [],
            "audio": {"output": {"format": {"type": "audio/pcm", "rate": 44100}, "voice": "alexander"}},
        },
    }
    [back] = shown(dialect, json.dumps(done))
    assert back["response"]["audio"]["output"] == {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "echo"}


def test_a_responses_own_input_may_reference_items_and_carry_audio() -> None:
    dialect = OpenAIDialect()
    audio = {"type": "input_audio", "audio": pcm(np.zeros(240, np.int16))}
    response = {"conversation": "none", "input": [{"type": "item_reference", "id": "item_1"}]}
    response["input"].append({"type": "message", "role": "user", "content": [audio]})
    events, dropped = translate(dialect, {"type": "response.create", "response": response})
    assert dropped == []
    [reference, message] = events[0]["response"]["input"]
    assert reference == {"type": "item_reference", "id": "item_1"}
    assert len(samples(message["content"][0]["audio"])) == 441  # 10 ms at 44.1 kHz


def test_events_with_nothing_to_translate_go_through_byte_for_byte() -> None:
    dialect = OpenAIDialect()
    text = '{"type":"response.output_text.delta","event_id":"e5","delta":"Hi \\u00e9",  "x":1.50}'
    assert dialect.from_server(text) == [text]
    item = '{"type":"conversation.item.added","event_id":"e6","item":{"type":"message","content":[]}}'
    assert dialect.from_server(item) == [item]
    error = '{"type":"error","event_id":"e7","error":{"type":"invalid_request_error","message":"no"}}'
    assert dialect.from_server(error) == [error]


# --- audio through the translator --------------------------------------------------------------------------


def test_appends_are_resampled_to_the_upstreams_rate_and_a_commit_flushes_the_rest() -> None:
    dialect = OpenAIDialect()
    shown(dialect, session_created())
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(24000) / 24000)).astype(np.int16)
    sent: list[np.ndarray] = []
    for start in range(0, 24000, 480):  # 20 ms chunks
        events, _ = translate(dialect, {"type": "input_audio_buffer.append", "audio": pcm(tone[start : start + 480])})
        sent += [samples(e["audio"]) for e in events]
    events, _ = translate(dialect, {"type": "input_audio_buffer.commit", "event_id": "evt_c"})
    assert [e["type"] for e in events] == ["input_audio_buffer.append", "input_audio_buffer.commit"]
    assert events[1]["event_id"] == "evt_c"
    sent.append(samples(events[0]["audio"]))
    assert sum(len(s) for s in sent) == 44100  # one second in, one second out, exactly


def test_the_upstreams_rate_is_read_from_its_session() -> None:
    dialect = OpenAIDialect()
    shown(dialect, session_created(rate=24000))  # an upstream at 24 kHz: nothing to resample
    chunk = pcm(np.arange(480, dtype=np.int16))
    events, _ = translate(dialect, {"type": "input_audio_buffer.append", "audio": chunk})
    assert events[0]["audio"] == chunk
    delta = json.dumps({"type": "response.output_audio.delta", "event_id": "e", "item_id": "i", "delta": chunk})
    assert dialect.from_server(delta) == [delta]  # as it came, not even parsed


def test_an_answers_audio_comes_back_at_the_clients_rate_with_its_tail_before_done() -> None:
    dialect = OpenAIDialect()
    shown(dialect, session_created())
    where = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    word = (1000 * np.sin(2 * np.pi * 500 * np.arange(2646) / 44100)).astype(np.int16)  # 60 ms at 44.1 kHz
    got: list[dict[str, Any]] = []
    for n in range(5):
        got += shown(
            dialect,
            json.dumps({"type": "response.output_audio.delta", "event_id": f"e{n}", **where, "delta": pcm(word)}),
        )
    got += shown(dialect, json.dumps({"type": "response.output_audio.done", "event_id": "e9", **where}))
    assert got[-1]["type"] == "response.output_audio.done" and got[-1]["event_id"] == "e9"
    deltas = [e for e in got if e["type"] == "response.output_audio.delta"]
    assert all({k: e[k] for k in where} == where for e in deltas)
    assert sum(len(samples(e["delta"])) for e in deltas) == 5 * 1440  # 300 ms at 24 kHz, exactly


def test_g711_both_ways_at_8_khz() -> None:
    for kind in ("audio/pcmu", "audio/pcma"):
        dialect = OpenAIDialect()
        fmt = {"type": kind}
        session = {"audio": {"input": {"format": fmt}, "output": {"format": fmt}}}
        translate(dialect, {"type": "session.update", "session": session})
        [back] = shown(dialect, session_created())
        assert back["session"]["audio"]["output"]["format"] == {"type": kind}
        events, _ = translate(
            dialect, {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(800)).decode()}
        )
        events += translate(dialect, {"type": "input_audio_buffer.commit"})[0]
        assert sum(len(samples(e["audio"])) for e in events if "audio" in e) == 4410  # 100 ms at 44.1 kHz
        where = {"response_id": "r", "item_id": "i", "output_index": 0, "content_index": 0}
        got = shown(
            dialect,
            json.dumps(
                {
                    "type": "response.output_audio.delta",
                    "event_id": "e",
                    **where,
                    "delta": pcm(np.zeros(4410, np.int16)),
                }
            ),
        )
        got += shown(dialect, json.dumps({"type": "response.output_audio.done", "event_id": "f", **where}))
        assert sum(len(base64.b64decode(e["delta"])) for e in got if "delta" in e) == 800  # a byte a sample


def test_item_audio_is_converted_both_ways() -> None:
    dialect = OpenAIDialect()
    shown(dialect, session_created())
    item = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": pcm(np.zeros(2400, np.int16))}],
    }
    events, _ = translate(dialect, {"type": "conversation.item.create", "item": item})
    assert len(samples(events[0]["item"]["content"][0]["audio"])) == 4410
    retrieved = {
        "type": "conversation.item.retrieved",
        "event_id": "e",
        "item": {
            "id": "item_1",
            "object": "realtime.item",
            "type": "message",
            "role": "user",
            "status": "completed",
            "content": [{"type": "input_audio", "audio": pcm(np.zeros(4410, np.int16)), "transcript": "hi"}],
        },
    }
    [back] = shown(dialect, json.dumps(retrieved))
    assert len(samples(back["item"]["content"][0]["audio"])) == 2400


def test_bad_audio_is_refused_naming_the_field() -> None:
    out = OpenAIDialect().from_client({"type": "input_audio_buffer.append", "audio": "%% not base64"})
    assert out.refused is not None and out.refused.param == "audio" and out.events == []


def test_the_emulator_refuses_what_the_adapter_must_not_send() -> None:
    """The stand-in for Yandex refuses OpenAI's names and rates, so a mapping left out fails the tests."""
    for patch, param in (
        ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 24000}}}}, "session.audio.input.format.rate"),
        ({"audio": {"output": {"format": {"type": "audio/pcmu"}}}}, "session.audio.output.format.type"),
        ({"audio": {"output": {"voice": "alloy"}}}, "session.audio.output.voice"),
        ({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}, "session.audio.input.turn_detection"),
        ({"audio": {"input": {"turn_detection": {"type": "server_vad", "idle_timeout_ms": 1}}}}, None),
        ({"tracing": "auto"}, "session.tracing"),
        ({"include": []}, "session.include"),
    ):
        with pytest.raises(ClientError) as refused:
            upstream_session_after([{"session": patch}])
        if param is not None:
            assert refused.value.param == param
