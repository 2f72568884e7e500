"""The session console, driven through the real UI against the emulator.

Test hooks the page offers (docs/console.md): `window.__console.store` (every frame, by seq),
`.socket.kill()` (drop the socket as a network failure would), `.ingest(frames)` (feed synthetic
frames through the socket's path), `.log` (the event log's arrays) and `.transcript`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from emulator import stretch
from tests.browser.conftest import open_session, sign_up

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
CLIENT_EVENT_TYPES = [
    "session.update",
    "input_audio_buffer.append",
    "input_audio_buffer.commit",
    "input_audio_buffer.clear",
    "conversation.item.create",
    "conversation.item.retrieve",
    "conversation.item.truncate",
    "conversation.item.delete",
    "response.create",
    "response.cancel",
    "output_audio_buffer.clear",
]
WEATHER_TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


# --- helpers ---------------------------------------------------------------------------------------------------


def connect_text_session(page: Any, live_url: str) -> None:
    """Sign up and connect through the home page's form, text output, as a person would."""
    sign_up(page, live_url)
    page.select_option("select[name=modality]", "text")
    page.click("text=Connect")
    page.wait_for_url("**/sessions/*/")
    wait_open(page)


def wait_open(page: Any) -> None:
    page.wait_for_selector("#socket-state.socket-open")
    wait_for_event(page, "session.updated")


def wait_for_event(page: Any, event_type: str, direction: str = "server", count: int = 1) -> None:
    page.wait_for_function(
        "([type, dir, n]) => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === type && f.direction === dir).length >= n",
        arg=[event_type, direction, count],
    )


def say(page: Any, text: str) -> None:
    page.fill("#say input[name=text]", text)
    page.press("#say input[name=text]", "Enter")


def assistant_texts(page: Any) -> list[str]:
    return page.locator(".turn.role-assistant.turn-message .turn-text").all_inner_texts()


def compose(page: Any, event: dict[str, Any] | str) -> None:
    """Send one event from the composer (opening it if needed)."""
    if not page.locator("#composer-details").evaluate("d => d.open"):
        page.click("#composer-details summary")
    page.fill("#composer-json", event if isinstance(event, str) else json.dumps(event))
    page.click("#composer-send")


def seqs(page: Any, where: str) -> list[int]:
    return page.evaluate(f"() => {where}.map(f => f.seq)")


# --- conversations -----------------------------------------------------------------------------------------------


def test_text_conversation_streams_into_the_transcript(page: Any, live_url: str, page_errors: list[str]) -> None:
    connect_text_session(page, live_url)
    say(page, "What a nice playground")
    wait_for_event(page, "response.done")
    assert page.locator(".turn.role-user .turn-text").all_inner_texts() == ["What a nice playground"]
    assert assistant_texts(page) == ['You said: "What a nice playground".']
    assert page.locator("[data-mismatch]").count() == 0
    # The log merged the six deltas (one per word) into one row with a count.
    delta_row = page.locator("#events li:has(.type:text-is('response.output_text.delta'))")
    assert delta_row.locator(".count").inner_text() == "×6"
    # Figures: one finished response with its usage.
    page.wait_for_selector("#figures-body tr td:text-is('completed')")
    assert page.locator("#figures-body tr").count() == 1
    assert page_errors == []


def test_function_call_answered_from_the_transcript(page: Any, live_url: str, page_errors: list[str]) -> None:
    connect_text_session(page, live_url)
    page.fill("#sp-tools", json.dumps(WEATHER_TOOLS, indent=2))
    page.click("#apply-session")
    page.wait_for_selector("#apply-status:text('Applied.')")
    applied = page.evaluate(
        "() => window.__console.store.frames.filter(f => f.event && f.event.type === 'session.updated').pop().event"
    )
    assert applied["session"]["tools"][0]["name"] == "get_weather"
    assert page.locator("#sp-tool-choice option[value='function:get_weather']").count() == 1

    say(page, "what is the weather in Moscow")
    call = page.locator(".turn-function_call")
    call.locator(".fn-name:text-is('get_weather')").wait_for()
    wait_for_event(page, "response.done")
    assert json.loads(call.locator(".fn-args").inner_text()) == {"city": "Moscow"}

    call.locator("textarea[name=output]").fill('{"temp": 20}')
    call.locator("button[type=submit]").click()
    wait_for_event(page, "response.done", count=2)
    assert assistant_texts(page) == ['The tool answered: {"temp": 20}.']
    assert page.locator(".turn-function_call_output").inner_text().endswith('{"temp": 20}')
    call.locator(".badge.answered").wait_for()
    assert call.locator("form.call-answer").is_hidden()
    sent = page.evaluate(
        "() => window.__console.store.frames.filter(f => f.direction === 'client').slice(-2).map(f => f.event)"
    )
    assert sent[0]["item"] == {"type": "function_call_output", "call_id": "call_0001", "output": '{"temp": 20}'}
    assert sent[1]["type"] == "response.create"
    assert page_errors == []


