"""The console watches a session an OpenAI client drives through `/v1/realtime`: an Agents SDK voice agent
(tests/clients/agents/watched_agent.py, its default settings) calls its tool while the page is open."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import page_api, sign_up
from tests.live_server import manage

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
AGENT = Path(__file__).resolve().parents[1] / "clients" / "agents" / "watched_agent.py"


def read_line(proc: subprocess.Popen[str], prefix: str, timeout: float = 20) -> str:
    """The agent's next line starting with `prefix` (an `error …` line fails the test)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the agent exited ({proc.wait()}) before {prefix!r}")
        assert not line.startswith("error"), line
        if line.startswith(prefix):
            return line.strip()
    raise AssertionError(f"no {prefix!r} from the agent within {timeout} s")


def test_the_console_shows_an_agents_sdk_session_live_with_its_tool_call(
    page: Any, live_url: str, live_var_dir: Path, page_errors: list[str]
) -> None:
    username = sign_up(page, live_url)
    token = manage(live_var_dir, "create_api_token", username).strip()
    ws_url = live_url.replace("http://", "ws://") + "/v1/realtime"
    agent = subprocess.Popen(
        [sys.executable, str(AGENT), ws_url, token],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        read_line(agent, "connected")
        [session] = page_api(page, "GET", "/sessions?limit=1")
        assert session["client_dialect"] == "openai" and session["state"] == "live"
        page.goto(f"{live_url}/sessions/{session['id']}/")
        page.wait_for_selector("#socket-state:text('open')")
        note = page.locator("#client-dialect")
        assert "OpenAI client" in note.inner_text() and "/v1/realtime" in note.inner_text()

        assert agent.stdin is not None
        agent.stdin.write("go\n")
        agent.stdin.flush()
        answer = read_line(agent, "answered").removeprefix("answered ")
        assert answer == "The tool answered: Sunny, 21 degrees in Oslo."

        # Live, as it happened: the call, the tool's output the SDK sent, the spoken answer's transcript.
        page.wait_for_selector(".turn-function_call .fn-name:text('get_weather')")
        assert '"city": "Oslo"' in page.inner_text(".turn-function_call .fn-args")
        page.wait_for_selector(".turn-function_call_output:has-text('Sunny, 21 degrees in Oslo')")
        page.wait_for_selector(f".turn.role-assistant .turn-text:text('{answer}')")
        assert page.inner_text("#state") == "live"
        # The settings the panel shows are Yandex's: "ash" arrived as filipp, semantic VAD as server VAD.
        assert page.input_value("#sp-voice") == "filipp"
        DOCS.mkdir(exist_ok=True)
        page.screenshot(path=str(DOCS / "console-openai-client.png"))
    finally:
        if agent.stdin is not None:
            agent.stdin.close()  # the agent disconnects: the session ends, its recording stays
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
    page.wait_for_selector("#state:text('ended')")
    assert page_errors == []
