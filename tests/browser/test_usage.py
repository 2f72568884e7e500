"""The Usage page in a real browser against a served playground: a team's owner sees the team's usage (totals,
the chart, the table by group, the CSV link) and its budget past its alert; a member sees only their own and
cannot set budgets; the console says a budget is past its alert, and ends a session whose response used it up.
docs/usage-light.png and docs/usage-dark.png are taken here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import PASSWORD, open_session, page_api, sign_up
from tests.live_server import manage

pytestmark = pytest.mark.browser

DOCS = Path(__file__).resolve().parents[2] / "docs"
SHOT = {"width": 1280, "height": 1000}


def _client(live_url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=live_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _talk(client: httpx.Client, sid: str, text: str) -> None:
    item = {"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}}
    assert client.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=item).is_success
    res = client.post(
        f"/api/sessions/{sid}/client-events/response.create", json={}, headers={"Accept": "text/event-stream"}
    )
    assert "event: response.done" in res.text


def _sessions(client: httpx.Client, team: str, preset: str | None, turns: list[str]) -> None:
    """One closed session in the team (from the preset, if one), a response per turn."""
    body = {"upstream": "emulator", "team": team, "session": {"output_modalities": ["text"]}}
    if preset:
        res = client.post(f"/api/presets/{preset}/sessions", json={"team": team, "upstream": "emulator"})
    else:
        res = client.post("/api/sessions", json=body)
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    for text in turns:
        _talk(client, sid, text)
    assert client.post(f"/api/sessions/{sid}/close").status_code == 200


@pytest.fixture(scope="module")
def team_usage(browser: Any, live_url: str, live_var_dir: Path) -> dict[str, Any]:
    """A team whose owner signed up in the browser, two members working through the API, on two presets, with
    usage spread over the last three weeks (moved back in time with manage.py shell, so the chart has days)."""
    context = browser.new_context(viewport=SHOT)
    page = context.new_page()
    owner = sign_up(page, live_url)
    team = page_api(page, "POST", "/teams", {"name": "Voice lab"})["id"]
    presets = [
        page_api(page, "POST", "/presets", {"name": name, "team": team})["id"]
        for name in ("Support bot", "Booking assistant")
    ]
    members = {}
    for name in ("mira", "oleg"):
        token = manage(live_var_dir, "create_api_token", f"{name}-{owner[-4:]}").strip().splitlines()[-1]
        invitation = page_api(page, "POST", f"/teams/{team}/invitations", {"role": "member"})
        with _client(live_url, token) as client:
            assert client.post(f"/api/invitations/{invitation['url'].rstrip('/').rsplit('/', 1)[1]}/accept").is_success
        members[name] = token
    plan = [
        ("mira", presets[0], ["hello, my order is late", "it was order 1042", "thanks"]),
        ("mira", presets[1], ["book a table for two at eight"]),
        ("oleg", presets[0], ["where is my parcel", "the tracking number is 77"]),
        ("oleg", None, ["say something long about realtime speech APIs and their latency budgets"]),
        ("mira", presets[1], ["move it to nine", "and add a high chair"]),
        ("oleg", presets[1], ["cancel my booking"]),
    ]
    for name, preset, turns in plan:
        with _client(live_url, members[name]) as client:
            _sessions(client, team, preset, turns)
    ids = [s["id"] for s in page_api(page, "GET", f"/sessions?team={team}")]
    # The history: each session's usage a few days apart, within the last three weeks.
    # Newest first: the last two sessions (Oleg's, Mira's) share a day, so do the second and third.
    days = [0, 0, 5, 9, 9, 14]
    script = (
        "import datetime as dt; from playground.usage.models import UsageRecord as R\n"
        f"ids, days = {json.dumps(ids)}, {json.dumps(days)}\n"
        "for sid, back in zip(ids, days):\n"
        "    R.objects.filter(session_key=sid).update(at=R.objects.filter(session_key=sid).first().at"
        " - dt.timedelta(days=back))\n"
    )
    manage(live_var_dir, "shell", "-c", script)
    context.close()
    return {"owner": owner, "team": team, "presets": presets, "members": members, "sessions": ids}


def _owner_page(browser: Any, live_url: str, owner: str, scheme: str = "light") -> Any:
    context = browser.new_context(viewport=SHOT, color_scheme=scheme, device_scale_factor=1)
    page = context.new_page()
    page.goto(live_url + "/accounts/login/")
    page.fill("#id_username", owner)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=New session")
    return page


def _usage(page: Any, live_url: str, query: str) -> dict[str, Any]:
    page.goto(f"{live_url}/usage/?{query}")
    page.wait_for_function("() => window.__usage && window.__usage.loads >= 1 && window.__usage.budgets.budgets")
    return dict(page.evaluate("() => window.__usage.table"))


def test_a_team_owner_sees_the_teams_usage_with_its_chart_and_budget(
    browser: Any, live_url: str, team_usage: dict[str, Any]
) -> None:
    page = _owner_page(browser, live_url, team_usage["owner"])
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    team = team_usage["team"]
    today = dt.datetime.now(dt.UTC).date()
    start = today - dt.timedelta(days=20)
    # A budget on the team, past its 50% alert: the page says so at the top and in the budget's meter.
    spent = page_api(page, "GET", f"/usage?team={team}&group_by=team&from={start}&to={today}")["totals"]["cost"]
    month = page_api(page, "GET", f"/usage?team={team}&group_by=team&from={today.replace(day=1)}")["totals"]["cost"]
    budget = page_api(
        page, "POST", "/budgets", {"team": team, "cost_limit": round(month / 0.6, 4), "alert_percent": 50}
    )
    assert budget["state"] == "alert", budget

    table = _usage(page, live_url, f"view=team:{team}&from={start}&to={today}&group_by=user&interval=day")
    labels = sorted(r["label"] for r in table["rows"])
    assert [label.split("-")[0] for label in labels] == ["mira", "oleg"]
    assert abs(table["totals"]["cost"] - spent) < 1e-6 and table["totals"]["sessions"] == 6
    # The tiles and the table say what the API said.
    tiles = dict(
        zip(
            page.locator("#usage-totals dt").all_inner_texts(),
            page.locator("#usage-totals dd").all_inner_texts(),
            strict=True,
        )
    )
    assert tiles["Sessions"] == "6" and tiles["Responses"] == str(table["totals"]["responses"])
    rows = page.locator("#usage-rows tr")
    assert rows.count() == 2
    first = rows.first.locator("td").all_inner_texts()
    assert first[0] == table["rows"][0]["label"] and first[1] == str(table["rows"][0]["sessions"])
    # A bar per day with usage, a band per user; the legend names them.
    assert page.locator("#usage-chart svg rect.band").count() >= 5
    assert sorted(t.split(" ")[0] for t in page.locator("#usage-legend li").all_inner_texts()) == labels
    csv_href = page.get_attribute("#usage-csv", "href")
    assert csv_href and csv_href.startswith("/api/usage.csv?") and f"team={team}" in csv_href
    csv_text = page.evaluate("async (u) => (await fetch(u)).text()", csv_href)
    assert csv_text.splitlines()[0].startswith("key,label,sessions,responses,")
    assert len(csv_text.splitlines()) == 3
    banner = page.locator("#budget-banner")
    assert banner.is_visible() and "past its alert at 50%" in banner.inner_text()
    item = page.locator(f"li.budget[data-budget-id='{budget['id']}']")
    assert "past its alert" in item.inner_text() and item.locator("form.budget-edit").count() == 1

    # Group by preset: the table follows, with links to the presets.
    page.select_option("#f-group", "preset")
    page.wait_for_function("() => window.__usage.loads >= 2")
    assert page.locator("#col-group").inner_text() == "Preset"
    assert {a for a in page.locator("#usage-rows a").all_inner_texts()} == {"Support bot", "Booking assistant"}
    page.select_option("#f-group", "user")
    page.wait_for_function("() => window.__usage.loads >= 3")

    for theme in ("light", "dark"):  # as the system's setting would have it: the header's toggle says so too
        page.emulate_media(color_scheme=theme)
        page.reload()
        page.wait_for_function("() => window.__usage && window.__usage.loads >= 1")
        page.screenshot(path=str(DOCS / f"usage-{theme}.png"), full_page=True)
    assert errors == []
    page.context.close()


def test_a_member_sees_only_their_own_and_sets_no_budget(page: Any, live_url: str, team_usage: dict[str, Any]) -> None:
    sign_up(page, live_url)
    owner = _owner_page(page.context.browser, live_url, team_usage["owner"])
    invitation = page_api(owner, "POST", f"/teams/{team_usage['team']}/invitations", {"role": "member"})
    owner.context.close()
    page.goto(invitation["url"])
    page.click("main button[type=submit]")  # "Join Voice lab" (the header's Sign out is a submit button too)
    table = _usage(page, live_url, "")
    assert table["rows"] == [] and table["totals"]["sessions"] == 0
    assert page.locator("#budget-form").count() == 0
    # The team's budget binds the member: shown, without a form to change it.
    budgets = page.evaluate("() => window.__usage.budgets.budgets")
    assert [b["scope"] for b in budgets] == ["team “Voice lab”"] and budgets[0]["can_change"] is False
    assert page.locator("li.budget form.budget-edit").count() == 0
    res = page.evaluate("async () => (await fetch('/api/usage?user=' + encodeURIComponent('nobody-else'))).status")
    assert res == 403


def test_the_console_says_a_budget_is_past_its_alert_then_ends_the_session_that_uses_it_up(
    browser: Any, live_url: str, team_usage: dict[str, Any]
) -> None:
    page = _owner_page(browser, live_url, team_usage["owner"])
    team = team_usage["team"]
    sid = open_session(
        page, live_url, {"upstream": "emulator", "team": team, "session": {"output_modalities": ["text"]}}
    )
    page.wait_for_selector("#state.state-live")
    banner = page.locator("#banner")
    assert banner.is_visible() and "banner-warning" in (banner.get_attribute("class") or "")
    assert re.search(r"The monthly budget of team “Voice lab” is \d+% used", banner.inner_text())
    # The owner lowers the budget to what is spent: the next answer uses it up, and the session ends after it.
    [budget] = [b for b in page_api(page, "GET", "/budgets") if b["team"] and b["team"]["id"] == team]
    page_api(page, "PATCH", f"/budgets/{budget['id']}", {"cost_limit": max(budget["spent_cost"], 0.000001)})
    page.fill("#say input[name=text]", "one more answer, please")
    page.press("#say input[name=text]", "Enter")
    page.wait_for_selector("#state.state-ended", timeout=15_000)
    assert "is used up" in banner.inner_text() and "ended after its current response" in banner.inner_text()
    frames = page_api(page, "GET", f"/sessions/{sid}/events?limit=10000")
    assert frames[-1]["notice"]["kind"] == "budget_exceeded"
    assert [f["event"]["type"] for f in frames if f.get("event")].count("response.done") == 1
    res = page.evaluate(
        "async (t) => { const m = await import('/static/playground/api.js');"
        " try { await m.call('POST', '/sessions', {upstream: 'emulator', team: t}); return 'opened'; }"
        " catch (e) { return e.status + ' ' + e.message; } }",
        team,
    )
    assert res.startswith("429 The monthly budget of team “Voice lab” is used up")
    page.context.close()