def test_audio_answer_shows_its_transcript_and_trimmed_audio(page: Any, live_url: str, page_errors: list[str]) -> None:
    sign_up(page, live_url)
    page.select_option("select[name=modality]", "audio")
    page.click("text=Connect")
    page.wait_for_url("**/sessions/*/")
    wait_open(page)
    say(page, "Sing it")
    wait_for_event(page, "response.done")
    assert assistant_texts(page) == ['You said: "Sing it".']
    # The audio deltas are in memory whole (for playback), hidden from the log until asked for.
    chunk = page.evaluate(
        "() => window.__console.store.frames.find(f => f.event.type === 'response.output_audio.delta').event.delta"
    )
    assert len(chunk) == 7056  # 60 ms of PCM16 at 44100 Hz: 5,292 bytes
    assert page.locator("#events li:has(.type:text-is('response.output_audio.delta'))").count() == 0
    page.check("#log-audio")
    row = page.locator("#events li:has(.type:text-is('response.output_audio.delta'))").first
    assert row.locator(".sum").inner_text() == "[base64 audio, 5,292 bytes]"
    row.locator(".log-line").click()
    detail = page.locator("#events li.expanded .log-json").inner_text()
    assert "[base64, 5,292 bytes]" in detail
    assert chunk not in detail
    page.focus("#log-viewport")
    page.keyboard.press("Escape")
    page.wait_for_selector("#events li.expanded", state="detached")
    # Figures: the time to the first audio is measured.
    first_audio = page.locator("#figures-body tr").first.locator("td").nth(4).inner_text()
    assert first_audio.endswith(" ms")
    assert page_errors == []


def test_each_client_event_can_be_sent_from_the_composer(page: Any, live_url: str, page_errors: list[str]) -> None:
    connect_text_session(page, live_url)
    say(page, "Hello")
    wait_for_event(page, "response.done")
    page.click("#composer-details summary")
    for event_type in CLIENT_EVENT_TYPES:
        already = page.evaluate(
            "(t) => window.__console.store.frames.filter(f => f.direction === 'client' && f.event.type === t).length",
            event_type,
        )
        page.select_option("#composer-type", event_type)
        # The template is valid as loaded: it names its type and the Send button is enabled.
        assert json.loads(page.input_value("#composer-json"))["type"] == event_type
        assert page.locator("#composer-errors").is_hidden()
        page.click("#composer-send")
        wait_for_event(page, event_type, direction="client", count=already + 1)
    # The log, filtered to what the browser sent, shows all eleven types (audio appends once shown).
    page.check("#log-audio")
    page.uncheck("#log-dir-server")
    page.uncheck("#log-dir-playground")
    page.wait_for_function("() => document.querySelectorAll('#events li.dir-server').length === 0")
    shown = set(page.locator("#events li .type").all_inner_texts())
    assert shown == set(CLIENT_EVENT_TYPES)
    # The emulator refuses output_audio_buffer.clear, as Yandex documents: the banner says so in words.
    page.wait_for_selector("#banner:not([hidden])")
    assert "The upstream answered with an error" in page.inner_text("#banner-text")
    assert page_errors == []


