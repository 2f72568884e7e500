"""The preset pages (/presets/, /presets/<id>/, /s/p/<token>/), the console's "Save as preset" and the
home page's "Start from a preset", driven through the real UI against the emulator.

Test hooks: `window.__presets` on the list (reload, presets, trashed) and `window.__preset` on a
preset's page (page, detail, reload); conftest's page_api(..., whole_url=True) is the pages' own API call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import open_session, page_api, sign_up
from tests.live_server import ROOT, served_playground

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
ONBOARDING = {"Text chat", "Russian voice agent", "Function calling: weather", "Interruption demo", "VAD tuning"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A served playground of its own, with the five onboarding presets loaded as `make run` does."""
    var = tmp_path_factory.mktemp("presets-ui")
    with served_playground(var) as url:
        env = {**os.environ, "PLAYGROUND_VAR_DIR": str(var), "DJANGO_SETTINGS_MODULE": "playground.settings"}
        subprocess.run(
            [sys.executable, "manage.py", "load_onboarding_presets"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        yield url


# --- helpers ---------------------------------------------------------------------------------------------------


def script_errors(errors: list[str]) -> list[str]:
    """Uncaught errors and console errors, without the browser's own line for an HTTP error answer
    (the pages show those in words; some tests cause them on purpose)."""
    return [e for e in errors if not e.startswith("Failed to load resource")]


def open_list(page: Any, live: str) -> None:
    page.goto(live + "/presets/")
    page.wait_for_selector(".preset-group[data-group='builtin'] .preset-card")


def open_preset(page: Any, live: str, preset_id: str) -> None:
    page.goto(f"{live}/presets/{preset_id}/")
    wait_detail(page)


def wait_detail(page: Any) -> None:
    page.wait_for_function("() => window.__preset && window.__preset.detail")


def api(page: Any, method: str, url: str, body: Any = None) -> Any:
    """The page's own API call (its cookie and CSRF header); on a preset page or the list."""
    return page_api(page, method, url, body, whole_url=True)


def create_preset(page: Any, live: str, name: str, content: dict[str, Any] | None = None) -> dict[str, Any]:
    open_list(page, live)
    body = {"name": name, "tags": ["mine"], "content": content or {"session": {"instructions": "Be brief."}}}
    return dict(api(page, "POST", "/api/presets", body))


def builtin_id(page: Any, name: str) -> str:
    return str(page.evaluate("(name) => window.__presets.presets.find(p => p.builtin && p.name === name).id", name))


def card_names(page: Any, group: str) -> list[str]:
    return page.locator(f".preset-group[data-group='{group}'] .preset-card h3").all_inner_texts()


def say(page: Any, text: str) -> None:
    page.fill("#say input[name=text]", text)
    page.press("#say input[name=text]", "Enter")


def wait_for_event(page: Any, event_type: str, count: int = 1) -> None:
    page.wait_for_function(
        "([type, n]) => window.__console.store.frames"
        ".filter(f => f.event && f.event.type === type && f.direction === 'server').length >= n",
        arg=[event_type, count],
    )


# --- the list ----------------------------------------------------------------------------------------------------


def test_list_shows_the_onboarding_presets_with_tag_filter_and_search(
    page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    page.click("nav a:text-is('Presets')")
    page.wait_for_selector(".preset-group[data-group='builtin'] .preset-card")
    assert set(card_names(page, "builtin")) == ONBOARDING
    assert "None of yours yet" in page.inner_text(".preset-group[data-group='mine']")

    page.click(".chip[data-tag='tools']")
    assert card_names(page, "builtin") == ["Function calling: weather"]
    assert "tag=tools" in page.url
    page.click(".chip[data-tag='']")
    assert len(card_names(page, "builtin")) == 5

    page.fill("#preset-search", "russian")
    assert card_names(page, "builtin") == ["Russian voice agent"]
    page.fill("#preset-search", "no such thing at all")
    assert "None match the filter." in page.inner_text(".preset-group[data-group='builtin']")
    assert script_errors(page_errors) == []


def test_home_page_starts_a_session_from_a_preset(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    page.wait_for_selector("#start-presets li[data-preset-id]")
    names = page.locator("#start-presets li .sp-text a").all_inner_texts()
    assert set(names) == ONBOARDING
    page.click("#start-presets li:has-text('Text chat') button")
    page.wait_for_url("**/sessions/*/")
    page.wait_for_selector("#socket-state.socket-open")
    assert page.evaluate("() => window.__console.page.config.instructions").startswith("You are a friendly assistant")
    assert script_errors(page_errors) == []


# --- one preset --------------------------------------------------------------------------------------------------


def test_run_opens_the_console_and_it_streams_an_answer(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    open_list(page, live)
    page.click(".preset-card h3 a:text-is('Text chat')")
    wait_detail(page)
    assert page.inner_text("#preset-title") == "Text chat"
    assert page.locator("#readonly-banner").is_visible()  # builtin: read it, run it, fork it
    assert page.locator("#pf-content").evaluate("t => t.readOnly")
    assert page.locator("#save-preset").is_hidden()

    page.click("#run-preset")
    page.wait_for_url("**/sessions/*/")
    page.wait_for_selector("#socket-state.socket-open")
    page.wait_for_selector("#preset-origin:text('from preset Text chat v1')")
    say(page, "Hello from a preset")
    wait_for_event(page, "response.done")
    answer = page.locator(".turn.role-assistant.turn-message .turn-text").all_inner_texts()
    assert answer == ['You said: "Hello from a preset".']
    assert script_errors(page_errors) == []


def test_new_preset_edit_save_makes_version_2_and_the_diff_shows_the_change(
    page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    open_list(page, live)
    page.click("#new-preset")
    page.fill("#new-form input[name=name]", "Diff me")
    page.fill("#new-form input[name=tags]", "demo, diff")
    page.click("#new-create")
    page.wait_for_url("**/presets/*/")
    wait_detail(page)
    assert page.input_value("#pf-tags") == "demo, diff"
    assert page.inner_text("#preset-badges").startswith("v1")

    content = json.loads(page.input_value("#pf-content"))
    content["session"]["instructions"] = "Answer like a pirate."
    page.fill("#pf-content", json.dumps(content, indent=2))
    page.fill("#pf-description", "Now with a pirate")
    page.click("#save-preset")
    page.wait_for_selector("#save-status:text('Saved as version 2.')")
    assert page.inner_text("#preset-badges").startswith("v2")

    page.click("#tab-versions")
    page.wait_for_selector("#version-list li[data-version='2']")
    assert page.locator("#version-list li").count() == 2
    assert page.input_value("#diff-from") == "1" and page.input_value("#diff-to") == "2"
    page.wait_for_selector("#diff-view .dl-add")
    added = page.locator("#diff-view .dl-add").all_inner_texts()
    removed = page.locator("#diff-view .dl-del").all_inner_texts()
    assert any('"instructions": "Answer like a pirate."' in line for line in added), added
    assert any('"instructions": "You are a helpful assistant."' in line for line in removed), removed
    # The colours: added lines green-ish, removed red-ish (their own backgrounds, not the page's).
    add_bg = page.locator("#diff-view .dl-add").first.evaluate("e => getComputedStyle(e).backgroundColor")
    del_bg = page.locator("#diff-view .dl-del").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert add_bg != del_bg and "0, 0, 0, 0" not in add_bg

    page.click("#diff-split")
    page.wait_for_selector("#diff-view table.diff.split")
    assert "Answer like a pirate." in page.locator("#diff-view td.dl-add").first.inner_text()
    assert "You are a helpful assistant." in page.locator("#diff-view td.dl-del").first.inner_text()
    # v1 against itself: the same content.
    page.select_option("#diff-to", "1")
    page.wait_for_selector("#diff-view:has-text('the same content')")
    assert script_errors(page_errors) == []


def test_bad_json_and_a_bad_field_are_named_and_nothing_is_saved(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    preset = create_preset(page, live, "Strict one")
    open_preset(page, live, preset["id"])

    page.fill("#pf-content", '{"session": {"instructions": "x",}}')
    errors = page.locator("#pf-errors")
    errors.wait_for()
    assert errors.locator("code.field").all_inner_texts() == ["content"]
    assert "not valid JSON at line 1" in errors.inner_text()
    assert page.locator("#save-preset").is_disabled()
    assert page.locator("#pf-content").get_attribute("aria-invalid") == "true"

    page.fill("#pf-content", '{"sesion": {}}')
    assert "content.sesion" in errors.inner_text()

    bad = {"session": {"audio": {"output": {"format": {"type": "audio/pcm", "rate": 5}}}}}
    page.fill("#pf-content", json.dumps(bad, indent=2))
    assert errors.is_hidden()
    page.click("#save-preset")
    page.wait_for_selector("#pf-errors code.field:text-is('content.session.audio.output.format.rate')")
    assert "greater than or equal to 8000" in errors.inner_text()
    assert "line 7" in errors.inner_text()  # where "rate" is in the editor
    assert "Not saved (HTTP 422)" in page.inner_text("#save-status")

    page.fill("#pf-name", "")
    assert "name" in errors.locator("code.field").all_inner_texts()
    assert page.locator("#save-preset").is_disabled()

    stored = api(page, "GET", f"/api/presets/{preset['id']}")
    assert stored["version"] == 1 and stored["name"] == "Strict one"
    assert stored["content"]["session"]["instructions"] == "Be brief."
    assert "audio" not in stored["content"]["session"]
    assert len(api(page, "GET", f"/api/presets/{preset['id']}/versions")) == 1
    assert script_errors(page_errors) == []


def test_fork_a_builtin_preset_into_my_workspace(page: Any, live: str, page_errors: list[str]) -> None:
    me = sign_up(page, live)
    open_list(page, live)
    source = builtin_id(page, "Function calling: weather")
    open_preset(page, live, source)
    assert page.inner_text("#fork-preset") == "Fork into my workspace"
    page.click("#fork-preset")
    page.wait_for_function("(id) => !location.pathname.includes(id)", arg=source)
    page.wait_for_url("**/presets/*/")
    wait_detail(page)
    detail = page.evaluate("() => window.__preset.detail")
    assert detail["owner"] == me and detail["forked_from"] == source and detail["can_change"] is True
    assert page.locator("#save-preset").is_visible() and page.locator("#readonly-banner").is_hidden()
    assert page.locator("#about-list a:text-is('the original')").get_attribute("href") == f"/presets/{source}/"

    open_list(page, live)
    assert card_names(page, "mine") == ["Function calling: weather"]
    assert script_errors(page_errors) == []


def test_trash_and_restore(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    preset = create_preset(page, live, "Throw me away")
    open_preset(page, live, preset["id"])
    page.click("#trash-preset")
    page.wait_for_selector("#trash-banner:visible")
    assert "in the trash" in page.inner_text("#preset-badges")
    assert page.locator("#run-preset").is_disabled()

    open_list(page, live)
    assert "Throw me away" not in card_names(page, "mine")
    assert page.inner_text("#trash-count") == "1"
    page.click("#tab-trash")
    card = page.locator("#trash-list .preset-card:has-text('Throw me away')")
    card.wait_for()
    card.locator("button:text-is('Restore')").click()
    page.wait_for_selector("#list-status:text('Restored “Throw me away”.')")
    assert page.locator("#trash-list .preset-card").count() == 0
    page.click("#tab-presets")
    assert card_names(page, "mine") == ["Throw me away"]

    # And back once more from the preset's own page.
    open_preset(page, live, preset["id"])
    page.click("#trash-preset")
    page.click("#restore-preset")
    page.wait_for_selector("#page-status:text('Restored.')")
    assert page.locator("#trash-banner").is_hidden()
    assert script_errors(page_errors) == []


def test_import_names_the_bad_field_then_imports_a_good_file(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    open_list(page, live)
    bad = {"format": "realtime-playground.preset", "version": 2, "name": "Bad", "content": {"conversation": [{}]}}
    page.set_input_files(
        "#import-file", files=[{"name": "bad.json", "mimeType": "application/json", "buffer": json.dumps(bad).encode()}]
    )
    page.wait_for_selector("#list-status:has-text('Not imported')")
    assert "(field content.conversation[0]" in page.inner_text("#list-status")

    good = {
        "format": "realtime-playground.preset",
        "version": 1,
        "name": "Imported one",
        "session": {"output_modalities": ["text"]},
    }
    page.set_input_files(
        "#import-file", files=[{"name": "ok.json", "mimeType": "application/json", "buffer": json.dumps(good).encode()}]
    )
    page.wait_for_url("**/presets/*/")
    wait_detail(page)
    assert page.inner_text("#preset-title") == "Imported one"
    assert script_errors(page_errors) == []


def test_view_code_tabs_show_code_with_copy(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    open_list(page, live)
    open_preset(page, live, builtin_id(page, "Function calling: weather"))
    page.click("#tab-code")
    for lang in ("openai", "websockets", "curl"):
        page.click(f".code-lang[data-lang='{lang}']")
        page.wait_for_function("() => !['', 'Loading…'].includes(document.getElementById('code-text').textContent)")
        assert page.inner_text("#code-status") == "", page.inner_text("#code-status")
        assert "get_weather" in page.inner_text("#code-text")
        assert page.inner_text("#code-filename")
    page.click("#code-copy")
    page.wait_for_selector("#code-status:text-matches('Copied|Could not copy')")
    assert script_errors(page_errors) == []


def test_share_link_opens_read_only_for_anyone_and_revoke_ends_it(
    browser: Any, page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    preset = create_preset(page, live, "Shared by link")
    open_preset(page, live, preset["id"])
    page.wait_for_selector("#sharing-box:visible")
    page.click("#share-create")
    page.wait_for_selector("#share-link-row:visible")
    link = page.input_value("#share-link")
    assert "/s/p/" in link and page.locator("#share-revoke").is_visible()

    anonymous = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        other = anonymous.new_page()
        other.goto(link)
        wait_detail(other)
        assert other.inner_text("#preset-title") == "Shared by link"
        assert other.locator("#pf-content").evaluate("t => t.readOnly")
        assert other.locator("#run-preset").is_hidden() and other.locator("#tab-versions").is_hidden()
        assert other.locator("#sharing-box").is_hidden()
        other.click("#fork-preset")
        other.wait_for_url(lambda url: "/accounts/login/?next=/s/p/" in url)
    finally:
        anonymous.close()

    page.click("#share-revoke")
    page.wait_for_selector("#share-create:visible")
    assert page.locator("#share-link-row").is_hidden()
    assert page.request.get(link).status == 404
    assert script_errors(page_errors) == []


def test_team_visibility_shows_it_to_a_viewer_read_only(
    browser: Any, page: Any, live: str, page_errors: list[str]
) -> None:
    sign_up(page, live)
    preset = create_preset(page, live, "Team recipe")
    team = api(page, "POST", "/api/teams", {"name": "Voice squad"})
    invitation = api(page, "POST", f"/api/teams/{team['id']}/invitations", {"role": "viewer"})
    token = invitation["url"].rstrip("/").rsplit("/", 1)[-1]

    open_preset(page, live, preset["id"])
    page.wait_for_selector(f"#share-visibility option[value='team:{team['id']}']", state="attached")
    page.select_option("#share-visibility", f"team:{team['id']}")
    page.click("#share-save")
    page.wait_for_selector("#share-status:text('Now visible to the team.')")
    detail = page.evaluate("() => window.__preset.detail")
    assert detail["visibility"] == "team" and detail["team"]["name"] == "Voice squad"
    assert "team Voice squad" in page.inner_text("#preset-badges")

    viewer_context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        viewer = viewer_context.new_page()
        sign_up(viewer, live)
        open_list(viewer, live)
        api(viewer, "POST", f"/api/invitations/{token}/accept")
        open_list(viewer, live)
        assert card_names(viewer, "team") == ["Team recipe"]
        assert "team Voice squad" in viewer.inner_text(".preset-group[data-group='team'] .meta")
        viewer.click(".preset-group[data-group='team'] h3 a")
        wait_detail(viewer)
        assert viewer.evaluate("() => window.__preset.detail.can_change") is False
        assert viewer.locator("#readonly-banner").is_visible()
        assert "team preset you can read" in viewer.inner_text("#readonly-text")
        assert viewer.locator("#save-preset").is_hidden() and viewer.locator("#trash-preset").is_hidden()
        assert viewer.locator("#sharing-box").is_hidden() and viewer.locator("#run-preset").is_visible()
        viewer.click("#fork-preset")
        viewer.wait_for_function("(id) => !location.pathname.includes(id)", arg=preset["id"])
        wait_detail(viewer)
        assert viewer.evaluate("() => window.__preset.detail.can_change") is True
    finally:
        viewer_context.close()

    page.select_option("#share-visibility", "private")
    page.click("#share-save")
    page.wait_for_selector("#share-status:text('Now private.')")
    assert script_errors(page_errors) == []


# --- the console's "Save as preset" --------------------------------------------------------------------------------


def test_console_save_as_preset_appears_in_the_list(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    open_session(
        page, live, {"upstream": "emulator", "session": {"output_modalities": ["text"], "instructions": "Be short."}}
    )
    page.wait_for_selector("#socket-state.socket-open")
    wait_for_event(page, "session.updated")
    say(page, "Remember this")
    wait_for_event(page, "response.done")
    assert page.locator("#preset-origin").count() == 0  # not started from a preset

    page.click("#save-as-preset")
    dialog = page.locator("#save-preset-dialog")
    dialog.wait_for()
    assert "(2 messages)" in dialog.inner_text()
    assert page.locator("#save-preset-origin").count() == 0
    dialog.locator("input[name=name]").fill("Saved from the console")
    dialog.locator("input[name=tags]").fill("console, demo")
    page.click("#save-preset-new")
    page.wait_for_selector("#saved-preset-link")
    href = page.get_attribute("#saved-preset-link", "href")

    open_list(page, live)
    assert "Saved from the console" in card_names(page, "mine")
    page.goto(live + href)
    wait_detail(page)
    content = page.evaluate("() => window.__preset.detail.content")
    assert content["session"]["instructions"] == "Be short."
    assert content["session"]["output_modalities"] == ["text"]
    assert content["conversation"] == [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Remember this"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": 'You said: "Remember this".'}],
        },
    ]
    assert page.evaluate("() => window.__preset.detail.tags") == ["console", "demo"]
    assert script_errors(page_errors) == []


def test_console_saves_changes_to_the_preset_it_started_from(page: Any, live: str, page_errors: list[str]) -> None:
    sign_up(page, live)
    preset = create_preset(page, live, "Started here", {"session": {"output_modalities": ["text"]}})
    open_preset(page, live, preset["id"])
    page.click("#run-preset")
    page.wait_for_url("**/sessions/*/")
    page.wait_for_selector("#socket-state.socket-open")
    page.wait_for_selector("#preset-origin:text('from preset Started here v1')")
    page.fill("#sp-instructions", "Changed in the console.")
    page.click("#apply-session")
    page.wait_for_selector("#apply-status:text('Applied.')")

    page.click("#save-as-preset")
    page.wait_for_selector("#save-preset-origin:visible")
    assert page.inner_text("#save-preset-origin") == "Save changes to Started here"
    page.click("#save-preset-origin")
    page.wait_for_selector("#save-preset-dialog .done:has-text('Saved as version 2 of')")
    assert page.inner_text("#preset-origin") == "from preset Started here v2"

    open_preset(page, live, preset["id"])
    assert page.evaluate("() => window.__preset.detail.content.session.instructions") == "Changed in the console."
    assert page.evaluate("() => window.__preset.detail.version") == 2
    assert script_errors(page_errors) == []


# --- screenshots -------------------------------------------------------------------------------------------------


def test_screenshots(browser: Any, live: str) -> None:
    """docs/presets-list.png and docs/preset-page.png at 1280 by 720, docs/presets-phone.png 375 wide."""
    DOCS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 720}, color_scheme="light")
    try:
        page = context.new_page()
        sign_up(page, live)
        open_list(page, live)
        source = builtin_id(page, "Function calling: weather")
        api(page, "POST", f"/api/presets/{source}/fork")
        mine = create_preset(
            page,
            live,
            "Support agent (RU)",
            {
                "session": {
                    "output_modalities": ["audio"],
                    "instructions": "Отвечай кратко.",
                    "audio": {"output": {"voice": "marina"}},
                }
            },
        )
        api(page, "PATCH", f"/api/presets/{mine['id']}", {"description": "Russian voice support, short answers."})
        open_list(page, live)
        page.screenshot(path=str(DOCS / "presets-list.png"))

        open_preset(page, live, mine["id"])
        content = json.loads(page.input_value("#pf-content"))
        content["session"]["instructions"] = "Отвечай кратко и вежливо. Называй себя Мариной."
        content["session"]["audio"]["output"]["voice"] = "alena"
        page.fill("#pf-content", json.dumps(content, indent=2, ensure_ascii=False))
        page.click("#save-preset")
        page.wait_for_selector("#save-status:text('Saved as version 2.')")
        page.click("#tab-versions")
        page.wait_for_selector("#diff-view .dl-add")
        page.click("#diff-split")
        page.wait_for_selector("#diff-view table.diff")
        page.screenshot(path=str(DOCS / "preset-page.png"))
        boxes = [page.locator(s).bounding_box() for s in (".preset-main", ".preset-side")]
        assert boxes[0]["x"] < boxes[1]["x"]  # the sidebar beside the tabs at 1280 px

        phone = context.new_page()
        phone.set_viewport_size({"width": 375, "height": 800})
        phone.goto(page.url)
        wait_detail(phone)
        phone.screenshot(path=str(DOCS / "presets-phone.png"))
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 375
        phone.goto(live + "/presets/")
        phone.wait_for_selector(".preset-card")
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
