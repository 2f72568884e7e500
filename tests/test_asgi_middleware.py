"""The stock middleware, run in the event loop (playground/middleware.py), still do their jobs under ASGI.

Django's test Client goes through WSGI; these go through the ASGI application, as uvicorn does.
"""

from __future__ import annotations

import re
from typing import Any

import httpx


async def test_signup_login_session_and_csrf_over_asgi(application: Any, transactional_db: None) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
        page = await c.get("/accounts/signup/")
        assert page.status_code == 200
        # Security headers from the middleware.
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        # Without the CSRF token the form post is refused.
        refused = await c.post("/accounts/signup/", data={"username": "ivy", "password1": "a-Long-pass-42"})
        assert refused.status_code == 403
        res = await c.post(
            "/accounts/signup/",
            data={
                "csrfmiddlewaretoken": token,
                "username": "ivy",
                "password1": "a-Long-pass-42",
                "password2": "a-Long-pass-42",
            },
        )
        assert res.status_code == 302, res.text[:500]
        assert "sessionid" in c.cookies  # the session was saved (the one hop that touches the database)
        home = await c.get("/")
        assert home.status_code == 200
        assert "ivy" in home.text
        # Cookie-authenticated API writes need the CSRF header; reads do not.
        assert (await c.get("/api/sessions")).status_code == 200
        assert (await c.post("/api/sessions", json={})).status_code == 403
        ok = await c.post("/api/sessions", json={}, headers={"X-CSRFToken": c.cookies["csrftoken"]})
        assert ok.status_code == 201, ok.text


async def test_static_files_are_served(application: Any, transactional_db: None) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
        res = await c.get("/static/playground/console.js")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert '"use strict"' in res.text
