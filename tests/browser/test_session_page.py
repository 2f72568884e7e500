"""A new user signs up, opens a session on the emulator and sees its events stream in."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_sign_up_connect_and_watch_a_text_answer(page: Any, live_url: str) -> None:
    page.goto(live_url + "/")
    assert "/accounts/login/" in page.url
    page.click("text=Sign up")
    page.fill("#id_username", "user-" + uuid.uuid4().hex[:6])
    page.fill("#id_password1", "a-Long-pass-42")
    page.fill("#id_password2", "a-Long-pass-42")
    page.click("button[type=submit]")
    page.wait_for_selector("text=New session")
    page.select_option("select[name=modality]", "text")
    page.click("text=Connect")
    page.wait_for_url("**/sessions/*/")
    page.wait_for_selector("#socket-state:text('open')")
    page.wait_for_selector("#events li:has-text('session.created')")
    page.fill("input[name=text]", "What a nice playground")
    page.press("input[name=text]", "Enter")
    page.wait_for_selector("#events li:has-text('response.done')")
    assert 'You said: "What a nice playground"' in page.inner_text(".turn.role-assistant .turn-text")
    types = page.locator("#events li .type").all_inner_texts()
    assert types[0] == "session.created"
    assert "response.output_text.delta" in types
    # A row is one seq, or a run of merged repeats "first\u2013last": together, every seq once, in order.
    seqs = []
    for text in page.locator("#events li .seq").all_inner_texts():
        first, _, last = text.partition("\u2013")
        seqs.extend(range(int(first), int(last or first) + 1))
    assert seqs == list(range(1, len(seqs) + 1))
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "session-page.png"), full_page=True)

    page.click("#close-session")
    page.wait_for_selector("#state:text('ended')")
    assert "Closed by the user." in page.inner_text("#banner-text")
