"""Browser tests: Debian's chromium driven by Playwright against a served playground."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live_server import served_playground

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def live_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served playground's PLAYGROUND_VAR_DIR (live_server.manage runs commands against it)."""
    return tmp_path_factory.mktemp("live")


@pytest.fixture(scope="session")
def live_url(live_var_dir: Path) -> Iterator[str]:
    with served_playground(live_var_dir) as url:
        yield url


# Every Content-Security-Policy violation in any page of any context of the suite's browsers; a test fails on
# any (the autouse fixture below). Two ways in, so none is missed: the page's `securitypolicyviolation` event
# (documents) and Chromium's console message (also workers and worklets, which have no document).
CSP_VIOLATIONS: list[str] = []
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolation(`${e.effectiveDirective} refused ${e.blockedURI || "inline code"} (${where})`);
});
"""


def watch_csp(context: Any) -> Any:
    """Report every CSP violation in `context`'s pages into CSP_VIOLATIONS."""
    context.expose_binding(
        "__cspViolation", lambda source, text: CSP_VIOLATIONS.append(f"{source['page'].url}: {text}")
    )
    context.add_init_script(_CSP_LISTENER)

    def on_console(msg: Any) -> None:
        if "Content Security Policy" in msg.text:
            CSP_VIOLATIONS.append(f"console: {msg.text}")

    context.on("console", on_console)
    return context


def _watching_contexts(browser: Any) -> Any:
    """Every context the browser makes (tests make their own too) reports its CSP violations."""
    new_context = browser.new_context
    browser.new_context = lambda *args, **kwargs: watch_csp(new_context(*args, **kwargs))
    return browser


@pytest.fixture(autouse=True)
def _no_csp_violation() -> Iterator[None]:
    CSP_VIOLATIONS.clear()
    yield
    assert not CSP_VIOLATIONS, "Content-Security-Policy violations:\n" + "\n".join(CSP_VIOLATIONS)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    # Fails loudly, never skips: CI installs chromium (.ci/run) before running this suite.
    assert shutil.which(CHROMIUM) or Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: apt-get install chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = _watching_contexts(p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True))
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _fresh_layer() -> None:
    """Relays run in the served process here, not in the test's (Playwright's sync API owns the loop)."""


PASSWORD = "a-Long-pass-42"


def sign_up(page: Any, live_url: str) -> str:
    """Sign a fresh user up through the UI; leaves the page on the home page, signed in."""
    username = "user-" + uuid.uuid4().hex[:8]
    page.goto(live_url + "/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=New session")
    return username


# The pages' scripts are ES modules and leave no API object on `window`: a test imports the pages' own
# api.js by its URL (the very module instance the page uses, if it has loaded it), so the cookie and the
# CSRF header are the browser's.
API_MODULE = "/static/playground/api.js"


def page_api(page: Any, method: str, path: str, body: Any = None, *, whole_url: bool = False) -> Any:
    """A REST call made by the page with api.js: `path` under /api (`call`), or a whole URL (`callUrl`).
    Rejects (raises here) on an HTTP error, as the pages' own calls do."""
    fn = "callUrl" if whole_url else "call"
    script = f"async ([m, p, b]) => (await import({json.dumps(API_MODULE)})).{fn}(m, p, b === null ? undefined : b)"
    return page.evaluate(script, [method, path, body])


def open_session(page: Any, live_url: str, body: dict[str, Any]) -> str:
    """Open a session with POST /api/sessions from the signed-in home page (the page's own api.js, so the
    cookie and CSRF header are the browser's) and go to its console; returns the session id."""
    session = page_api(page, "POST", "/sessions", body)
    page.goto(f"{live_url}/sessions/{session['id']}/")
    return str(session["id"])


@pytest.fixture
def page_errors(page: Any) -> Iterator[list[str]]:
    """Uncaught script errors on the page; tests assert it stays empty."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(msg: Any) -> None:
        # The browser asks for /favicon.ico on its own; the playground has none.
        if msg.type == "error" and not msg.location.get("url", "").endswith("/favicon.ico"):
            errors.append(msg.text)

    page.on("console", on_console)
    yield errors


FAKE_MIC_FLAGS = [
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture
def fake_mic_browser(browser: Any) -> Iterator[Any]:
    """A factory: `fake_mic_browser(wav_path)` launches a separate Chromium whose microphone plays
    that WAV file (looped) and whose audio may start without a gesture; closed after the test.
    It reuses the session browser's Playwright (a second sync_playwright cannot run in this thread)."""
    launched: list[Any] = []

    def launch(wav: Path) -> Any:
        args = [*CHROMIUM_FLAGS, *FAKE_MIC_FLAGS, f"--use-file-for-fake-audio-capture={wav}"]
        fake = _watching_contexts(browser.browser_type.launch(executable_path=CHROMIUM, args=args, headless=True))
        launched.append(fake)
        return fake

    yield launch
    for fake in launched:
        fake.close()
