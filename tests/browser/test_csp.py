"""The Content-Security-Policy in a real browser: every page works under it, and it does block.

conftest.py collects every violation report of every page; any fails the test that caused it. These walk
the pages the other tests may not (the API docs, the admin), and prove a violation is seen at all.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.conftest import CSP_VIOLATIONS, open_session, sign_up

pytestmark = pytest.mark.browser


def test_every_page_runs_under_the_policy(page: Any, live_url: str, page_errors: list[str]) -> None:
    sign_up(page, live_url)
    session_id = open_session(page, live_url, {"upstream": "emulator", "session": {"output_modalities": ["text"]}})
    page.wait_for_selector("text=live")
    for path in (
        "/",
        f"/sessions/{session_id}/replay/",
        "/presets/",
        "/recordings/",
        "/teams/",
        "/usage/",
    ):
        page.goto(live_url + path)
        page.wait_for_load_state("networkidle")
    # Swagger UI renders the schema from the playground's own static files.
    page.goto(live_url + "/api/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "Realtime Playground API" in page.inner_text(".swagger-ui .info .title")
    page.goto(live_url + "/admin/login/")
    page.wait_for_selector("#id_username")
    assert page_errors == []


def test_an_inline_script_is_refused_and_reported(page: Any, live_url: str) -> None:
    page.goto(live_url + "/accounts/login/")
    page.evaluate(
        """() => {
        const s = document.createElement("script");
        s.textContent = "window.__ran = true";
        document.body.append(s);
    }"""
    )
    assert page.evaluate("() => window.__ran === true") is False
    for _ in range(100):  # the report is an event that follows the refusal: give it up to 5 s
        if CSP_VIOLATIONS:
            break
        page.wait_for_timeout(50)
    assert any("script-src" in v for v in CSP_VIOLATIONS), CSP_VIOLATIONS
    CSP_VIOLATIONS.clear()  # provoked on purpose
