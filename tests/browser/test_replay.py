"""The replay page: a recorded session played back at its original timing, with both audio sides.

Test hook (templates/recordings/replay.html, static/playground/replay.js): `window.__replay` — `ready`,
`position` (ms), `playing`, `speed`, `shown` / `total` (frames fed to the panels / in the recording),
`duration` (ms), `audioScheduledMs` and `audioMs` ({user, assistant} ms), `audioRequests` (byte-range
requests for audio: made, failed, bytes), `waveform` ("local", "loading", "server" or "failed": where the
timeline's peaks came from), `seek(ms)`, `play()`, `pause()`.
"""

from __future__ import annotations

import base64
import json
import math
import re
import struct
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import PASSWORD, open_session, page_api, sign_up

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
RATE = 44100  # the emulator speaks Yandex's one rate, as Yandex does
# A voice preset's settings, push to talk (the appends are committed by hand).
VOICE_SESSION = {
    "output_modalities": ["audio"],
    "instructions": "Answer briefly.",
    "audio": {
        "input": {"format": {"type": "audio/pcm", "rate": RATE}, "turn_detection": None},
        "output": {"format": {"type": "audio/pcm", "rate": RATE}, "voice": "marina"},
    },
}
ANSWER = 'You said: "hello there".'

# 100 ms of a 300 Hz tone at RATE, PCM16 little-endian, base64; built in the page.
TONE_JS = """(rate) => {
  const n = rate / 10, bytes = new Uint8Array(n * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < n; i++) view.setInt16(i * 2, Math.round(9000 * Math.sin(2 * Math.PI * 300 * i / rate)), true);
  let bin = ""; for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}"""


def api(page: Any, method: str, path: str, body: Any = None) -> Any:
    """A REST call with the page's own cookie and CSRF token (api.js)."""
    return page_api(page, method, path, body)


def events(page: Any, sid: str) -> list[dict[str, Any]]:
    return api(page, "GET", f"/sessions/{sid}/events?limit=10000")


def wait_for(page: Any, sid: str, event_type: str, count: int = 1, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [f for f in events(page, sid) if (f.get("event") or {}).get("type") == event_type]
        if len(found) >= count:
            return
        time.sleep(0.1)
    raise AssertionError(f"no {count}× {event_type} in session {sid}")


def record_voice_session(page: Any, live_url: str) -> str:
    """On the signed-in home page: a voice session against the emulator, one spoken turn (ten 100 ms
    appends, committed) and one typed turn, both answered with audio; then closed. Returns its id."""
    session = api(page, "POST", "/sessions", {"upstream": "emulator", "session": VOICE_SESSION})
    sid = str(session["id"])
    wait_for(page, sid, "session.updated")
    tone = page.evaluate(TONE_JS, RATE)
    for _ in range(10):
        api(page, "POST", f"/sessions/{sid}/client-events/input_audio_buffer.append", {"audio": tone})
        time.sleep(0.1)
    api(page, "POST", f"/sessions/{sid}/client-events/input_audio_buffer.commit", {})
    api(page, "POST", f"/sessions/{sid}/client-events/response.create", {})
    wait_for(page, sid, "response.done")
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}
    api(page, "POST", f"/sessions/{sid}/client-events/conversation.item.create", {"item": item})
    api(page, "POST", f"/sessions/{sid}/client-events/response.create", {})
    wait_for(page, sid, "response.done", count=2)
    time.sleep(0.3)
    try:
        api(page, "POST", f"/sessions/{sid}/close")
    except Exception as exc:  # the answer is the session; the recording is what matters here
        print(f"close answered an error: {exc}")
    deadline = time.monotonic() + 10
    while not any((f.get("notice") or {}).get("kind") == "session_closed" for f in events(page, sid)):
        assert time.monotonic() < deadline, f"session {sid} was not closed"
        time.sleep(0.1)
    return sid


@pytest.fixture(scope="module")
def recording(browser: Any, live_url: str) -> dict[str, str]:
    """One recorded voice session, shared by the tests here: its id and its owner's name."""
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    page = context.new_page()
    username = sign_up(page, live_url)
    sid = record_voice_session(page, live_url)
    context.close()
    return {"id": sid, "username": username}


