"""Real OpenAI realtime clients, unchanged, against a served playground (uvicorn, the emulator upstream).

- The official `openai` SDK: every server event it gets is validated as its own types define it
  (`RealtimeServerEvent`, strict) and dumped through its models, with warnings as errors (pydantic warns
  on a value its types do not allow, as it did for Yandex's 44.1 kHz rates).
- The OpenAI Agents SDK: a `RealtimeAgent` with one function tool and the SDK's default settings, in text
  and in audio: the tool runs, its output is in the answer, no `error` event.
- Audio: a 440 Hz tone sent at 24 kHz reaches Yandex (the recording keeps what it got) at 44.1 kHz, as
  long and at the same pitch; the answer comes back at 24 kHz (or G.711 at 8 kHz), as long as Yandex sent.

The Node `openai` package is in test_openai_node.py. The emulator calls a function tool when the user's
words name it ("weather" calls get_weather; emulator/tools.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pydantic
import pytest
from openai.types.realtime import RealtimeServerEvent

from tests.live_server import api_token, served_playground

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # the reference G.711 codec (Python ≤ 3.12): an outside oracle for the adapter's

pytestmark = pytest.mark.filterwarnings("error")

SERVER_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RealtimeServerEvent)
UPSTREAM_RATE = 44100  # the emulator's, as Yandex's
WORD_MS = 60  # the emulator speaks 60 ms of a 500 Hz tone per word
VOICE_HZ = 500


@dataclass
class Served:
    base: str
    token: str

    @property
    def ws(self) -> str:
        return self.base.replace("http://", "ws://")

    async def api(self, path: str) -> Any:
        async with httpx.AsyncClient(base_url=self.base, headers={"Authorization": f"Bearer {self.token}"}) as http:
            res = await http.get(path)
            res.raise_for_status()
            return res.json()

    async def latest_session(self) -> dict[str, Any]:
        return dict((await self.api("/api/sessions?limit=1"))[0])

    async def upstream_events(self, session_id: str, until: str, count: int = 1) -> list[dict[str, Any]]:
        """The recorded events (what Yandex got and sent), once they hold `count` of type `until`."""
        async with asyncio.timeout(10):
            while True:
                frames = await self.api(f"/api/sessions/{session_id}/events?limit=10000")
                events = [f["event"] for f in frames if f.get("event")]
                if sum(1 for e in events if e["type"] == until) >= count:
                    return events
                await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    var_dir: Path = tmp_path_factory.mktemp("clients")
    with served_playground(var_dir) as base:
        yield Served(base=base, token=api_token(var_dir))


# --- audio helpers ---------------------------------------------------------------------------------------------


def sine(rate: int, seconds: float, hz: float, amplitude: int = 8000) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * hz * np.arange(round(rate * seconds)) / rate)).astype(np.int16)


def pcm_bytes(samples: np.ndarray) -> bytes:
    return samples.astype("<i2").tobytes()


def pcm_of(b64s: list[str]) -> np.ndarray:
    return np.frombuffer(b"".join(base64.b64decode(b) for b in b64s), dtype="<i2")


def peak_hz(samples: np.ndarray, rate: int) -> float:
    """The spectral peak, between FFT bins by a parabola through the top three."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    k = int(np.argmax(spectrum[1:-1])) + 1
    a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
    return float((k + 0.5 * (a - c) / (a - 2 * b + c)) * rate / len(samples))


# --- the official SDK ------------------------------------------------------------------------------------------