def test_composer_checks_before_sending_and_shows_refusals(page: Any, live_url: str) -> None:
    connect_text_session(page, live_url)
    page.click("#composer-details summary")
    page.fill("#composer-json", '{"type": "conversation.item.truncate", "item_id": "item_0001",}')
    page.wait_for_selector("#composer-errors:not([hidden])")
    assert "Not valid JSON" in page.inner_text("#composer-errors")
    assert page.locator("#composer-send").is_disabled()
    page.fill("#composer-json", '{"type": "conversation.item.truncate", "item_id": "item_0001"}')
    page.wait_for_selector("#composer-errors li:has-text('content_index')")
    assert "audio_end_ms" in page.inner_text("#composer-errors")
    assert page.locator("#composer-send").is_disabled()
    # Passes the console's checks but not the server's: the `rejected` notice shows here and in the banner.
    page.fill("#composer-json", '{"type": "response.create", "response": {"output_modalities": ["video"]}}')
    page.wait_for_selector("#composer-send:enabled")
    page.click("#composer-send")
    page.wait_for_selector("#composer-status:text('Refused')")
    assert "response.output_modalities" in page.inner_text("#composer-errors")
    assert "Refused by the playground" in page.inner_text("#banner-text")
    # Esc folds the composer away.
    page.focus("#composer-json")
    page.keyboard.press("Escape")
    assert not page.locator("#composer-details").evaluate("d => d.open")


def test_invalid_tools_json_is_named_inline_and_blocks_apply(page: Any, live_url: str) -> None:
    connect_text_session(page, live_url)
    apply = page.locator("#apply-session")
    error = page.locator("#sp-tools-error")
    assert apply.is_enabled()

    page.fill("#sp-tools", '[{"type": "function", "name": "get_weather",}]')
    assert "Not valid JSON (line 1, column" in error.inner_text()
    assert apply.is_disabled()
    assert page.get_attribute("#sp-tools", "aria-invalid") == "true"

    page.fill("#sp-tools", '[{"type": "function", "description": "no name"}]')
    assert error.inner_text().startswith("tools[0].name:")
    assert apply.is_disabled()

    page.fill("#sp-tools", '{"type": "function", "name": "get_weather"}')
    assert "must be a JSON array" in error.inner_text()
    assert apply.is_disabled()

    page.fill("#sp-tools", '[{"type": "function", "name": "get_weather", "parmeters": {}}]')
    assert error.inner_text().startswith("tools[0].parmeters:")

    page.fill("#sp-tools", json.dumps(WEATHER_TOOLS))
    assert error.is_hidden()
    assert apply.is_enabled()
    page.fill("#sp-max-tokens", "many")
    assert apply.is_disabled()
    assert "inf" in page.inner_text("#sp-max-tokens-error")
    page.fill("#sp-max-tokens", "200")
    assert apply.is_enabled()


# --- the event log at scale ----------------------------------------------------------------------------------------

SYNTHETIC = """([from, count]) => {
  // Four types in turn; the audio deltas (hidden by default) keep the text deltas from merging.
  const types = ["response.created", "response.output_text.delta", "response.output_audio.delta", "response.done"];
  const frames = [];
  const t0 = window.__console.store.t0 || Date.now() / 1000;
  for (let i = 0; i < count; i++) {
    const seq = from + i;
    const type = types[i % 4];
    const event = { type, event_id: "synthetic_" + seq, response_id: "resp_synth", item_id: "item_synth" };
    if (type === "response.output_text.delta") event.delta = seq === from + 4001 ? "needle " : "w ";
    if (type === "response.output_audio.delta") event.delta = "AAAA".repeat(300);
    if (type === "response.created" || type === "response.done") {
      event.response = { id: "resp_s" + seq, status: "completed" };
    }
    frames.push({ seq, direction: "server", ts: t0 + 60 + i / 1000, event });
  }
  const started = performance.now();
  window.__console.ingest(frames);
  window.__console.log.flush();
  return performance.now() - started;
}"""


