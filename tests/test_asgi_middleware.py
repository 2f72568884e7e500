"""The stock middleware, run in the event loop (playground/middleware.py), still do their jobs under ASGI.

Django's test Client goes through WSGI; these go through the ASGI application, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import Any

import httpx
from django.core import signals


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
        res = await c.get("/static/playground/pages/console.js")
    assert res.status_code == 200
    # A JavaScript type, or the browser refuses to run it as a module (and nosniff is on).
    assert res.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert 'from "../api.js"' in res.text


def test_every_api_operation_is_async() -> None:
    """playground/handler.py serves /api/ without a thread of its own per request: safe only while no
    API view runs the ORM on the request's thread (a sync view would, and its connection would leak)."""
    from playground.api import api

    views = [
        (prefix + path, op.view_func)
        for prefix, router in api._routers
        for path, view in router.path_operations.items()
        for op in view.operations
    ]
    assert len(views) > 50
    sync = [f"{path}: {func.__name__}" for path, func in views if not asyncio.iscoroutinefunction(func)]
    assert sync == [], "sync API views would run the ORM on a thread the handler never cleans up"


async def test_api_requests_stay_on_the_loop_and_pages_get_their_thread(
    application: Any, transactional_db: None, token: str
) -> None:
    """The request signals' receivers (Django's connection cleanup among them) run on the event loop for
    /api/, with no thread hop, and on the request's own thread for pages, whose sync views use the ORM."""
    threads: list[str] = []

    def note(**kwargs: Any) -> None:
        threads.append(threading.current_thread().name)

    signals.request_started.connect(note)
    signals.request_finished.connect(note)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://testserver") as c:
            res = await c.get("/api/sessions", headers={"Authorization": f"Bearer {token}"})
            assert res.status_code == 200
            on_api, threads[:] = threads[:], []
            assert (await c.get("/accounts/login/")).status_code == 200
            on_page = threads[:]
    finally:
        signals.request_started.disconnect(note)
        signals.request_finished.disconnect(note)
    loop_thread = threading.current_thread().name
    assert on_api == [loop_thread, loop_thread]
    assert len(on_page) == 2 and loop_thread not in on_page