def sign_in(page: Any, live_url: str, username: str) -> None:
    page.goto(live_url + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=New session")


def open_replay(page: Any, live_url: str, recording: dict[str, str]) -> None:
    sign_in(page, live_url, recording["username"])
    page.goto(f"{live_url}/sessions/{recording['id']}/replay/")
    page.wait_for_function("() => window.__replay && window.__replay.ready")


def replay(page: Any, name: str) -> Any:
    return page.evaluate(f"() => window.__replay.{name}")


def assistant_texts(page: Any) -> list[str]:
    return page.locator(".turn.role-assistant.turn-message .turn-text").all_inner_texts()


# --- tests ---------------------------------------------------------------------------------------------------------


def test_console_links_to_the_replay_of_an_ended_session(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    sign_in(page, live_url, recording["username"])
    page.goto(f"{live_url}/sessions/{recording['id']}/")
    page.click("#replay-link")
    page.wait_for_url(f"**/sessions/{recording['id']}/replay/")
    page.wait_for_function("() => window.__replay && window.__replay.ready")
    assert page_errors == []


def test_a_live_sessions_console_has_no_replay_link(page: Any, live_url: str) -> None:
    sign_up(page, live_url)
    sid = open_session(page, live_url, {"upstream": "emulator", "session": {"output_modalities": ["text"]}})
    page.wait_for_selector("#socket-state.socket-open")
    assert page.locator("#replay-link").count() == 0
    try:
        api(page, "POST", f"/sessions/{sid}/close")
    except Exception as exc:  # closed all the same: only its answer failed
        print(f"close answered an error: {exc}")


def test_plays_at_4x_and_the_transcript_fills_in(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    open_replay(page, live_url, recording)
    total = replay(page, "total")
    duration = replay(page, "duration")
    assert total > 20 and duration > 1000
    # Nothing is shown before it plays.
    assert replay(page, "shown") == 0
    assert page.locator(".turn").count() == 0
    page.click(".speeds [data-speed='4']")
    assert replay(page, "speed") == 4
    started = time.monotonic()
    page.click("#replay-play")
    assert replay(page, "playing") is True
    page.wait_for_function(
        "(answer) => window.__replay.transcript.lastAssistantText() === answer", arg=ANSWER, timeout=10000
    )
    # At 4x the answer arrives in about a quarter of the time it took live.
    page.wait_for_function("() => !window.__replay.playing", timeout=10000)
    elapsed_ms = (time.monotonic() - started) * 1000
    assert duration / 4 * 0.8 <= elapsed_ms <= duration / 4 + 3000, (elapsed_ms, duration)
    assert replay(page, "shown") == total
    assert assistant_texts(page)[-1] == ANSWER
    # The log has every frame; merging rows is the log's business.
    assert page.evaluate("() => window.__replay.log.entries.length") == total
    assert page_errors == []


def test_seek_to_the_end_and_back(page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]) -> None:
    open_replay(page, live_url, recording)
    total = replay(page, "total")
    duration = replay(page, "duration")
    # Seeking with the slider (keyboard: End) shows everything at once.
    page.focus("#replay-seek")
    page.keyboard.press("End")
    page.wait_for_function("(n) => window.__replay.shown === n", arg=total)
    assert abs(replay(page, "position") - duration) < 1
    assert page.evaluate("() => window.__replay.log.entries.length") == total
    assert page.locator("#event-count").inner_text().startswith(f"{total} events")
    assert assistant_texts(page) == ['You said: "(audio 1.00 s)".', ANSWER]
    assert page.locator(".turn.role-user .turn-text").all_inner_texts() == ["(audio 1.00 s)", "hello there"]
    # Back to the start: empty again.
    page.keyboard.press("Home")
    page.wait_for_function("() => window.__replay.shown === 0")
    assert page.locator(".turn").count() == 0
    assert page.locator("#transcript-empty").is_visible()
    assert page.evaluate("() => window.__replay.log.entries.length") == 0
    # The middle: a click on the timeline seeks there; arrows move 5 s (clamped to the recording).
    box = page.locator("#replay-timeline").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    middle = replay(page, "position")
    assert abs(middle - duration / 2) < duration * 0.02
    shown = replay(page, "shown")
    assert 0 < shown < total
    page.locator("#transcript").focus()
    page.keyboard.press("ArrowRight")
    assert replay(page, "position") == pytest.approx(min(duration, middle + 5000), abs=1)
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    assert replay(page, "position") == pytest.approx(max(0, min(duration, middle + 5000) - 10000), abs=1)
    assert page_errors == []


def test_both_audio_sides_are_scheduled(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    open_replay(page, live_url, recording)
    audio_ms = replay(page, "audioMs")
    assert audio_ms["user"] == pytest.approx(1000, abs=1)  # ten appends of 100 ms
    assert audio_ms["assistant"] > 0
    # Space plays (a trusted key press: the audio may start), at 4x, to the end.
    page.click(".speeds [data-speed='4']")
    page.locator("#transcript").focus()
    page.keyboard.press("Space")
    page.wait_for_function("() => window.__replay.playing")
    page.wait_for_function("() => !window.__replay.playing", timeout=replay(page, "duration") + 5000)
    scheduled = replay(page, "audioScheduledMs")
    assert scheduled["user"] > 0 and scheduled["assistant"] > 0, scheduled
    assert scheduled["user"] == pytest.approx(audio_ms["user"], abs=50)
    assert scheduled["assistant"] == pytest.approx(audio_ms["assistant"], abs=50)
    # Pause and resume with Space, from the middle, at 1x: the rest must outlast the two presses.
    page.click(".speeds [data-speed='1']")
    page.locator("#transcript").focus()
    page.evaluate("() => window.__replay.seek(window.__replay.duration / 2)")
    page.keyboard.press("Space")
    page.wait_for_function("() => window.__replay.playing")
    page.keyboard.press("Space")
    assert replay(page, "playing") is False
    assert page_errors == []


def test_exports_and_console_links(page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]) -> None:
    open_replay(page, live_url, recording)
    sid = recording["id"]
    hrefs = {
        name: page.get_attribute(f"#export-{name}", "href") for name in ("jsonl", "md", "wav-user", "wav-assistant")
    }
    assert hrefs == {
        "jsonl": f"/api/sessions/{sid}/export?format=jsonl",
        "md": f"/api/sessions/{sid}/export?format=md",
        "wav-user": f"/api/sessions/{sid}/export?format=wav&side=user",
        "wav-assistant": f"/api/sessions/{sid}/export?format=wav&side=assistant",
    }
    for href in hrefs.values():
        status = page.evaluate("(u) => fetch(u).then(r => r.status)", href)
        assert status == 200
    assert page.get_attribute("#console-link", "href") == f"/sessions/{sid}/"
    assert page_errors == []


def test_a_long_recording_is_fetched_page_by_page(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """The events API pages (here 1,000 frames a page, whatever `limit` says): the page asks with
    `after` until an empty page, then seeks over 5,000 frames at once."""
    count, per_page, t0 = 5000, 1000, 1_700_000_000.0
    frames: list[dict[str, Any]] = [
        {"seq": 1, "direction": "server", "ts": t0, "event": {"type": "session.created", "session": {}}}
    ]
    for i in range(2, count + 1):
        delta = {"type": "response.output_text.delta", "item_id": "item_1", "delta": f"w{i} "}
        frames.append({"seq": i, "direction": "server", "ts": t0 + i * 0.01, "event": delta})
    asked: list[int] = []

    def serve(route: Any) -> None:
        query = parse_qs(urlparse(route.request.url).query)
        after = int(query.get("after", ["0"])[0])
        asked.append(after)
        route.fulfill(content_type="application/json", body=json.dumps(frames[after : after + per_page]))

    page.route("**/api/sessions/*/events*", serve)
    open_replay(page, live_url, recording)
    assert asked == [0, 1000, 2000, 3000, 4000, 5000]
    assert replay(page, "total") == count
    assert replay(page, "duration") == pytest.approx(count * 10, abs=1)
    took = page.evaluate(
        "() => { const t = performance.now(); window.__replay.seek(1e9); return performance.now() - t; }"
    )
    assert replay(page, "shown") == count
    text = page.evaluate("() => window.__replay.transcript.lastAssistantText()")
    assert text.startswith("w2 w3 ") and text.endswith(f"w{count} ")
    page.evaluate("() => window.__replay.seek(0)")
    assert replay(page, "shown") == 0
    print(f"seek over {count} frames: {took:.0f} ms")
    assert took < 2000
    assert page_errors == []


def test_someone_elses_replay_is_404(page: Any, live_url: str, recording: dict[str, str]) -> None:
    # Signed out: the login page first.
    page.goto(f"{live_url}/sessions/{recording['id']}/replay/")
    assert "/accounts/login/?next=" in page.url
    sign_up(page, live_url)
    res = page.goto(f"{live_url}/sessions/{recording['id']}/replay/")
    assert res.status == 404


def test_screenshots(browser: Any, live_url: str, recording: dict[str, str]) -> None:
    """docs/replay-*.png: desktop light and dark halfway through, phone dark."""
    shots = [
        ("replay-desktop-light.png", {"width": 1280, "height": 720}, "light"),
        ("replay-desktop-dark.png", {"width": 1280, "height": 720}, "dark"),
        ("replay-phone-dark.png", {"width": 375, "height": 800}, "dark"),
        ("replay-phone-light.png", {"width": 375, "height": 800}, "light"),
    ]
    for name, viewport, scheme in shots:
        context = browser.new_context(viewport=viewport, color_scheme=scheme, device_scale_factor=1)
        page = context.new_page()
        open_replay(page, live_url, recording)
        page.wait_for_function("() => window.__replay.waveform === 'server'")
        page.evaluate("() => window.__replay.seek(window.__replay.duration * 0.97)")
        page.wait_for_timeout(200)
        # No horizontal scrolling, at any width.
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), name
        page.screenshot(path=str(DOCS / name), full_page=viewport["width"] < 600)
        context.close()


def lane_pixels(page: Any) -> dict[str, int]:
    """Pixels of the timeline's canvas in each side's colour: the user's lane above the middle, the
    assistant's below (what replay.js paints; the playhead and veil are ignored by colour)."""
    return page.evaluate(
        """() => {
      const c = document.getElementById("replay-timeline");
      const g = c.getContext("2d");
      const css = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
      const probe = document.createElement("canvas").getContext("2d");
      const rgb = (color) => { probe.fillStyle = color; probe.fillRect(0, 0, 1, 1);
        return Array.from(probe.getImageData(0, 0, 1, 1).data.slice(0, 3)); };
      const want = { user: rgb(css("--accent")), assistant: rgb(css("--ok")) };
      const px = g.getImageData(0, 0, c.width, c.height).data;
      const out = { user: 0, assistant: 0 };
      for (let i = 0; i < px.length; i += 4)
        for (const side of ["user", "assistant"]) {
          const [r, gg, b] = want[side];
          if (Math.abs(px[i] - r) + Math.abs(px[i + 1] - gg) + Math.abs(px[i + 2] - b) < 40) out[side]++;
        }
      return out;
    }"""
    )


def test_media_audio_comes_by_range_and_the_waveform_from_the_server(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """The recording's audio is media (FLAC on the server): the page reads the events with references
    (never base64), fetches the audio it plays by byte range and draws the waveform from the server's peaks."""
    requests: list[Any] = []
    page.on("request", lambda request: requests.append(request))
    open_replay(page, live_url, recording)
    sid = recording["id"]
    # It is a media recording: the events hold references, not base64.
    refs = api(page, "GET", f"/sessions/{sid}/events?limit=10000&audio=ref")
    appends = [f["event"]["audio"] for f in refs if (f.get("event") or {}).get("type") == "input_audio_buffer.append"]
    assert appends and all(isinstance(a, dict) and a["$audio"] == "user" for a in appends)
    page.wait_for_function("() => window.__replay.waveform === 'server'")
    drawn = lane_pixels(page)
    assert drawn["user"] > 50 and drawn["assistant"] > 50, drawn

    page.click(".speeds [data-speed='4']")
    page.click("#replay-play")
    page.wait_for_function("() => window.__replay.audioScheduledMs.user > 0", timeout=5000)
    page.wait_for_function("() => !window.__replay.playing", timeout=replay(page, "duration") + 5000)
    scheduled, audio_ms = replay(page, "audioScheduledMs"), replay(page, "audioMs")
    assert scheduled["user"] == pytest.approx(audio_ms["user"], abs=50), (scheduled, audio_ms)
    assert scheduled["assistant"] == pytest.approx(audio_ms["assistant"], abs=50), (scheduled, audio_ms)
    assert replay(page, "audioRequests")["failures"] == 0

    events_asked = [r.url for r in requests if "/events" in urlparse(r.url).path]
    assert events_asked and all(parse_qs(urlparse(u).query).get("audio") == ["ref"] for u in events_asked)
    ranges = [r for r in requests if urlparse(r.url).path.startswith(f"/api/sessions/{sid}/audio/")]
    audio_gets = [r for r in ranges if not r.url.endswith("/peaks") and "/peaks?" not in r.url]
    assert audio_gets, [r.url for r in requests]
    assert all(re.fullmatch(r"bytes=\d+-\d+", r.headers.get("range", "")) for r in audio_gets)
    assert {urlparse(r.url).path.rsplit("/", 1)[1] for r in audio_gets} == {"user", "assistant"}
    # Ten appends and one answer: contiguous in their streams, so one request a side, two at most.
    assert len(audio_gets) <= 4, [r.headers.get("range") for r in audio_gets]
    assert page_errors == []


def test_a_shared_links_replay_fetches_its_audio_through_the_link(
    browser: Any, page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """Signed out, by share link: the page data's audio and peaks URLs are the link's own."""
    sign_in(page, live_url, recording["username"])
    share_url = api(page, "POST", f"/sessions/{recording['id']}/share")["share_url"]
    token = share_url.rstrip("/").rsplit("/", 1)[1]
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    anyone = context.new_page()
    errors: list[str] = []
    anyone.on("pageerror", lambda exc: errors.append(str(exc)))
    requests: list[Any] = []
    anyone.on("request", lambda request: requests.append(request))
    anyone.goto(f"{live_url}/s/r/{token}/")
    anyone.wait_for_function("() => window.__replay && window.__replay.ready")
    anyone.wait_for_function("() => window.__replay.waveform === 'server'")
    anyone.evaluate("() => window.__replay.setSpeed(4)")
    anyone.click("#replay-play")
    anyone.wait_for_function("() => window.__replay.audioScheduledMs.user > 0", timeout=5000)
    paths = [urlparse(r.url).path for r in requests if r.headers.get("range")]
    assert f"/api/shared/sessions/{token}/audio/user" in paths, paths
    peaks = [r.url for r in requests if urlparse(r.url).path.endswith("/peaks")]
    assert peaks and all(f"/api/shared/sessions/{token}/audio/" in u for u in peaks), peaks
    context.close()
    assert errors == [] and page_errors == []


# --- a long recording, served by the test: events with references, audio by range, peaks ---------------------------

LONG_MINUTES = 10
APPEND_MS = 100


def _tone(n: int, start: int) -> bytes:
    return b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * 300 * (start + i) / RATE))) for i in range(n))


