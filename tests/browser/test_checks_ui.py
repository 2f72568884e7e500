"""The preset page's Checks tab and the console's "Add as check" and audio file, in Chromium against the emulator.

Test hooks: `window.__preset.checks` (runs, following, form) on a preset's page, `window.__console` on the
console, `window.__replay` on a replay; conftest's page_api is the pages' own API call.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import page_api, sign_up
from tests.check_helpers import WEATHER_TOOL, tone_wav
from tests.live_server import manage, served_playground

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
RUN_OVER = (
    "() => { const c = window.__preset && window.__preset.checks; "
    "return c && c.runs.length >= N && !c.following && !['queued', 'running'].includes(c.runs[0].state); }"
)
CHECKS = [
    {
        "name": "calls get_weather",
        "turns": [
            {
                "user": {"type": "text", "text": "What is the weather in Oslo?"},
                "expect": [
                    {"type": "function_call", "name": "get_weather", "arguments": {"city": "Oslo"}},
                    {"type": "text_contains", "value": "snow"},
                    {"type": "latency", "to": "done", "max_ms": 5000},
                ],
            }
        ],
    },
    {
        "name": "stays within budget",
        "turns": [
            {
                "user": {"type": "text", "text": "Hi"},
                "expect": [{"type": "tokens", "max": 40, "kind": "input"}, {"type": "no_function_call"}],
            }
        ],
    },
    {
        "name": "answers a spoken greeting",
        "turns": [
            {
                "user": {"type": "tts", "text": "Good morning!"},
                "expect": [
                    {"type": "response_status", "status": "completed"},
                    {"type": "judge", "rubric": "Greets back politely."},
                ],
            }
        ],
    },
]
SESSION = {"output_modalities": ["text"], "instructions": "Be brief.", "tools": [WEATHER_TOOL]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A served playground of its own, and its var directory (for manage.py against the same database)."""
    var = tmp_path_factory.mktemp("checks-ui")
    with served_playground(var) as url:
        yield url, var


@pytest.fixture
def live(served: tuple[str, Path]) -> str:
    return served[0]


def script_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if not e.startswith("Failed to load resource")]


