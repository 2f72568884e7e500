"""The whole team flow in a real browser, two people, two browser contexts:

Alice talks in the console and saves the session as a preset, shares its link; Bob opens the link,
forks the preset into his workspace, runs it, closes the session and replays the recording; he
shares the recording by link and an anonymous visitor replays it too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import sign_up
from tests.browser.test_presets_ui import live, say, script_errors, wait_detail, wait_for_event

__all__ = ["live"]  # the module fixture with onboarding presets, shared with the presets UI tests

DOCS = Path(__file__).resolve().parents[2] / "docs"

pytestmark = pytest.mark.browser


@pytest.fixture
def bob(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    yield context.new_page()
    context.close()


def _replay_to_the_end(page: Any) -> str:
    page.wait_for_function("() => window.__replay && window.__replay.ready")
    page.evaluate("() => window.__replay.setSpeed(4)")
    page.click("#replay-play")
    # Played through to its end: a position past 0 (it starts at 0), every frame shown, stopped. No wait
    # for `playing` on the way: at 4x a short recording can be over before such a wait first looks.
    page.wait_for_function(
        "() => window.__replay.position > 0 && !window.__replay.playing"
        " && window.__replay.shown === window.__replay.total",
        timeout=30_000,
    )
    return str(page.inner_text("#transcript"))


def test_save_share_fork_run_replay(page: Any, bob: Any, browser: Any, live: str, page_errors: list[str]) -> None:
    # Alice: a conversation in the console, saved as a preset with its messages.
    sign_up(page, live)
    page.goto(live + "/")
    page.fill("#new-session textarea[name=instructions]", "Answer briefly.")
    page.click("#new-session button[type=submit]")
    page.wait_for_url("**/sessions/*/")
    page.wait_for_selector("#socket-state.socket-open")
    wait_for_event(page, "session.updated")
    say(page, "What is a realtime API?")
    wait_for_event(page, "response.done")
    page.click("#save-as-preset")
    dialog = page.locator("#save-preset-dialog")
    dialog.wait_for()
    dialog.locator("input[name=name]").fill("Realtime explainer")
    page.click("#save-preset-new")
    page.wait_for_selector("#saved-preset-link")
    page.click("#saved-preset-link")
    wait_detail(page)
    assert page.inner_text("#preset-title") == "Realtime explainer"

    # Alice shares it by link.
    page.wait_for_selector("#sharing-box:visible")
    page.click("#share-create")
    page.wait_for_selector("#share-link-row:visible")
    link = page.input_value("#share-link")
    assert "/s/p/" in link

    # Bob, signed in, opens the link: read-only, and forks it into his workspace.
    bob_name = sign_up(bob, live)
    bob.goto(link)
    wait_detail(bob)
    assert bob.inner_text("#preset-title") == "Realtime explainer"
    assert bob.locator("#pf-content").evaluate("t => t.readOnly")
    bob.click("#fork-preset")
    bob.wait_for_url(lambda url: "/presets/" in url and "/s/p/" not in url)
    wait_detail(bob)
    fork = bob.evaluate("() => window.__preset.detail")
    assert fork["owner"] == bob_name and fork["can_change"] is True
    assert fork["content"]["conversation"][0]["content"][0]["text"] == "What is a realtime API?"

    # He runs it: the console opens from the preset and its opening conversation is answered.
    bob.click("#run-preset")
    bob.wait_for_url("**/sessions/*/")
    bob.wait_for_selector("#socket-state.socket-open")
    wait_for_event(bob, "response.done")
    assert "Realtime explainer" in bob.inner_text("#preset-origin")
    session_url = bob.url
    bob.click("#close-session")
    bob.wait_for_selector("#console.is-ended", timeout=15_000)

    # He replays the recording: the answer comes back at 4x.
    bob.goto(session_url)
    bob.click("#replay-link")
    transcript = _replay_to_the_end(bob)
    assert "What is a realtime API?" in transcript
    assert 'You said: "What is a realtime API?"' in transcript

    # And shares the recording: an anonymous visitor replays it from the link, nothing more.
    bob.click("#share-box summary")
    bob.click("#share-create")
    bob.wait_for_selector("#share-link-row:visible")
    recording_link = bob.input_value("#share-link")
    assert "/s/r/" in recording_link
    bob.screenshot(path=str(DOCS / "replay-shared.png"))
    anonymous = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        visitor = anonymous.new_page()
        visitor.goto(recording_link)
        assert "What is a realtime API?" in _replay_to_the_end(visitor)
        assert visitor.locator("#share-box").count() == 0 and visitor.locator("#rerun").count() == 0
        assert visitor.request.get(live + visitor.get_attribute("#export-md", "href")).status == 200
    finally:
        anonymous.close()
    assert script_errors(page_errors) == []