def _referenced_appends(count: int) -> tuple[list[dict[str, Any]], int, int]:
    """A recording of `count` 100 ms microphone appends whose audio is references into the user's stream,
    as `GET …/events?audio=ref` gives them: (frames, bytes of one append, bytes of the stream)."""
    t0, per_append = 1_700_000_000.0, RATE * APPEND_MS // 1000 * 2
    session = {"audio": {"input": {"format": {"type": "audio/pcm", "rate": RATE}}}}
    frames: list[dict[str, Any]] = [
        {"seq": 1, "direction": "server", "ts": t0, "event": {"type": "session.created", "session": session}}
    ]
    for i in range(count):
        ref = {"$audio": "user", "offset": i * per_append, "length": per_append}
        event = {"type": "input_audio_buffer.append", "audio": ref}
        frames.append({"seq": i + 2, "direction": "client", "ts": t0 + i * APPEND_MS / 1000, "event": event})
    return frames, per_append, count * per_append


def test_a_ten_minute_recording_plays_at_once_and_seeks_by_range(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """Ten minutes of microphone audio as 6,000 references: Play schedules audio within a second,
    having fetched only the first seconds; a seek to the middle fetches the middle."""
    frames, per_append, total = _referenced_appends(LONG_MINUTES * 60 * 1000 // APPEND_MS)
    asked: list[tuple[int, int]] = []
    piece = _tone(RATE // 10, 0)  # served again and again: 100 ms

    def events(route: Any) -> None:
        query = parse_qs(urlparse(route.request.url).query)
        assert query.get("audio") == ["ref"], route.request.url
        after = int(query.get("after", ["0"])[0])
        route.fulfill(content_type="application/json", body=json.dumps(frames[after : after + 10000]))

    def audio(route: Any) -> None:
        first, last = (int(n) for n in route.request.headers["range"].removeprefix("bytes=").split("-"))
        asked.append((first, last))
        n = last - first + 1
        body = (piece * (n // len(piece) + 1))[:n]
        headers = {"Content-Range": f"bytes {first}-{last}/{44 + total}", "Accept-Ranges": "bytes"}
        route.fulfill(status=206, content_type="audio/wav", body=body, headers=headers)

    def peaks(route: Any) -> None:
        every = int(parse_qs(urlparse(route.request.url).query)["every"][0])
        side = urlparse(route.request.url).path.split("/")[-2]
        n = -(-total // 2 // every) if side == "user" else 0
        route.fulfill(content_type="application/json", body=json.dumps({"every": every, "peaks": [8000] * n}))

    page.route("**/api/sessions/*/events*", events)
    page.route(re.compile(r".*/api/sessions/[^/]+/audio/(user|assistant)$"), audio)
    page.route(re.compile(r".*/api/sessions/[^/]+/audio/(user|assistant)/peaks\?.*"), peaks)
    open_replay(page, live_url, recording)
    ready_ms = page.evaluate("() => performance.now()")  # since the replay page's navigation began
    assert replay(page, "audioMs")["user"] == pytest.approx(LONG_MINUTES * 60_000, abs=1)
    page.wait_for_function("() => window.__replay.waveform === 'server'")
    assert lane_pixels(page)["user"] > 1000

    started = time.monotonic()
    page.click("#replay-play")
    page.wait_for_function("() => window.__replay.audioScheduledMs.user > 0", timeout=10_000, polling=20)
    took = time.monotonic() - started
    print(f"page ready {ready_ms:.0f} ms after its navigation; audio scheduled {took * 1000:.0f} ms after Play")
    # ~0.4 s and ~0.1 s here. The 1 s target is timed by `make bench` (bench/replay.py, same run, real server);
    # what makes it hold is asserted here: only the first seconds were fetched, in a request or two, each
    # within the file.
    fetched = sum(b - a + 1 for a, b in asked)
    assert 0 < fetched < 2 * 1024 * 1024 and len(asked) <= 4, asked
    assert asked[0][0] == 44 and all(44 <= a <= b < 44 + total for a, b in asked)

    # A seek to the middle fetches the middle (and schedules from there).
    asked.clear()
    before = replay(page, "audioScheduledMs")["user"]
    page.evaluate("() => window.__replay.seek(window.__replay.duration / 2)")
    page.wait_for_function("(n) => window.__replay.audioScheduledMs.user > n", arg=before, timeout=2000)
    middle = 44 + total // 2
    assert asked and min(a for a, _ in asked) <= middle < max(b for _, b in asked) + per_append, (middle, asked)
    page.evaluate("() => window.__replay.pause()")
    assert replay(page, "audioRequests")["failures"] == 0
    assert page_errors == []


def test_a_failed_range_request_is_tried_again_and_the_audio_plays(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """A Range request that fails (a dropped connection, a restarting server) is made again after a
    pause; the audio then plays instead of that stretch staying silent. A run that keeps failing is
    given up after two retries, and the console says which."""
    frames, _, total = _referenced_appends(50)
    asked: list[tuple[int, int, int]] = []  # (first, last, status)
    piece = _tone(RATE // 10, 0)

    def events(route: Any) -> None:
        after = int(parse_qs(urlparse(route.request.url).query).get("after", ["0"])[0])
        route.fulfill(content_type="application/json", body=json.dumps(frames[after:]))

    def audio(route: Any) -> None:
        first, last = (int(n) for n in route.request.headers["range"].removeprefix("bytes=").split("-"))
        if not asked:  # the first request fails
            asked.append((first, last, 503))
            route.fulfill(status=503, content_type="application/json", body='{"detail": "restarting"}')
            return
        asked.append((first, last, 206))
        n = last - first + 1
        body = (piece * (n // len(piece) + 1))[:n]
        headers = {"Content-Range": f"bytes {first}-{last}/{44 + total}", "Accept-Ranges": "bytes"}
        route.fulfill(status=206, content_type="audio/wav", body=body, headers=headers)

    warnings: list[str] = []
    page.on("console", lambda msg: warnings.append(msg.text) if msg.type == "warning" else None)
    page.route("**/api/sessions/*/events*", events)
    page.route(re.compile(r".*/api/sessions/[^/]+/audio/(user|assistant)$"), audio)
    open_replay(page, live_url, recording)
    page.click("#replay-play")
    page.wait_for_function("() => window.__replay.audioScheduledMs.user > 0", timeout=5000, polling=50)
    page.evaluate("() => window.__replay.pause()")

    # The same bytes asked twice: once failed, once served; and the audio played from the start.
    assert asked[0][2] == 503 and asked[1][2] == 206, asked
    assert asked[1][0] == asked[0][0] == 44, asked
    assert replay(page, "audioRequests")["failures"] == 1
    assert any("could not be fetched (HTTP 503): retrying in 500 ms" in w for w in warnings), warnings
    # The browser itself logs the failed request; nothing else went wrong.
    assert [e for e in page_errors if "status of 503" not in e] == []


def test_audio_of_created_items_plays_on_the_users_side(
    page: Any, live_url: str, recording: dict[str, str], page_errors: list[str]
) -> None:
    """Audio a client sent as an item (`conversation.item.create` with an `input_audio` part, as OpenAI
    clients send a recorded question) is the user's too: inline base64 or a reference into the session's
    "items" stream, fetched by range from that stream's URL and drawn from its peaks."""
    t0, second = 1_700_000_000.0, RATE * 2
    session = {"audio": {"input": {"format": {"type": "audio/pcm", "rate": RATE}}}}
    inline = base64.b64encode(_tone(RATE, 0)).decode()
    ref = {"$audio": "items", "offset": 0, "length": second}

    def item(audio: Any) -> dict[str, Any]:
        return {"type": "conversation.item.create", "item": {"type": "message", "role": "user",
                "content": [{"type": "input_audio", "audio": audio}]}}  # fmt: skip

    frames: list[dict[str, Any]] = [
        {"seq": 1, "direction": "server", "ts": t0, "event": {"type": "session.created", "session": session}},
        {"seq": 2, "direction": "client", "ts": t0 + 0.1, "event": item(inline)},
        # The server's echo of an item is not played again.
        {"seq": 3, "direction": "server", "ts": t0 + 0.2, "event": {**item(inline), "type": "conversation.item.added"}},
        {"seq": 4, "direction": "client", "ts": t0 + 3, "event": item(ref)},
    ]
    asked: list[str] = []

    def events(route: Any) -> None:
        after = int(parse_qs(urlparse(route.request.url).query).get("after", ["0"])[0])
        route.fulfill(content_type="application/json", body=json.dumps(frames[after:]))

    def audio(route: Any) -> None:
        asked.append(urlparse(route.request.url).path.split("/")[-1])
        first, last = (int(n) for n in route.request.headers["range"].removeprefix("bytes=").split("-"))
        body = _tone(RATE, 0)[first - 44 : last - 44 + 1]
        headers = {"Content-Range": f"bytes {first}-{last}/{44 + second}", "Accept-Ranges": "bytes"}
        route.fulfill(status=206, content_type="audio/wav", body=body, headers=headers)

    def peaks(route: Any) -> None:
        asked.append("peaks " + urlparse(route.request.url).path.split("/")[-2])
        every = int(parse_qs(urlparse(route.request.url).query)["every"][0])
        route.fulfill(content_type="application/json", body=json.dumps({"every": every, "peaks": [8000] * 100}))

    page.route("**/api/sessions/*/events*", events)
    page.route(re.compile(r".*/api/sessions/[^/]+/audio/(user|assistant|items)$"), audio)
    page.route(re.compile(r".*/api/sessions/[^/]+/audio/(user|assistant|items)/peaks\?.*"), peaks)
    open_replay(page, live_url, recording)
    # Two seconds of the user's: one inline, one by reference; the echo is not counted.
    assert replay(page, "audioMs")["user"] == pytest.approx(2000, abs=1)
    page.wait_for_function("() => window.__replay.waveform === 'server'")
    assert lane_pixels(page)["user"] > 0
    page.click("#replay-play")
    page.evaluate("() => window.__replay.seek(2900)")
    page.wait_for_function("() => window.__replay.audioScheduledMs.user > 0", timeout=5000, polling=50)
    page.evaluate("() => window.__replay.pause()")
    assert "items" in asked and "peaks items" in asked, asked
    assert replay(page, "audioRequests")["failures"] == 0
    assert page_errors == []