def new_preset(page: Any, name: str, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    content = {"session": SESSION, "tool_outputs": {"get_weather": '{"sky": "snow"}'}, "checks": checks or []}
    return dict(page_api(page, "POST", "/presets", {"name": name, "content": content}))


def open_checks(page: Any, live: str, preset_id: str) -> None:
    page.goto(f"{live}/presets/{preset_id}/#checks")
    page.wait_for_selector(
        "#panel-checks:not([hidden]) #checks-matrix table, #panel-checks:not([hidden]) #checks-matrix p"
    )


def run_all(page: Any, runs: int) -> None:
    page.click("#checks-run-all")
    page.wait_for_function(RUN_OVER.replace("N", str(runs)), timeout=60_000)


def test_run_the_checks_read_the_matrix_and_open_a_failure_in_the_replay(
    page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    preset = new_preset(page, "Weather desk", CHECKS)
    open_checks(page, live, preset["id"])
    assert page.inner_text("#checks-count") == "3"
    assert "No run yet" in page.inner_text("#checks-matrix")
    run_all(page, 1)
    assert page.inner_text("#checks-progress-text").startswith(
        "Run of all checks (v1, emulator) finished: 3 of 3 done · 2 passed, 0 failed, 0 errors, 1 not fully run"
    )

    # A second version whose instructions break the token budget, run twice.
    detail = page.evaluate("() => window.__preset.detail")
    content = dict(detail["content"], session=dict(SESSION, instructions="Explain at length. " * 30))
    page_api(page, "PUT", f"/presets/{preset['id']}", {"content": content})
    page.reload()  # the same URL: goto would only move to its #checks
    page.wait_for_function("() => window.__preset.detail && window.__preset.detail.version === 2")
    page.fill("#checks-repeat", "2")
    run_all(page, 2)
    assert "6 of 6 done · 2 passed, 2 failed, 0 errors, 2 not fully run" in page.inner_text("#checks-progress-text")

    assert page.evaluate("() => window.__preset.checks.runs.map(r => r.source)") == ["page", "page"]
    heads = page.locator("#checks-matrix thead th.version-head").all_inner_texts()
    assert heads == ["v2", "v1"]
    budget = page.locator("tr[data-check='stays within budget']")
    assert budget.locator(".cell-btn").evaluate_all("els => els.map(e => e.dataset.status)") == ["failed", "passed"]
    assert budget.locator(".rate").inner_text().replace("\n", " ") == "33% 1/3"
    assert page.locator("tr[data-check='calls get_weather'] .rate").inner_text().startswith("100%")
    judged = page.locator("tr[data-check='answers a spoken greeting'] .cell-btn").first
    assert judged.get_attribute("data-status") == "incomplete" and "0/2" in judged.inner_text()
    assert budget.locator("svg.trend circle").count() == 2

    budget.locator(".cell-btn").first.click()
    page.wait_for_selector("#checks-detail .attempt")
    attempts = page.locator("#checks-detail .attempt")
    assert attempts.count() == 2
    failed = attempts.first.locator(".assertions li[data-status='failed']")
    reason = failed.locator(".a-reason").inner_text()
    assert reason.startswith("used ") and reason.endswith("input tokens, over the 40 allowed")
    assert attempts.first.locator("a", has_text="Compare with the run before").count() == 1

    for theme in ("light", "dark"):
        page.evaluate("(t) => document.documentElement.setAttribute('data-theme', t)", theme)
        page.screenshot(path=str(DOCS / f"checks-tab-{theme}.png"), full_page=True)
    page.evaluate("() => document.documentElement.removeAttribute('data-theme')")

    link = failed.locator("a")
    href = link.get_attribute("href")
    assert href and "/replay/#seq=" in href
    seq = int(href.rsplit("=", 1)[1])
    link.click()
    page.wait_for_function("() => window.__replay && window.__replay.ready")
    page.wait_for_selector("#events li.expanded")
    assert f'"seq": {seq},' in page.inner_text("#events li.expanded")
    shown = page.evaluate("() => window.__replay.shown")
    frames = page.evaluate("() => window.__replay.store.frames.map(f => f.seq)")
    assert frames[shown - 1] >= seq and seq in frames
    assert script_errors(page_errors) == []


def test_edit_checks_in_the_form_and_the_json_refused_fields_are_named(
    page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    preset = new_preset(page, "Editing", CHECKS[:1])
    open_checks(page, live, preset["id"])
    page.click("#checks-new")
    form = page.locator("#check-form")
    form.locator("input[data-field='checks[1].name']").fill("greets")
    form.locator("textarea[data-field='checks[1].turns[0].user.text']").fill("Hello")
    form.get_by_role("button", name="Add assertion").click()
    row = form.locator("[data-field='checks[1].turns[0].expect[1]']")
    row.locator("select").select_option("latency")
    row = form.locator("[data-field='checks[1].turns[0].expect[1]']")
    row.locator("input[data-field='checks[1].turns[0].expect[1].max_ms']").fill("0")
    page.click("#checks-save")
    page.wait_for_selector("#checks-errors:not([hidden])")
    assert page.inner_text("#checks-errors").startswith("checks[1].turns[0].expect[1].max_ms: ")
    assert (
        row.locator("input[data-field='checks[1].turns[0].expect[1].max_ms']").get_attribute("aria-invalid") == "true"
    )
    assert "Not saved (HTTP 422): nothing was changed." in page.inner_text("#checks-save-status")
    assert page_api(page, "GET", f"/presets/{preset['id']}")["version"] == 1

    row.locator("input[data-field='checks[1].turns[0].expect[1].max_ms']").fill("2000")
    page.click("#checks-save")
    page.wait_for_function("() => document.getElementById('checks-save-status').textContent === 'Saved as version 2.'")
    saved = page_api(page, "GET", f"/presets/{preset['id']}/checks")
    assert saved["version"] == 2
    assert saved["checks"][1] == {
        "name": "greets",
        "turns": [
            {
                "user": {"type": "text", "text": "Hello"},
                "expect": [
                    {"type": "response_status", "status": "completed"},
                    {"type": "latency", "to": "first_text", "max_ms": 2000},
                ],
            }
        ],
    }
    assert page.inner_text("#checks-count") == "2"

    # The JSON view: an unknown assertion type is refused naming it, then fixed and saved.
    page.click("#checks-view-json")
    text = page.input_value("#checks-json").replace('"type": "latency"', '"type": "speed"')
    page.fill("#checks-json", text)
    page.click("#checks-save")
    page.wait_for_selector("#checks-errors:not([hidden])")
    assert "checks[1].turns[0].expect[1].type: 'speed' is not one of the assertion types" in page.inner_text(
        "#checks-errors"
    )
    page.fill("#checks-json", text.replace('"type": "speed"', '"type": "latency"').replace("2000", "2500"))
    page.click("#checks-save")
    page.wait_for_function("() => document.getElementById('checks-save-status').textContent === 'Saved as version 3.'")
    assert (
        page_api(page, "GET", f"/presets/{preset['id']}/checks")["checks"][1]["turns"][0]["expect"][1]["max_ms"] == 2500
    )

    # The Content tab shows the content without the checks, and saving it keeps them.
    page.click("#tab-content")
    assert '"checks"' not in page.input_value("#pf-content")
    page.fill("#pf-description", "Edited on the Content tab.")
    page.click("#save-preset")
    page.wait_for_function("() => window.__preset.detail.version === 4")
    assert [c["name"] for c in page_api(page, "GET", f"/presets/{preset['id']}/checks")["checks"]] == [
        "calls get_weather",
        "greets",
    ]
    assert script_errors(page_errors) == []


def test_a_builtin_presets_checks_run_but_are_not_edited_here(
    page: Any, served: tuple[str, Path], page_errors: list[str]
) -> None:
    live, var = served
    manage(var, "load_onboarding_presets")
    sign_up(page, live)
    chat = next(p for p in page_api(page, "GET", "/presets") if p["slug"] == "text-chat")
    open_checks(page, live, chat["id"])
    assert page.is_visible("#checks-readonly") and page.is_hidden("#checks-actions")
    run_all(page, 1)
    assert page.locator(".cell-btn").first.get_attribute("data-status") == "passed"
    assert script_errors(page_errors) == []


def test_add_as_check_and_an_audio_file_from_the_console(
    page: Any, live: str, page_errors: list[str], tmp_path: Path
) -> None:
    sign_up(page, live)
    preset = new_preset(page, "Console desk")
    session = page_api(page, "POST", f"/presets/{preset['id']}/sessions", {"upstream": "emulator"})
    page.goto(f"{live}/sessions/{session['id']}/")
    page.wait_for_selector("#add-as-check:not([hidden])")
    page.fill("#say input[name=text]", "What is the weather in Oslo?")
    page.press("#say input[name=text]", "Enter")
    done = "(n) => window.__console.store.frames.filter(f => f.event && f.event.type === 'response.done').length >= n"
    page.wait_for_function(done, arg=2)  # the call, then the answer from the canned output
    wav = tmp_path / "tone.wav"
    wav.write_bytes(tone_wav(seconds=0.5))
    page.set_input_files("#audio-file", str(wav))
    page.wait_for_function("() => document.getElementById('banner-text').textContent.startsWith('Sent tone.wav')")
    assert page.inner_text("#banner-text") == (
        "Sent tone.wav (0.5 s, resampled from 16000 to 44100 Hz) as your turn: the server's VAD ended the turn."
    )
    page.wait_for_function(done, arg=3)
    appended = page.evaluate(
        "() => window.__console.store.frames"
        ".filter(f => f.direction === 'client' && f.event.type === 'input_audio_buffer.append').length"
    )
    assert appended >= 1

    page.click("#add-as-check")
    page.fill("#add-check-name", "weather then a tone")
    page.click("#add-check-submit")
    page.wait_for_selector("#add-check-result:not([hidden])")
    assert page.inner_text("#add-check-result").startswith(
        "Added “weather then a tone” (2 turns) to “Console desk”, now version 2."
    )
    page.click("#add-check-open")
    page.wait_for_selector("#panel-checks:not([hidden])")
    check = page.evaluate("() => window.__preset.detail.content.checks[0]")
    assert [t["user"]["type"] for t in check["turns"]] == ["text", "audio"]
    assert check["turns"][0]["expect"][1] == {
        "type": "function_call",
        "name": "get_weather",
        "arguments": {"city": "Oslo"},
    }
    run_all(page, 1)
    assert page.locator(".cell-btn").first.get_attribute("data-status") == "passed"
    assert script_errors(page_errors) == []