class Checked:
    """The SDK's connection; each server event is checked by openai's own types before it is used."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.events: list[Any] = []

    async def next(self, within: float = 15) -> Any:
        raw = await asyncio.wait_for(self.conn.recv_bytes(), within)
        SERVER_EVENT.validate_json(raw)  # strict: a value outside the types fails here
        event = self.conn.parse_event(raw)
        event.model_dump(mode="json")  # the SDK's own serializer warns (an error here) on the same
        self.events.append(event)
        return event

    async def until(self, type_: str, count: int = 1) -> list[Any]:
        while sum(1 for e in self.events if e.type == type_) < count:
            await self.next()
        return self.events

    def of(self, type_: str) -> list[Any]:
        return [e for e in self.events if e.type == type_]


def sdk_connect(served: Served) -> Any:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(websocket_base_url=f"{served.ws}/v1", api_key=served.token)
    return client.realtime.connect(model="gpt-realtime")


async def test_the_official_sdk_gets_every_event_as_its_types_define_it(served: Served) -> None:
    session = {
        "type": "realtime",
        "model": "gpt-realtime",
        "output_modalities": ["text"],
        "instructions": "Be brief.",
        "tracing": "auto",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                "turn_detection": {"type": "semantic_vad", "eagerness": "low"},
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin"},
        },
    }
    async with sdk_connect(served) as conn:
        c = Checked(conn)
        await conn.session.update(session=session)
        await c.until("session.updated")
        await conn.conversation.item.create(
            item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
        )
        await conn.response.create()
        await c.until("response.done")
    assert c.of("error") == []
    [updated] = c.of("session.updated")
    audio = updated.session.audio
    assert audio.input.format.rate == audio.output.format.rate == 24000
    assert (audio.input.turn_detection.type, audio.input.turn_detection.eagerness) == ("semantic_vad", "low")
    assert audio.output.voice == "marin" and updated.session.tracing == "auto"
    assert "Hello there" in "".join(e.delta for e in c.of("response.output_text.delta"))
    assert c.of("response.done")[0].response.status == "completed"

    # What Yandex got and sent: its own dialect, in the recording.
    sid = (await served.latest_session())["id"]
    recorded = await served.upstream_events(sid, "response.done")
    created = next(e for e in recorded if e["type"] == "session.created")
    assert created["session"]["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": UPSTREAM_RATE}
    update = next(e for e in recorded if e["type"] == "session.update")
    assert update["session"]["audio"] == {
        "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 1000}, "languages": ["en-US"]},
        "output": {"voice": "marina"},
    }
    assert "tracing" not in update["session"] and "model" not in update["session"]


async def test_a_440_hz_tone_at_24_khz_reaches_yandex_at_44_1_khz_and_the_answer_comes_back_at_24_khz(
    served: Served,
) -> None:
    tone = sine(24000, 1.0, 440)
    async with sdk_connect(served) as conn:
        c = Checked(conn)
        session = {"type": "realtime", "output_modalities": ["audio"], "audio": {"input": {"turn_detection": None}}}
        await conn.session.update(session=session)
        await c.until("session.updated")
        for start in range(0, len(tone), 480):  # 20 ms, as a microphone sends
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm_bytes(tone[start : start + 480])).decode())
        await conn.input_audio_buffer.commit()
        await c.until("conversation.item.done")
        await conn.response.create()
        await c.until("response.done")
    assert c.of("error") == []
    sid = (await served.latest_session())["id"]
    recorded = await served.upstream_events(sid, "response.done")

    # Upstream: one second at 44.1 kHz (±1 ms), 440 Hz; the emulator says how long it heard, too.
    upstream_in = pcm_of([e["audio"] for e in recorded if e["type"] == "input_audio_buffer.append"])
    heard_ms = len(upstream_in) * 1000 / UPSTREAM_RATE
    assert abs(heard_ms - 1000) <= 1, heard_ms
    assert abs(peak_hz(upstream_in, UPSTREAM_RATE) - 440) < 1
    transcript = c.of("response.output_audio_transcript.done")[0].transcript
    assert transcript == 'You said: "(audio 1.00 s)".'

    # Back: the answer at 24 kHz, exactly as long as what Yandex sent at 44.1 kHz, its voice at 500 Hz.
    upstream_out = pcm_of([e["delta"] for e in recorded if e["type"] == "response.output_audio.delta"])
    answer = pcm_of([e.delta for e in c.of("response.output_audio.delta")])
    assert len(upstream_out) == len(transcript.split()) * UPSTREAM_RATE * WORD_MS // 1000
    assert abs(len(answer) / 24000 - len(upstream_out) / UPSTREAM_RATE) * 1000 <= 1
    assert abs(peak_hz(answer, 24000) - VOICE_HZ) < 2
    print(
        f"\n440 Hz tone: upstream {heard_ms:.3f} ms at 44.1 kHz (sent 1000 ms), peak "
        f"{peak_hz(upstream_in, UPSTREAM_RATE):.2f} Hz; answer {len(answer) / 24:.3f} ms at 24 kHz "
        f"(Yandex sent {len(upstream_out) * 1000 / UPSTREAM_RATE:.3f} ms), peak {peak_hz(answer, 24000):.2f} Hz"
    )


@pytest.mark.parametrize(
    ("kind", "encode", "decode"), [("audio/pcmu", "lin2ulaw", "ulaw2lin"), ("audio/pcma", "lin2alaw", "alaw2lin")]
)
async def test_g711_at_8_khz_both_ways(served: Served, kind: str, encode: str, decode: str) -> None:
    tone = getattr(audioop, encode)(pcm_bytes(sine(8000, 1.0, 440)), 2)
    fmt = {"type": kind}
    session = {
        "type": "realtime",
        "output_modalities": ["audio"],
        "audio": {"input": {"format": fmt, "turn_detection": None}, "output": {"format": fmt}},
    }
    async with sdk_connect(served) as conn:
        c = Checked(conn)
        await conn.session.update(session=session)
        await c.until("session.updated")
        for start in range(0, len(tone), 160):  # 20 ms of G.711: 160 bytes
            await conn.input_audio_buffer.append(audio=base64.b64encode(tone[start : start + 160]).decode())
        await conn.input_audio_buffer.commit()
        await c.until("conversation.item.done")
        await conn.response.create()
        await c.until("response.done")
    assert c.of("error") == []
    assert c.of("session.updated")[0].session.audio.output.format.type == kind
    sid = (await served.latest_session())["id"]
    recorded = await served.upstream_events(sid, "response.done")
    upstream_in = pcm_of([e["audio"] for e in recorded if e["type"] == "input_audio_buffer.append"])
    assert abs(len(upstream_in) * 1000 / UPSTREAM_RATE - 1000) <= 1
    assert abs(peak_hz(upstream_in, UPSTREAM_RATE) - 440) < 1
    answer_bytes = b"".join(base64.b64decode(e.delta) for e in c.of("response.output_audio.delta"))
    answer = np.frombuffer(getattr(audioop, decode)(answer_bytes, 2), dtype="<i2")
    words = len(c.of("response.output_audio_transcript.done")[0].transcript.split())
    assert len(answer_bytes) == words * 8000 * WORD_MS // 1000  # a byte a sample at 8 kHz
    assert abs(peak_hz(answer, 8000) - VOICE_HZ) < 2


async def test_vad_positions_and_truncation_mean_the_same_instant_on_both_sides(served: Served) -> None:
    # 0.5 s of silence, 1 s of tone, 1 s of silence, at 24 kHz: server VAD (its defaults: 300 ms of padding
    # before speech, 500 ms of silence to end it) places speech at 200 ms and its end at 2000 ms.
    audio = np.concatenate([np.zeros(12000, np.int16), sine(24000, 1.0, 300), np.zeros(24000, np.int16)])
    async with sdk_connect(served) as conn:
        c = Checked(conn)
        session = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {"input": {"turn_detection": {"type": "server_vad"}}},
        }
        await conn.session.update(session=session)
        await c.until("session.updated")
        for start in range(0, len(audio), 2400):  # 100 ms chunks
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(pcm_bytes(audio[start : start + 2400])).decode()
            )
        await c.until("response.done")  # create_response: the answer follows on its own
        started, stopped = c.of("input_audio_buffer.speech_started")[0], c.of("input_audio_buffer.speech_stopped")[0]
        assert abs(started.audio_start_ms - 200) <= 10 and abs(stopped.audio_end_ms - 2000) <= 10
        # The client played the whole answer: truncating at its own count of ms is the answer's end upstream.
        answer = pcm_of([e.delta for e in c.of("response.output_audio.delta")])
        item_id = c.of("response.output_audio.done")[0].item_id
        played_ms = len(answer) * 1000 // 24000
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=played_ms)
        truncated = (await c.until("conversation.item.truncated"))[-1]
        assert truncated.audio_end_ms == played_ms
    assert c.of("error") == []
    sid = (await served.latest_session())["id"]
    recorded = await served.upstream_events(sid, "conversation.item.truncated")
    assert next(e for e in recorded if e["type"] == "conversation.item.truncate")["audio_end_ms"] == played_ms


async def test_the_sdk_sees_a_bad_token_as_http_401(served: Served) -> None:
    from openai import AsyncOpenAI
    from websockets.exceptions import InvalidStatus

    client = AsyncOpenAI(websocket_base_url=f"{served.ws}/v1", api_key="not-a-token")
    with pytest.raises(InvalidStatus) as refused:
        async with client.realtime.connect(model="gpt-realtime"):
            pass
    assert refused.value.response.status_code == 401
    body = json.loads(bytes(refused.value.response.body or b""))
    assert body["error"]["code"] == "invalid_api_key"


# --- the OpenAI Agents SDK -----------------------------------------------------------------------------------


@pytest.mark.parametrize("modality", ["text", "audio"])
async def test_the_agents_sdk_calls_its_tool_and_answers_with_its_output(served: Served, modality: str) -> None:
    from agents import function_tool, set_trace_processors
    from agents.realtime import RealtimeAgent, RealtimeRunner

    set_trace_processors([])  # the SDK's own trace export goes to OpenAI: nothing leaves this machine
    calls: list[str] = []

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return f"Sunny, 21 degrees in {city}"

    agent = RealtimeAgent(name="Assistant", instructions="Answer with the tools.", tools=[get_weather])
    # Its defaults (audio, semantic VAD, voice "ash", pcm16, transcription); text changes one setting only.
    runner = RealtimeRunner(agent, config={"model_settings": {"modalities": ["text"]}} if modality == "text" else None)
    session = await runner.run(model_config={"url": f"{served.ws}/v1/realtime", "api_key": served.token})
    errors: list[Any] = []
    audio = b""
    answer = ""
    async with session:
        await session.send_message("What is the weather in Oslo?")
        async with asyncio.timeout(20):
            async for event in session:
                if event.type == "error" or (
                    event.type == "raw_model_event" and event.data.type in ("error", "exception")
                ):
                    errors.append(event)
                    break
                if event.type == "audio":
                    audio += event.audio.data
                elif event.type == "history_updated" and calls:
                    answer = _last_assistant_words(event.history)
                    if "Sunny" in answer and (modality == "text" or "." in answer):
                        break
    assert errors == []
    assert calls == ["Oslo"]
    assert answer == "The tool answered: Sunny, 21 degrees in Oslo."
    sid = (await served.latest_session())["id"]
    recorded = await served.upstream_events(sid, "response.done", count=2)
    update = next(e for e in recorded if e["type"] == "session.update")
    assert update["session"]["audio"]["output"]["voice"] == "filipp"  # "ash", as Yandex knows it
    if modality == "audio":
        # Its audio at 24 kHz: as long as the words Yandex spoke for the answer (and the call had none).
        assert len(audio) == len(answer.split()) * 24000 * WORD_MS // 1000 * 2
    else:
        assert audio == b""


def _last_assistant_words(history: list[Any]) -> str:
    """The last assistant message's text, or its audio's transcript."""
    for item in reversed(history):
        if getattr(item, "role", None) == "assistant":
            parts = [getattr(p, "text", None) or getattr(p, "transcript", None) or "" for p in item.content]
            return "".join(parts)
    return ""
