"""Accounts (sign-up, login, API tokens) and the plain pages around sessions."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from playground.accounts.models import ApiToken
from tests.test_relay_path import create_session


def test_create_api_token_creates_the_user_and_prints_only_the_token(transactional_db: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", "bob", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert token.startswith("rtp_") and len(token) > 40
    assert "Created user 'bob'" in err.getvalue()
    bob = User.objects.get(username="bob")
    row = ApiToken.objects.get(user=bob)
    assert token not in (row.digest, row.prefix)  # only a hash is stored
    call_command("create_api_token", "bob", stdout=(out2 := io.StringIO()), stderr=io.StringIO())
    assert out2.getvalue().strip() != token
    assert ApiToken.objects.filter(user=bob).count() == 2


async def test_token_from_the_command_works_on_the_api(application: Any, transactional_db: None) -> None:
    out = io.StringIO()
    from asgiref.sync import sync_to_async

    await sync_to_async(call_command)("create_api_token", "carol", stdout=out, stderr=io.StringIO())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {out.getvalue().strip()}"},
    ) as c:
        assert (await c.get("/api/sessions")).status_code == 200


def test_signup_then_home_page_lists_sessions_and_upstreams(transactional_db: None) -> None:
    client = Client()
    assert client.get("/").status_code == 302  # sign in first
    res = client.post(
        "/accounts/signup/", {"username": "dana", "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"}
    )
    assert res.status_code == 302
    page = client.get("/").content.decode()
    assert "New session" in page
    assert "The emulator" in page
    assert "Yandex (not configured)" in page
    assert "No sessions yet" in page


def test_login_page_and_bad_password(transactional_db: None) -> None:
    User.objects.create_user("erin", password="right-password-1")
    client = Client()
    res = client.post("/accounts/login/", {"username": "erin", "password": "wrong"})
    assert "didn't match" in res.content.decode()
    res = client.post("/accounts/login/", {"username": "erin", "password": "right-password-1"})
    assert res.status_code == 302


async def test_session_page_is_for_its_owner_only(api: httpx.AsyncClient, transactional_db: None) -> None:
    from asgiref.sync import sync_to_async

    session = await create_session(api)

    def pages() -> tuple[int, str, int]:
        owner = Client()
        owner.force_login(User.objects.get(username="alice"))
        res = owner.get(f"/sessions/{session['id']}/")
        stranger = Client()
        stranger.force_login(User.objects.create_user("frank"))
        return res.status_code, res.content.decode(), stranger.get(f"/sessions/{session['id']}/").status_code

    status, body, stranger_status = await sync_to_async(pages)()
    assert status == 200
    assert session["id"] in body
    assert 'id="page-data"' in body  # server data for the page's script, via json_script
    assert stranger_status == 404


def test_cookie_writes_need_csrf(transactional_db: None) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_user("gina"))
    res = client.post("/api/sessions", data={}, content_type="application/json")
    assert res.status_code == 403


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ([], 4401),
        ([(b"authorization", b"Bearer rtp_not-a-token")], 4401),
    ],
)
async def test_websocket_needs_authentication(
    application: Any, transactional_db: None, headers: list[tuple[bytes, bytes]], code: int
) -> None:
    communicator = WebsocketCommunicator(application, "/ws/sessions/00000000-0000-0000-0000-000000000000/", headers)
    connected, close_code = await communicator.connect()
    assert not connected
    assert close_code == code


async def test_websocket_refuses_foreign_origin_and_other_users(
    api: httpx.AsyncClient, application: Any, token: str, other_token: str
) -> None:
    session = await create_session(api)
    path = f"/ws/sessions/{session['id']}/"
    evil = WebsocketCommunicator(
        application, path, [(b"authorization", f"Bearer {token}".encode()), (b"origin", b"https://evil.example")]
    )
    connected, _ = await evil.connect()
    assert not connected
    mallory = WebsocketCommunicator(application, path, [(b"authorization", f"Bearer {other_token}".encode())])
    connected, close_code = await mallory.connect()
    assert not connected
    assert close_code == 4404
    own_origin = WebsocketCommunicator(
        application, path, [(b"authorization", f"Bearer {token}".encode()), (b"origin", b"http://localhost:8000")]
    )
    connected, _ = await own_origin.connect()
    assert connected
    await own_origin.disconnect()


def test_admin_has_every_model(transactional_db: None, client: Any) -> None:
    """Django admin lists every model of the playground's apps, and each list and add page opens."""
    from django.apps import apps
    from django.contrib import admin
    from django.contrib.auth import get_user_model

    ours = {m for m in apps.get_models() if m.__module__.startswith("playground.")}
    assert ours and ours <= set(admin.site._registry), f"not in admin: {ours - set(admin.site._registry)}"
    client.force_login(get_user_model().objects.create_superuser("root", "root@example.com", "pw"))
    for model in ours:
        meta = model._meta
        for page in ("changelist", "add"):
            res = client.get(f"/admin/{meta.app_label}/{meta.model_name}/" + ("add/" if page == "add" else ""))
            assert res.status_code == 200, f"{meta.label} {page}: {res.status_code}"