def test_the_log_keeps_following_the_newest_event_when_its_viewport_shrinks(
    page: Any, live_url: str, page_errors: list[str]
) -> None:
    """A toolbar that wraps (a long event type added to the filter) shrinks the log while it follows
    the tail; that is no scroll by the user, so the newest event must stay in view."""
    connect_text_session(page, live_url)
    page.click("#close-session")
    page.wait_for_selector("#state:text('ended')")
    last = page.evaluate("() => window.__console.store.lastSeq")
    # A log taller than its viewport, rendered, then the viewport made 15 px shorter in the same task:
    # the browser's scroll event for the render arrives after the shrink, as it did in CI.
    page.evaluate(
        """([from]) => {
          const frames = [];
          for (let i = 0; i < 60; i++) {
            const type = i % 2 ? "response.done" : "response.created";
            frames.push({ seq: from + i, direction: "server", ts: window.__console.store.t0 + 30 + i / 100,
                          event: { type, response: { id: "resp_" + i } } });
          }
          window.__console.ingest(frames);
          window.__console.log.flush();
          const viewport = document.getElementById("log-viewport");
          viewport.style.flex = `0 0 ${viewport.clientHeight - 15}px`;
        }""",
        [last + 1],
    )
    # Two animation frames: the scroll event is dispatched before the first one's callbacks.
    page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
    page.evaluate(
        """([from]) => window.__console.ingest([{ seq: from, direction: "server",
            ts: window.__console.store.t0 + 31, event: { type: "response.created", response: { id: "resp_b" } } }])""",
        [last + 61],
    )
    newest = page.locator(f"#events li:has(.seq:text-is('{last + 61}'))")
    newest.wait_for()
    box, view = newest.bounding_box(), page.locator("#log-viewport").bounding_box()
    assert view["y"] <= box["y"] and box["y"] + box["height"] <= view["y"] + view["height"] + 1
    assert page.locator("#log-jump").is_hidden()
    assert page_errors == []


def test_event_log_handles_20000_events(page: Any, live_url: str, page_errors: list[str]) -> None:
    connect_text_session(page, live_url)
    page.click("#close-session")
    page.wait_for_selector("#state:text('ended')")
    last = page.evaluate("() => window.__console.store.lastSeq")
    real_rows = page.evaluate("() => window.__console.log.rows.length")

    started = time.monotonic()
    took_ms = page.evaluate(SYNTHETIC, [last + 1, 20_000])
    page.wait_for_selector(f"#events li .seq:text-is('{last + 20_000}')")  # following the tail
    assert time.monotonic() - started < 10, "ingest and render should take well under a second; 10 s is a sanity bound"
    assert took_ms < 5000
    rendered = page.locator("#events li").count()
    assert 0 < rendered < 200
    # The audio deltas are hidden: 15,000 rows of the 20,000 synthetic frames.
    assert page.evaluate("() => window.__console.log.rows.length") == real_rows + 15_000
    assert "20,0" in page.inner_text("#event-count")

    # Scroll to the top and back to the end: only the rows in view are in the DOM.
    page.evaluate("() => { document.getElementById('log-viewport').scrollTop = 0; }")
    page.wait_for_selector("#events li .seq:text-is('1')")
    assert page.locator("#events li").count() < 200
    page.focus("#log-viewport")
    page.keyboard.press("End")
    page.wait_for_selector(f"#events li .seq:text-is('{last + 20_000}')")
    assert page.locator("#events li").count() < 200

    # Filter by type.
    page.select_option("#log-type", "response.done")
    page.wait_for_function(
        "() => [...document.querySelectorAll('#events li .type')].every(t => t.textContent === 'response.done')"
    )
    assert page.evaluate("() => window.__console.log.rows.length") == 5_000
    assert page.locator("#events li").count() < 200
    page.select_option("#log-type", "")

    # Audio deltas shown on demand; a search finds the one needle.
    page.check("#log-audio")
    page.wait_for_function(f"() => window.__console.log.rows.length === {real_rows} + 20000")
    page.fill("#log-search", "needle")
    page.wait_for_function("() => window.__console.log.rows.length === 1")
    assert page.locator("#events li .sum").inner_text() == '"needle "'
    # A row expands with its JSON; Esc collapses it.
    page.click("#events li .log-line")
    page.wait_for_selector("#events li.expanded .log-json")
    assert '"delta": "needle "' in page.inner_text("#events li.expanded .log-json")
    page.focus("#log-viewport")
    page.keyboard.press("Escape")
    page.wait_for_selector("#events li.expanded", state="detached")
    page.fill("#log-search", "")

    page.click("#log-clear")
    page.wait_for_function("() => document.querySelectorAll('#events li').length === 0")
    assert page.inner_text("#event-count").startswith("0 events")
    assert page_errors == []


# --- reconnection -----------------------------------------------------------------------------------------------


