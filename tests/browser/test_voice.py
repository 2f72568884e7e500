"""Voice in the console: a fake microphone (a WAV file Chromium loops), server VAD, playback and barge-in.

Test hooks (docs/console.md): `window.__console.voice` — `state`, `mode`, `micOk`, `played` (ms the player
actually rendered, per item), `bargeIns`, `press()` / `release()`.
"""

from __future__ import annotations

import math
import struct
import wave
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_session, page_api, sign_up

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
RATE = 48000


def speech_wav(path: Path, lead_silence: float = 0.5) -> Path:
    """16-bit mono 48 kHz: 0.5 s silence (or `lead_silence`), 1.5 s of a loud 300 Hz tone, 2 s silence."""
    samples = [0] * round(RATE * lead_silence)
    samples += [round(12000 * math.sin(2 * math.pi * 300 * i / RATE)) for i in range(RATE * 3 // 2)]
    samples += [0] * (RATE * 2)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    return path


@pytest.fixture
def voice_page(fake_mic_browser: Any, tmp_path: Path, live_url: str) -> Iterator[Callable[[dict[str, Any]], Any]]:
    """`voice_page(body)`: a fake-microphone page on a new session opened with `body`, voice started.
    The session is closed afterwards: the served playground allows only 10 live sessions in all."""
    opened: list[tuple[Any, str]] = []

    def open_voice(body: dict[str, Any], lead_silence: float = 0.5) -> Any:
        wav = speech_wav(tmp_path / "speech.wav", lead_silence)
        return _voice_page(fake_mic_browser(wav), live_url, body, opened)

    yield open_voice
    for page, session_id in opened:
        try:
            page_api(page, "POST", f"/sessions/{session_id}/close")
        except Exception as exc:  # the test failed with the page in a bad state: say so, but go on
            print(f"could not close session {session_id}: {exc}")


def _voice_page(browser: Any, live_url: str, body: dict[str, Any], opened: list[Any]) -> Any:
    context = browser.new_context(viewport={"width": 1280, "height": 720}, permissions=["microphone"])
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors  # type: ignore[attr-defined]
    sign_up(page, live_url)
    opened.append((page, open_session(page, live_url, body)))
    page.wait_for_selector("#socket-state.socket-open")
    # A session opened with settings gets them as a session.update right after session.created.
    wait_for_event(page, "session.updated" if "session" in body else "session.created")
    page.click("#voice-start")
    page.wait_for_function("() => window.__console.voice.state === 'on' && window.__console.voice.micOk")
    return page


def wait_for_event(
    page: Any, event_type: str, direction: str = "server", count: int = 1, timeout: float = 15000
) -> None:
    page.wait_for_function(
        "([type, dir, n]) => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === type && f.direction === dir).length >= n",
        arg=[event_type, direction, count],
        timeout=timeout,
    )


def events(page: Any, event_type: str, direction: str) -> list[dict[str, Any]]:
    return page.evaluate(
        "([type, dir]) => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === type && f.direction === dir).map(f => f.event)",
        [event_type, direction],
    )


def test_vad_turn_from_the_microphone_is_answered_aloud(voice_page: Any) -> None:
    page = voice_page({"upstream": "emulator"})
    assert page.evaluate("() => window.__console.voice.mode") == "vad"
    assert page.locator("#voice-mode-vad").get_attribute("aria-pressed") == "true"
    wait_for_event(page, "input_audio_buffer.speech_started")
    wait_for_event(page, "input_audio_buffer.committed")
    # The appends carry PCM16 at the session's input rate, in chunks of about 100 ms.
    # (The page keeps only the size of its own appends once shown: audioBytes.)
    sizes = page.evaluate(
        "() => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === 'input_audio_buffer.append').map(f => f.audioBytes)"
    )
    assert abs(sizes[0] - 44100 * 2 // 10) <= 4
    kept = events(page, "input_audio_buffer.append", "client")
    assert kept and all(len(e["audio"]) == 64 for e in kept)

    # Both show in the log as received (←).
    for event_type in ("input_audio_buffer.speech_started", "input_audio_buffer.committed"):
        page.select_option("#log-type", event_type)
        row = page.locator("#events li").first
        row.wait_for()
        assert row.locator(".type").inner_text().startswith(event_type)
        assert row.locator(".dir").inner_text() == "←"
    page.select_option("#log-type", "")

    # The answer is spoken: the player reports the ms it played of the answer's item.
    wait_for_event(page, "response.output_audio.delta")
    item_id = events(page, "response.output_audio.delta", "server")[0]["item_id"]
    page.wait_for_function("(id) => (window.__console.voice.played[id] || 0) > 0", arg=item_id, timeout=15000)
    wait_for_event(page, "response.done")
    page.wait_for_function(
        "(id) => window.__console.voice.played[id] >= window.__console.voice.received[id] - 1", arg=item_id
    )
    assert page.errors == []  # type: ignore[attr-defined]


def test_push_to_talk_barges_in_on_a_long_answer(voice_page: Any) -> None:
    body = {
        "upstream": "emulator",
        "session": {"audio": {"input": {"turn_detection": None}}},
        "emulator": {"pace": 20},
    }
    page = voice_page(body)
    assert page.evaluate("() => window.__console.voice.mode") == "ptt"
    assert page.locator("#voice-ptt").is_enabled()
    page.evaluate(
        "() => window.__console.socket.send({type: 'response.create', response: {metadata: {emulator_words: '200'}}})"
    )
    wait_for_event(page, "response.output_audio.delta")
    item_id = events(page, "response.output_audio.delta", "server")[0]["item_id"]
    page.wait_for_function("(id) => (window.__console.voice.played[id] || 0) > 400", arg=item_id, timeout=15000)
    page.wait_for_timeout(600)  # the waveforms fill a little, for the screenshot
    page.screenshot(path=str(DOCS / "console-voice.png"))

    # Hold the button: the answer stops, is cancelled and truncated where playback was.
    button = page.locator("#voice-ptt")
    button.hover()
    page.mouse.down()
    wait_for_event(page, "conversation.item.truncate", "client")
    page.wait_for_timeout(400)
    page.mouse.up()
    truncate = events(page, "conversation.item.truncate", "client")[0]
    played = page.evaluate("(id) => window.__console.voice.played[id]", item_id)
    assert truncate["item_id"] == item_id
    assert truncate["content_index"] == 0
    assert 0 < truncate["audio_end_ms"] <= played
    assert len(events(page, "response.cancel", "client")) == 1
    wait_for_event(page, "conversation.item.truncated")
    assert events(page, "conversation.item.truncated", "server")[0]["audio_end_ms"] == truncate["audio_end_ms"]
    assert not page.evaluate("() => window.__console.voice.playing")
    # The release sent what was said: appends, then commit and a new response.
    wait_for_event(page, "input_audio_buffer.commit", "client")
    wait_for_event(page, "input_audio_buffer.committed")
    wait_for_event(page, "response.created", count=2)
    assert len(events(page, "input_audio_buffer.commit", "client")) == 1
    assert page.locator(".banner-error:visible").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]


def test_speech_started_barges_in_without_a_second_cancel(voice_page: Any) -> None:
    # Server VAD: the microphone is quiet for 5 s while a long paced answer plays, then speaks.
    page = voice_page({"upstream": "emulator", "emulator": {"pace": 20}}, lead_silence=5)
    assert page.evaluate("() => window.__console.voice.mode") == "vad"
    page.evaluate(
        "() => window.__console.socket.send({type: 'response.create', response: {metadata: {emulator_words: '200'}}})"
    )
    wait_for_event(page, "response.output_audio.delta")
    item_id = events(page, "response.output_audio.delta", "server")[0]["item_id"]
    wait_for_event(page, "input_audio_buffer.speech_started", timeout=20000)
    wait_for_event(page, "conversation.item.truncate", "client")
    truncate = events(page, "conversation.item.truncate", "client")[0]
    played = page.evaluate("(id) => window.__console.voice.played[id]", item_id)
    assert truncate["item_id"] == item_id
    assert 0 < truncate["audio_end_ms"] <= played
    # The server cancels on speech_started itself (interrupt_response): the console does not cancel again.
    wait_for_event(page, "response.done")
    done = events(page, "response.done", "server")[0]
    assert done["response"]["status"] == "cancelled"
    assert events(page, "response.cancel", "client") == []
    assert page.evaluate("() => window.__console.voice.bargeIns[0].reason") == "speech_started"
    wait_for_event(page, "conversation.item.truncated")
    assert page.locator(".banner-error:visible").count() == 0
    assert page.errors == []  # type: ignore[attr-defined]


def test_space_is_push_to_talk_and_the_mode_follows_the_session(voice_page: Any) -> None:
    body = {"upstream": "emulator", "session": {"audio": {"input": {"turn_detection": None}}}}
    page = voice_page(body)
    # Space in a text field types a space; elsewhere it is push to talk.
    page.fill("#say input[name=text]", "")
    page.press("#say input[name=text]", "Space")
    assert page.input_value("#say input[name=text]") == " "
    assert not page.evaluate("() => window.__console.voice.talking")
    # On Stop voice (where the focus is after starting) Space talks, and does not stop the voice.
    page.focus("#voice-start")
    page.keyboard.down("Space")
    page.wait_for_function("() => window.__console.voice.talking")
    wait_for_event(page, "input_audio_buffer.append", "client", count=3)
    page.keyboard.up("Space")
    wait_for_event(page, "input_audio_buffer.commit", "client")
    wait_for_event(page, "response.created")
    assert [e["type"] for e in events(page, "response.create", "client")] == ["response.create"]
    assert page.evaluate("() => window.__console.voice.state") == "on"
    # On a button elsewhere, Space is that button's.
    page.focus("#apply-session")
    page.keyboard.down("Space")
    page.wait_for_timeout(200)
    assert not page.evaluate("() => window.__console.voice.talking")
    page.keyboard.up("Space")

    # Voice activity: a session.update with server_vad; the settings panel follows it.
    page.click("#voice-mode-vad")
    page.wait_for_function("() => window.__console.voice.mode === 'vad' && !window.__console.voice.pendingMode")
    update = events(page, "session.update", "client")[-1]
    assert update["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert page.input_value("#sp-turn") == "server_vad"
    assert page.locator("#voice-ptt").is_hidden()
    wait_for_event(page, "input_audio_buffer.speech_started", timeout=20000)
    page.click("#voice-mode-ptt")
    page.wait_for_function("() => window.__console.voice.mode === 'ptt'")
    assert events(page, "session.update", "client")[-1]["session"]["audio"]["input"]["turn_detection"] is None
    assert page.errors == []  # type: ignore[attr-defined]
