"""Abuse (issue 7): per-user session limits, sign-in and sign-up throttling, CSRF on every cookie write,
WebSocket origins, unguessable tokens, and no endpoint leaking another team's objects.

The walks over the OpenAPI schema cover endpoints added later without this file changing: a new write
endpoint must refuse a cookie write without CSRF, a new GET endpoint must answer 404 to a stranger.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import F
from django.middleware.csrf import _get_new_csrf_string
from django.test import Client

from playground.accounts.services import api_token_create, user_get_or_create
from playground.realtime.models import RealtimeSession
from playground.teams.models import Invitation
from tests.test_openai_compat import Client as RealtimeClient
from tests.test_relay_path import create_session

WRITE_METHODS = ("post", "put", "patch", "delete")
URLSAFE_32 = re.compile(r"^[A-Za-z0-9_-]{32,}$")


@pytest.fixture(autouse=True)
def _clean_cache_and_emulator(settings: Any) -> Iterator[None]:
    """Throttle counters live in the cache (one per process): each test starts and ends clean."""
    settings.YC_API_KEY = settings.YC_IAM_TOKEN = ""
    cache.clear()
    yield
    cache.clear()


def _client(api: httpx.AsyncClient, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=api._transport, base_url="http://testserver", headers=headers, timeout=30)


async def _bearer(api: httpx.AsyncClient, username: str) -> httpx.AsyncClient:
    def make() -> str:
        user, _ = user_get_or_create(username=username)
        return api_token_create(user=user)

    return _client(api, Authorization=f"Bearer {await database_sync_to_async(make)()}")


async def _realtime(application: Any, token: str, origin: bytes | None = None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    return WebsocketCommunicator(application, "/v1/realtime?model=gpt-realtime", headers=headers)


# --- 1. per-user session limits --------------------------------------------------------------------


async def _interrupted(sid: str) -> None:
    await database_sync_to_async(RealtimeSession.objects.filter(pk=sid).update)(state="interrupted")


async def _assert_every_way_refused(
    api: httpx.AsyncClient, application: Any, token: str, *, recording: str, preset: str, names: str
) -> None:
    """Every way to open a session answers 429 naming the limit and when to retry; none creates a row."""
    before = await database_sync_to_async(RealtimeSession.objects.count)()
    ways = {
        "create": await api.post("/api/sessions", json={"upstream": "emulator"}),
        "preset": await api.post(f"/api/presets/{preset}/sessions", json={}),
        "rerun": await api.post(f"/api/sessions/{recording}/rerun", json={}),
        "resume": await api.post(f"/api/sessions/{recording}/resume"),
    }
    for way, res in ways.items():
        assert res.status_code == 429, f"{way}: {res.status_code} {res.text[:300]}"
        detail = res.json()["detail"]
        assert names in detail and re.search(r"(try again|retry) in \d+ s", detail, re.I), f"{way}: {detail}"
        assert 1 <= int(res.headers["Retry-After"]) <= 60, way
        assert res.json()["retry_after"] == int(res.headers["Retry-After"])
    communicator = await _realtime(application, token)
    assert (await communicator.connect(timeout=10))[0]
    client = RealtimeClient(communicator)
    assert await client.closed() == 1013
    assert [e["error"]["code"] for e in client.events] == ["session_limit_reached"]
    assert names in client.events[0]["error"]["message"]
    assert await database_sync_to_async(RealtimeSession.objects.count)() == before


async def test_sessions_per_minute_per_user_on_every_way_to_open_one(
    api: httpx.AsyncClient, application: Any, token: str, settings: Any
) -> None:
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 2
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    preset = (await api.post("/api/presets", json={"name": "Limits"})).json()["id"]
    first = await create_session(api)
    await create_session(api)
    await api.post(f"/api/sessions/{first['id']}/close")
    await _interrupted(first["id"])
    await _assert_every_way_refused(
        api, application, token, recording=first["id"], preset=preset, names="PLAYGROUND_SESSIONS_PER_MINUTE=2"
    )
    # Per user: someone else opens theirs.
    async with await _bearer(api, "mallory") as mallory:
        assert (await mallory.post("/api/sessions", json={"upstream": "emulator"})).status_code == 201
    # A minute later there is room again.
    alices = RealtimeSession.objects.filter(owner__username="alice")
    await database_sync_to_async(alices.update)(created_at=F("created_at") - timedelta(seconds=61))
    assert (await api.post("/api/sessions", json={"upstream": "emulator"})).status_code == 201


async def test_live_sessions_per_user_on_every_way_to_open_one(
    api: httpx.AsyncClient, application: Any, token: str, settings: Any
) -> None:
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = 0
    settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 2
    preset = (await api.post("/api/presets", json={"name": "Limits"})).json()["id"]
    first = await create_session(api)
    recording = await create_session(api)
    await api.post(f"/api/sessions/{recording['id']}/close")
    await _interrupted(recording["id"])
    await create_session(api)  # two live now: `first` and this one
    await _assert_every_way_refused(
        api, application, token, recording=recording["id"], preset=preset, names="PLAYGROUND_LIVE_SESSIONS_PER_USER=2"
    )
    async with await _bearer(api, "mallory") as mallory:
        assert (await mallory.post("/api/sessions", json={"upstream": "emulator"})).status_code == 201
    # Closing one makes room.
    assert (await api.post(f"/api/sessions/{first['id']}/close")).status_code == 200
    assert (await api.post("/api/sessions", json={"upstream": "emulator"})).status_code == 201


# --- 2. sign-in and sign-up throttling -------------------------------------------------------------


def _login(client: Client, username: str, password: str, ip: str) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_failed_sign_ins_lock_a_username_out_even_with_the_right_password(
    transactional_db: None, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.PLAYGROUND_LOGIN_FAILURES, settings.PLAYGROUND_LOGIN_LOCKOUT_MINUTES = 5, 5
    User.objects.create_user("erin", password="right-password-1")
    client = Client()
    for n in range(4):  # from four addresses: the username's own count locks it
        res = _login(client, "erin", "wrong", f"10.0.0.{n}")
        assert res.status_code == 200 and "didn't match" in res.content.decode()
    res = _login(client, "erin", "wrong", "10.0.0.9")
    assert res.status_code == 429
    assert "Too many failed sign-ins; try again in 5 minutes." in res.content.decode()
    assert 240 < int(res["Retry-After"]) <= 300
    res = _login(client, "erin", "right-password-1", "10.0.1.1")
    assert res.status_code == 429 and "Too many failed sign-ins" in res.content.decode()
    assert "_auth_user_id" not in client.session
    # Once the window has passed, the right password works.
    later = time.time() + 301
    monkeypatch.setattr(time, "time", lambda: later)
    assert _login(client, "erin", "right-password-1", "10.0.1.1").status_code == 302


def test_failed_sign_ins_lock_an_address_out_and_success_clears_the_username(
    transactional_db: None, settings: Any
) -> None:
    settings.PLAYGROUND_LOGIN_FAILURES, settings.PLAYGROUND_LOGIN_LOCKOUT_MINUTES = 5, 5
    User.objects.create_user("erin", password="right-password-1")
    client = Client()
    for n in range(4):
        _login(client, f"guess{n}", "wrong", "10.0.0.1")
    res = _login(client, "guess4", "wrong", "10.0.0.1")
    assert res.status_code == 429 and "try again in 5 minutes" in res.content.decode()
    # That address is refused for every username; another address is not.
    assert _login(client, "erin", "right-password-1", "10.0.0.1").status_code == 429
    for n in range(4):
        _login(client, "erin", "wrong", f"10.0.2.{n}")
    assert _login(client, "erin", "right-password-1", "10.0.3.1").status_code == 302
    # The success cleared erin's count: four more failures do not lock her out.
    for n in range(4):
        assert _login(Client(), "erin", "wrong", f"10.0.4.{n}").status_code == 200
    assert _login(Client(), "erin", "right-password-1", "10.0.5.1").status_code == 302


def test_sign_ups_per_address(transactional_db: None, settings: Any) -> None:
    settings.PLAYGROUND_SIGNUPS_PER_HOUR = 2

    def signup(username: str, ip: str) -> Any:
        data = {"username": username, "password1": "a-Long-pass-42", "password2": "a-Long-pass-42"}
        return Client().post("/accounts/signup/", data, REMOTE_ADDR=ip)

    assert signup("u1", "10.1.0.1").status_code == 302
    assert signup("u2", "10.1.0.1").status_code == 302
    res = signup("u3", "10.1.0.1")
    assert res.status_code == 429 and 3000 < int(res["Retry-After"]) <= 3600
    assert "Too many accounts were created from your network; try again in 60 minutes." in res.content.decode()
    assert not User.objects.filter(username="u3").exists()
    assert signup("u3", "10.1.0.2").status_code == 302


# --- 3. CSRF on cookie-authenticated writes --------------------------------------------------------


@pytest.fixture
async def world(api: httpx.AsyncClient, settings: Any) -> AsyncIterator[dict[str, Any]]:
    """alice's team, team preset, recording (ended, shared with the team, shared by link) and invitation."""
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    team = (await api.post("/api/teams", json={"name": "Alpha"})).json()
    check = {"name": "c", "turns": [{"user": {"type": "text", "text": "Hi"}, "expect": [{"type": "response_status"}]}]}
    preset = (
        await api.post("/api/presets", json={"name": "P", "team": team["id"], "content": {"checks": [check]}})
    ).json()
    run = await database_sync_to_async(_queued_run)(preset["id"])
    recording = await create_session(api)
    await api.post(f"/api/sessions/{recording['id']}/close")
    await api.patch(f"/api/sessions/{recording['id']}", json={"team": team["id"]})
    shared = (await api.post(f"/api/sessions/{recording['id']}/share")).json()["share_url"]
    preset_shared = (await api.post(f"/api/presets/{preset['id']}/share")).json()["share_url"]
    invitation = (await api.post(f"/api/teams/{team['id']}/invitations", json={"role": "viewer"})).json()
    budget = (await api.post("/api/budgets", json={"team": team["id"], "cost_limit": 1000})).json()
    yield {
        "team": team["id"],
        "preset": preset["id"],
        "session": recording["id"],
        "session_token": shared.rstrip("/").rsplit("/", 1)[1],
        "preset_token": preset_shared.rstrip("/").rsplit("/", 1)[1],
        "invitation": invitation["id"],
        "invitation_token": invitation["url"].rstrip("/").rsplit("/", 1)[1],
        "run": run,
        "budget": budget["id"],
    }