def test_socket_killed_mid_response_resumes_without_gap_or_duplicate(page: Any, live_url: str) -> None:
    sign_up(page, live_url)
    question = "Tell me a story"
    body = {"upstream": "emulator", "session": {"output_modalities": ["text"]}, "emulator": {"pace": 50}}
    open_session(page, live_url, body)
    wait_open(page)
    compose(
        page,
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": question}]},
        },
    )
    wait_for_event(page, "conversation.item.done")
    compose(page, {"type": "response.create", "response": {"metadata": {"emulator_words": "150"}}})
    # Kill the socket once a few words are in, well before the ~3 s answer is done.
    page.wait_for_function("() => window.__console.transcript.lastAssistantText().split(' ').length >= 15")
    done_before_kill = page.evaluate(
        "() => { const c = window.__console;"
        " const done = c.store.frames.some(f => f.event && f.event.type === 'response.done');"
        " c.socket.kill(); return done; }"
    )
    assert not done_before_kill
    page.wait_for_selector("#socket-state.socket-waiting")
    wait_for_event(page, "response.done")
    assert page.evaluate("() => window.__console.socket.connects") >= 2

    expected = " ".join(stretch(f'You said: "{question}".'.split(), 150))
    assert page.evaluate("() => window.__console.transcript.lastAssistantText()") == expected
    assert assistant_texts(page) == [expected]
    assert page.locator("[data-mismatch]").count() == 0
    numbered = seqs(page, "window.__console.store.frames")
    assert numbered == list(range(1, len(numbered) + 1))
    assert seqs(page, "window.__console.log.entries") == numbered
    # Every delta arrived once: 150 words in 150 deltas.
    deltas = page.evaluate(
        "() => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === 'response.output_text.delta').length"
    )
    assert deltas == 150


# --- theme, layout and screenshots ------------------------------------------------------------------------------


def test_theme_toggle_is_remembered(page: Any, live_url: str) -> None:
    page.emulate_media(color_scheme="light")
    sign_up(page, live_url)
    assert page.evaluate("() => document.documentElement.dataset.theme") is None
    # theme.js gives the button its state and its click handler together, at DOMContentLoaded: a click
    # before that (a loaded machine, a fast test) would do nothing.
    page.wait_for_selector("#theme-toggle[title]")  # set by theme.js, not the template
    page.click("#theme-toggle")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    page.reload()
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.inner_text("#theme-toggle").endswith("Light")
    page.click("#theme-toggle")
    assert page.evaluate("() => localStorage.getItem('playground.theme')") == "light"


def _conversation_for_screenshots(page: Any, live_url: str) -> None:
    sign_up(page, live_url)
    open_session(
        page,
        live_url,
        {
            "upstream": "emulator",
            "session": {"output_modalities": ["text"], "instructions": "Be brief.", "tools": WEATHER_TOOLS},
        },
    )
    wait_open(page)
    say(page, "Hello there, playground")
    wait_for_event(page, "response.done")
    say(page, "what is the weather in Moscow")
    page.locator(".call-answer textarea").fill('{"temp": 20}')
    page.locator(".call-answer button[type=submit]").click()
    wait_for_event(page, "response.done", count=3)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, live_url: str, scheme: str) -> None:
    """docs/console-*.png at 1280 by 720 and 375 by 800; the phone layout stacks the panels."""
    DOCS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme=scheme)
    try:
        page = context.new_page()
        _conversation_for_screenshots(page, live_url)
        page.click("#events li:has(.type:text-is('response.function_call_arguments.done')) .log-line")
        page.wait_for_selector("#events li.expanded")
        page.screenshot(path=str(DOCS / f"console-desktop-{scheme}.png"))
        # Three columns side by side at 1280 px.
        boxes = [page.locator(s).bounding_box() for s in (".session-panel", ".talk", ".log-panel")]
        assert boxes[0]["x"] < boxes[1]["x"] < boxes[2]["x"]
        assert abs(boxes[0]["y"] - boxes[2]["y"]) < 2

        phone = context.new_page()
        phone.set_viewport_size({"width": 375, "height": 800})
        phone.goto(page.url)
        wait_open(phone)
        wait_for_event(phone, "response.done", count=3)
        phone.screenshot(path=str(DOCS / f"console-phone-{scheme}.png"))
        # Stacked: the conversation below the (folded) settings, the log below the conversation.
        talk, log = phone.locator(".talk").bounding_box(), phone.locator(".log-panel").bounding_box()
        assert log["y"] >= talk["y"] + talk["height"]
        assert talk["width"] <= 375
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
