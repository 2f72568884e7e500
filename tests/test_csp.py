"""The Content-Security-Policy (settings.CONTENT_SECURITY_POLICY, django-csp) on every page.

Scripts, styles, workers and connections come from the playground itself only, so nothing a recording
holds can run as script, not even on the public shared replay pages. The browser suite fails on any
violation (tests/browser/conftest.py); these check the header and what the pages are made of.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.test_relay_path import create_session

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "worker-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
}
NASTY = '</script><script>alert("owned")</script><img src=x onerror=alert(1)>'


def directives(header: str) -> dict[str, str]:
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in (p.strip() for p in header.split(";")) if part}


def assert_policy(res: httpx.Response) -> None:
    assert res.status_code == 200, (res.url, res.status_code)
    got = directives(res.headers["Content-Security-Policy"])
    for name, sources in POLICY.items():
        assert got[name] == sources, (res.url, name, got.get(name))
    # No inline script anywhere: only files of the playground's own and JSON data (never run).
    for tag in re.findall(r"<script\b[^>]*>", res.text):
        assert 'src="/static/' in tag or 'type="application/json"' in tag, (res.url, tag)


async def test_every_page_has_the_policy(api: httpx.AsyncClient, application: Any) -> None:
    session = await create_session(api)
    await api.post(f"/api/sessions/{session['id']}/close")
    preset = (await api.post("/api/presets", json={"name": "CSP"})).json()
    team = (await api.post("/api/teams", json={"name": "CSP"})).json()
    # The pages sign in with the cookie; the API token's user is alice.
    from channels.db import database_sync_to_async
    from django.contrib.auth.models import User
    from django.test import Client

    client = Client()
    await database_sync_to_async(client.force_login)(await database_sync_to_async(User.objects.get)(username="alice"))
    cookies = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", headers={"Cookie": cookies}
    ) as browser:
        for path in (
            "/",
            f"/sessions/{session['id']}/",
            f"/sessions/{session['id']}/replay/",
            "/presets/",
            f"/presets/{preset['id']}/",
            "/recordings/",
            "/teams/",
            f"/teams/{team['id']}/",
            "/api/docs",
        ):
            assert_policy(await browser.get(path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as anon:
        for path in ("/accounts/login/", "/accounts/signup/", "/admin/login/"):
            assert_policy(await anon.get(path))
        # The API answers with it too (a browser opening a JSON URL renders nothing active either).
        assert "script-src 'self'" in (await anon.get("/api/upstreams")).headers["Content-Security-Policy"]


async def test_the_api_docs_use_the_playgrounds_own_swagger_files(api: httpx.AsyncClient) -> None:
    res = await api.get("/api/docs")
    assert_policy(res)
    assert "/static/ninja/swagger-ui-bundle.js" in res.text and "cdn" not in res.text.lower()


async def test_a_recordings_text_on_a_shared_replay_page_is_data_never_script(
    api: httpx.AsyncClient, application: Any
) -> None:
    session = await create_session(api)
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": NASTY}]}
    res = await api.post(f"/api/sessions/{session['id']}/client-events/conversation.item.create", json={"item": item})
    assert res.status_code == 200
    await api.post(f"/api/sessions/{session['id']}/close")
    link = (await api.post(f"/api/sessions/{session['id']}/share")).json()["share_url"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as anon:
        page = await anon.get(link.replace("http://testserver", ""))
    assert_policy(page)
    assert NASTY not in page.text and "<img src=x" not in page.text
