"""The compare page: a recording and its re-run side by side, against the emulator in a served playground."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import API_MODULE, page_api, sign_up

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
QUESTIONS = ("hello there", "what is the weather like in Lisbon today", "thanks, that is all")

# Runs in the page: the page's own api.js (login cookie, CSRF header), imported by its URL.
RECORD = """async ([questions, pace, apiModule]) => {
  const { call } = await import(apiModule);
  const body = {upstream: "emulator", session: {output_modalities: ["text"]}};
  if (pace !== null) body.emulator = {pace};
  const s = await call("POST", "/sessions", body);
  const done = async (n) => {
    for (let i = 0; i < 200; i++) {
      const events = await call("GET", `/sessions/${s.id}/events?limit=10000`);
      if (events.filter(f => f.event && f.event.type === "response.done").length >= n) return;
      await new Promise(r => setTimeout(r, 50));
    }
    throw new Error("no response.done");
  };
  for (const [i, text] of questions.entries()) {
    await call("POST", `/sessions/${s.id}/client-events/conversation.item.create`,
      {item: {type: "message", role: "user", content: [{type: "input_text", text}]}});
    await call("POST", `/sessions/${s.id}/client-events/response.create`, {});
    await done(i + 1);
  }
  await call("POST", `/sessions/${s.id}/close`);
  return s.id;
}"""


def record(page: Any, questions: tuple[str, ...], pace: int | None = None) -> str:
    """A closed text session with these user turns; `pace` (emulator events/s) slows its answers down."""
    return str(page.evaluate(RECORD, [list(questions), pace, API_MODULE]))


def test_compare_page_after_a_rerun(page: Any, live_url: str, page_errors: list[str]) -> None:
    sign_up(page, live_url)
    original = record(page, QUESTIONS)
    rerun = page_api(page, "POST", f"/sessions/{original}/rerun")
    assert rerun["upstream"] == "emulator" and rerun["id"] != original

    page.set_viewport_size({"width": 1280, "height": 720})
    page.goto(f"{live_url}/sessions/{original}/compare/{rerun['id']}/")
    # The page refreshes while the re-run is still answering, then stops once its three turns are done.
    page.wait_for_function(
        "() => window.__compare.data && window.__compare.data.right.turns.filter(t => t.done_ts).length === 3"
        " && window.__compare.timer === null",
        timeout=20_000,
    )
    turns = page.locator("#turns > li.turn")
    assert turns.count() == 3
    for index, question in enumerate(QUESTIONS):
        row = turns.nth(index)
        for side in ("left", "right"):
            cell = row.locator(f".cell.side-{side}")
            assert cell.locator(".user").inner_text() == f"You: {question}"
            assert cell.locator(".answer").inner_text() == f'You said: "{question}".'
            assert "tokens" in cell.locator(".figs").inner_text()
        assert row.locator(".badge").inner_text() == "same"
    # The latency chart: a bar per side and turn, first delta inside the whole.
    assert page.locator("#latency-chart svg rect.bar-done").count() == 6
    assert page.locator("#latency-chart svg rect.bar-first").count() == 6
    assert page.locator("#totals-body tr").first.inner_text().split("\t")[1:3] == ["3", "3"]
    assert page.locator("#left-state").inner_text() == "ended"
    assert page.locator("#right-state").inner_text() == "live"
    assert page.evaluate("window.__compare.refreshes") >= 1
    page.screenshot(path=str(DOCS / "compare.png"))
    assert page_errors == []


def test_compare_page_marks_what_differs(page: Any, live_url: str, page_errors: list[str], tmp_path: Path) -> None:
    sign_up(page, live_url)
    left = record(page, ("hello there", "same words"), pace=400)
    right = record(page, ("hello over there", "same words", "one more"))
    page.goto(f"{live_url}/sessions/{left}/compare/{right}/")
    page.wait_for_selector("#turns > li.turn >> nth=2")
    first = page.locator("#turns > li.turn").nth(0)
    assert first.locator(".badge").inner_text() == "differs"
    assert first.locator(".cell.side-right ins").inner_text().strip() == "over"
    assert first.locator(".cell.side-left del").count() == 0
    first.locator("details summary").click()
    assert '+You said: "hello over there".' in first.locator("pre.unified").inner_text()
    assert page.locator("#turns > li.turn").nth(1).locator(".badge").inner_text() == "same"
    third = page.locator("#turns > li.turn").nth(2)
    assert third.locator(".cell.side-left .answer").inner_text() == "No such turn."
    page.screenshot(path=str(tmp_path / "differs.png"), full_page=True)
    assert page_errors == []


def test_compare_page_of_someone_elses_session_is_404(page: Any, live_url: str) -> None:
    sign_up(page, live_url)
    theirs = record(page, ("hello",))
    page.context.clear_cookies()
    sign_up(page, live_url)
    mine = record(page, ("hello",))
    for url in (f"/sessions/{theirs}/compare/{mine}/", f"/sessions/{mine}/compare/{theirs}/"):
        assert page.goto(live_url + url).status == 404
    assert page.goto(f"{live_url}/sessions/{mine}/compare/{mine}/").status == 200