def _queued_run(preset_id: str) -> str:
    """A check run of the preset, created and not started (its GET answers all the same)."""
    from playground.checks.services import check_run_create
    from playground.presets.models import Preset

    preset = Preset.objects.get(pk=preset_id)
    return str(check_run_create(user=preset.owner, preset=preset, upstream="emulator").pk)


def _operations(methods: tuple[str, ...]) -> list[tuple[str, str, dict[str, Any]]]:
    from playground.api import api as ninja_api

    schema = ninja_api.get_openapi_schema()
    return [
        (method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items() if method in methods
    ]


def _fill(path: str, op: dict[str, Any], values: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """The path with its ids filled in from `values` (an unknown name fails: add it here), and the
    required query parameters with a valid value."""
    query: dict[str, Any] = {}
    for param in op.get("parameters", []):
        name = param["name"]
        if param["in"] == "path":
            assert name in values, f"{path}: no test value for path parameter {name!r}: add one"
            path = path.replace("{" + name + "}", values[name])
        elif param["in"] == "query" and param.get("required"):
            schema = param.get("schema", {})
            query[name] = schema["enum"][0] if "enum" in schema else 1 if schema.get("type") == "integer" else "x"
    return path, query


async def _cookie_client(api: httpx.AsyncClient, username: str) -> tuple[httpx.AsyncClient, str]:
    def login() -> str:
        client = Client()
        client.force_login(User.objects.get(username=username))
        return str(client.cookies["sessionid"].value)

    csrf = _get_new_csrf_string()
    return _client(api, Cookie=f"sessionid={await database_sync_to_async(login)()}; csrftoken={csrf}"), csrf


async def test_every_write_endpoint_needs_csrf_with_the_cookie_and_not_with_a_token(
    api: httpx.AsyncClient, application: Any, world: dict[str, Any]
) -> None:
    values = {
        "session_id": world["session"],
        "other_id": world["session"],
        "preset_id": world["preset"],
        "team_id": world["team"],
        "username": "alice",
        "invitation_id": str(world["invitation"]),
        "token": world["invitation_token"],
        "number": "1",
        "run_id": world["run"],
        "budget_id": world["budget"],
    }
    operations = _operations(WRITE_METHODS)
    assert len(operations) > 30  # the walk really covers the API (client events included)
    cookie, csrf = await _cookie_client(api, "alice")
    failures = []
    async with cookie:
        for method, template, op in operations:
            path, query = _fill(template, op, values)
            res = await cookie.request(method.upper(), path, params=query, json={})
            if res.status_code != 403 or "X-CSRFToken header" not in res.json().get("detail", ""):
                failures.append(f"{method.upper()} {path} without CSRF: {res.status_code} {res.text[:120]}")
            # Destructive ones last would change the ids; with the header, only "not a CSRF refusal" matters.
            if method == "delete":
                continue
            res = await cookie.request(method.upper(), path, params=query, json={}, headers={"X-CSRFToken": csrf})
            if res.status_code == 403 and "CSRF" in res.text:
                failures.append(f"{method.upper()} {path} with CSRF: still refused")
    # Bearer tokens are not sent by browsers on their own: no CSRF token needed.
    for method, template, op in operations:
        if method == "delete":
            continue
        path, query = _fill(template, op, values)
        res = await api.request(method.upper(), path, params=query, json={})
        if res.status_code == 403:
            failures.append(f"{method.upper()} {path} with a bearer token: 403 {res.text[:120]}")
    assert not failures, "\n".join(failures)


def test_page_forms_refuse_a_post_without_csrf(transactional_db: None) -> None:
    from playground.teams import services as team_services

    alice, _ = user_get_or_create(username="alice")
    team = team_services.team_create(user=alice, name="Pages")
    invitation = team_services.invitation_create(team=team, by=alice, role="viewer")
    mallory, _ = user_get_or_create(username="mallory")
    forms = [
        (alice, f"/teams/{team.id}/", {"action": "invite", "role": "member"}),
        (alice, f"/teams/{team.id}/", {"action": "rename", "name": "Hijacked"}),
        (alice, "/teams/", {"name": "Made for me"}),
        (mallory, f"/invite/{invitation.token}/", {}),
        (alice, "/accounts/logout/", {}),
    ]
    for user, path, data in forms:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        res = client.post(path, data)
        assert res.status_code == 403, f"{path} {data}: {res.status_code}"
        page = client.get("/teams/")  # still signed in: the logout was refused too
        assert page.status_code == 200
        token = client.cookies["csrftoken"].value
        assert client.post(path, {**data, "csrfmiddlewaretoken": token}).status_code == 302, path
    team.refresh_from_db()
    assert team.name == "Hijacked"  # only with the token
    assert Invitation.objects.filter(team=team).count() == 2  # the fixture's and the one with the token


# --- 4. WebSocket origins --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        (b"https://evil.example", False),
        (b"http://localhost.evil.example", False),
        (b"null", False),
        (b"http://testserver", True),
        (b"http://127.0.0.1:8000", True),
        (None, True),  # scripts and SDKs send none
    ],
)
async def test_websocket_origins(
    api: httpx.AsyncClient, application: Any, token: str, settings: Any, origin: bytes | None, accepted: bool
) -> None:
    settings.PLAYGROUND_SESSIONS_PER_MINUTE = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER = 0
    session = await create_session(api)
    headers = [(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")]
    if origin is not None:
        headers.append((b"origin", origin))
    for communicator in (
        WebsocketCommunicator(application, f"/ws/sessions/{session['id']}/", headers=headers),
        await _realtime(application, token, origin),
    ):
        connected, _ = await communicator.connect(timeout=10)
        assert connected is accepted, f"{communicator.scope['path']} with Origin {origin!r}"
        if connected:
            await communicator.disconnect()


# --- 5. tokens -------------------------------------------------------------------------------------


async def test_tokens_come_from_secrets_and_are_not_ids(
    api: httpx.AsyncClient, world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    tokens = [world["session_token"], world["preset_token"], world["invitation_token"]]
    assert len(set(tokens)) == 3 and all(URLSAFE_32.match(t) for t in tokens), tokens
    # Made by `secrets` (a CSPRNG), nothing predictable: whatever it answers is the token.
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: f"from-secrets-{n}")
    invitation = (await api.post(f"/api/teams/{world['team']}/invitations", json={"role": "viewer"})).json()
    assert invitation["url"].rstrip("/").endswith("/from-secrets-24")
    await api.delete(f"/api/sessions/{world['session']}/share")
    shared = (await api.post(f"/api/sessions/{world['session']}/share")).json()["share_url"]
    assert shared.rstrip("/").endswith("/from-secrets-24")
    monkeypatch.undo()
    # A share token is no id, and an id is no share token (even to the owner).
    assert (await api.get(f"/api/sessions/{world['session_token']}")).status_code == 404
    assert (await api.get(f"/api/presets/{world['preset_token']}")).status_code == 404
    assert (await api.get(f"/api/shared/sessions/{world['session']}")).status_code == 404
    assert (await api.get(f"/api/shared/presets/{world['preset']}")).status_code == 404
    assert (await api.get(f"/api/invitations/{world['invitation']}")).status_code == 404


# --- 6. no endpoint reveals another team's objects -------------------------------------------------


async def test_every_get_endpoint_is_404_to_a_stranger(
    api: httpx.AsyncClient, application: Any, world: dict[str, Any]
) -> None:
    """Every GET with a path id, as alice (sanity: the ids are right) and as mallory (404, never 200 or 403).

    `token` parameters get the objects' ids, which are no tokens: 404 to everyone."""
    private = await create_session(api)
    await api.post(f"/api/sessions/{private['id']}/close")
    stranger = await _bearer(api, "mallory")
    failures = []
    checked = 0
    for session in (world["session"], private["id"]):
        values = {
            "session_id": session,
            "other_id": session,
            "preset_id": world["preset"],
            "team_id": world["team"],
            "username": "alice",
            "invitation_id": str(world["invitation"]),
            "number": "1",
            "run_id": world["run"],
            "budget_id": world["budget"],
            "side": "user",
        }
        for _, template, op in _operations(("get",)):
            if "{" not in template:
                continue  # lists: covered by the teams tests (a stranger's list holds none of these)
            tokens = (session, world["preset"], world["team"]) if "{token}" in template else ("",)
            for filled in (values | {"token": t} for t in tokens):
                path, query = _fill(template, op, filled)
                if "{token}" not in template:
                    owner = await api.get(path, params=query)
                    assert owner.status_code == 200, f"{path} as the owner: {owner.status_code} {owner.text[:200]}"
                res = await stranger.get(path, params=query)
                checked += 1
                if res.status_code != 404:
                    failures.append(f"GET {path} as a stranger: {res.status_code} {res.text[:120]}")
    await stranger.aclose()
    assert checked > 20
    assert not failures, "\n".join(failures)
