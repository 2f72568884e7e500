"""Secrets: the Yandex credentials never reach a user, a recording, an export, a page or a log.

A full session runs through the `yandex` upstream against a local fake Yandex (REST, the watcher's
WebSocket, SSE, /v1/realtime, a preset and its generated code, pages, exports, and two error paths:
the upstream closing with 1008 and refusing the handshake). Then every byte a user could see, every
row recorded and every log line (root at DEBUG) is searched for the key and the IAM token. The
key must be in the one place it belongs: the Authorization header of the upstream handshake.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import uuid
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from websockets.asyncio.server import serve

from tests.conftest import is_type, recorded_texts
from tests.test_yandex_upstream import FakeYandex

API_KEY = f"AQVN-secret-{uuid.uuid4().hex}"
IAM_TOKEN = f"t1.iam-secret-{uuid.uuid4().hex}"
FOLDER = f"b1gsecretfolder{uuid.uuid4().hex[:8]}"
SECRETS = (API_KEY, IAM_TOKEN)


class Seen:
    """Everything a user (or a log reader) got, labelled, to search afterwards."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, where: str, text: Any) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        elif not isinstance(text, str):
            text = json.dumps(text, ensure_ascii=False, default=str)
        self.items.append((where, text))

    def response(self, where: str, res: httpx.Response) -> httpx.Response:
        self.add(f"{where} body", res.content)
        self.add(f"{where} headers", "\n".join(f"{k}: {v}" for k, v in res.headers.multi_items()))
        return res

    def leaks(self) -> list[str]:
        return [f"{where}: …{secret[:12]}…" for where, text in self.items for secret in SECRETS if secret in text]


@pytest.fixture
async def fake(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake = FakeYandex()
    async with serve(fake.handler, "127.0.0.1", 0, process_request=fake.process_request) as server:
        port = server.sockets[0].getsockname()[1]
        for name, value in (("YC_API_KEY", API_KEY), ("YC_IAM_TOKEN", IAM_TOKEN), ("YC_FOLDER_ID", FOLDER)):
            monkeypatch.setenv(name, value)
            setattr(settings, name, value)
        settings.PLAYGROUND_YANDEX_URL = f"ws://127.0.0.1:{port}/v1/realtime"
        settings.PLAYGROUND_YANDEX_MODEL = "speech-realtime-250923"
        yield fake


def everything_at_debug() -> None:
    """Root and every logger at DEBUG, except those the settings pin on purpose (their protection is tested)."""
    logging_config: dict[str, Any] = django_settings.LOGGING
    pinned = set(logging_config.get("loggers", {}))
    logging.getLogger().setLevel(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        if not any(name == p or name.startswith(p + ".") for p in pinned):
            logger.setLevel(logging.DEBUG)
    # The in-process websockets servers are the fake Yandex (which must get the key) and the emulator:
    # not the playground's logs.
    logging.getLogger("websockets.server").setLevel(logging.INFO)


async def login_cookie(user: Any) -> str:
    def make() -> str:
        from django.test import Client

        client = Client()
        client.force_login(user)
        return str(client.cookies["sessionid"].value)

    return await sync_to_async(make)()


@pytest.mark.parametrize("credential", ["api_key", "iam_token"])
async def test_the_yandex_credentials_never_leave_the_server(
    credential: str,
    monkeypatch: pytest.MonkeyPatch,
    api: httpx.AsyncClient,
    application: Any,
    user_and_token: tuple[Any, str],
    watch: Any,
    fake: FakeYandex,
    settings: Any,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    if credential == "iam_token":  # alone: sent as Bearer (with both set, the key wins)
        settings.YC_API_KEY = ""
        monkeypatch.delenv("YC_API_KEY")
    expected_auth = f"Api-Key {API_KEY}" if credential == "api_key" else f"Bearer {IAM_TOKEN}"
    caplog.set_level(logging.DEBUG)
    everything_at_debug()
    seen = Seen()
    user, token = user_and_token

    # --- a session through Yandex: REST, the watcher's socket, SSE ----------------------------
    seen.response("upstreams", await api.get("/api/upstreams"))
    res = seen.response(
        "create",
        await api.post(
            "/api/sessions",
            json={"upstream": "yandex", "session": {"instructions": "Be brief.", "output_modalities": ["audio"]}},
        ),
    )
    assert res.status_code == 201, res.text
    sid = res.json()["id"]
    # It ran against the fake, with the key exactly where it belongs.
    assert fake.requests[0].headers["Authorization"] == expected_auth

    watcher = await watch(sid)
    await watcher.receive_until(is_type("session.updated"))
    seen.response(
        "client event",
        await api.post(
            f"/api/sessions/{sid}/client-events/conversation.item.create",
            json={"item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}},
        ),
    )
    sse = seen.response(
        "sse",
        await api.post(
            f"/api/sessions/{sid}/client-events/response.create",
            json={"type": "response.create"},
            headers={"Accept": "text/event-stream"},
        ),
    )
    assert "response.done" in sse.text
    await watcher.receive_until(is_type("response.done"))
    # Refused input, with the key's look-alike in it, is answered without echoing anything secret.
    seen.response(
        "bad event",
        await api.post(f"/api/sessions/{sid}/client-events/session.update", json={"session": {"voice": "x"}}),
    )
    await watcher.send({"type": "response.create", "bogus": True})
    await watcher.receive_until(lambda f: f["seq"] is None)

    # --- a preset from it, its code in every language, a session started from it -------------
    res = seen.response(
        "preset",
        await api.post(
            "/api/presets",
            json={"name": "Secret test", "content": {"session": {"instructions": "Be brief."}}},
        ),
    )
    assert res.status_code == 201, res.text
    pid = res.json()["id"]
    for lang in ("openai", "websockets", "curl"):
        code = seen.response(f"code {lang}", await api.get(f"/api/presets/{pid}/code", params={"lang": lang}))
        assert code.status_code == 200, code.text
    seen.response("preset export", await api.get(f"/api/presets/{pid}/export"))
    res = seen.response("preset session", await api.post(f"/api/presets/{pid}/sessions", json={"upstream": "yandex"}))
    assert res.status_code == 201, res.text
    from_preset = res.json()["id"]

    # --- /v1/realtime (default upstream: Yandex, being configured) ------------------------------
    communicator = WebsocketCommunicator(
        application,
        "/v1/realtime?model=gpt-realtime",
        headers=[(b"authorization", f"Bearer {token}".encode()), (b"host", b"testserver")],
    )
    connected, code = await communicator.connect(timeout=10)
    assert connected, code
    await communicator.send_to(text_data=json.dumps({"type": "session.update", "session": {"instructions": "x"}}))
    await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
    await communicator.send_to(text_data="{not json")
    async with asyncio.timeout(10):
        while True:
            text = await communicator.receive_from(timeout=10)
            seen.add("/v1/realtime frame", text)
            if json.loads(text)["type"] == "response.done":
                break
    await communicator.disconnect()

    # --- error paths: Yandex closes with 1008, then refuses the handshake --------------------------
    fake.close_with = (1008, "invalid model uri")
    res = seen.response("create (1008)", await api.post("/api/sessions", json={"upstream": "yandex"}))
    assert res.status_code == 201, res.text
    closed = res.json()["id"]
    closed_watcher = await watch(closed)
    await closed_watcher.receive_until(lambda f: f["direction"] == "playground")
    fake.close_with = None
    fake.refuse_with = 401
    fake.refusal_echoes_auth = True  # the refusal quotes our key back: the playground must redact it
    res = seen.response("create (401)", await api.post("/api/sessions", json={"upstream": "yandex"}))
    assert res.status_code == 502, res.text
    scheme = expected_auth.split()[0]  # Api-Key or Bearer: the scheme stays, the secret goes
    assert f'said: "refused (Authorization: {scheme} [redacted])"' in res.json()["detail"], res.text
    fake.refuse_with = None
    fake.refusal_echoes_auth = False
    # ... and cannot be reached at all (the error names the URL it tried).
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    working_url = settings.PLAYGROUND_YANDEX_URL
    settings.PLAYGROUND_YANDEX_URL = f"ws://127.0.0.1:{closed_port}/v1/realtime"
    res = seen.response("create (unreachable)", await api.post("/api/sessions", json={"upstream": "yandex"}))
    assert res.status_code == 502 and "Could not connect" in res.json()["detail"], res.text
    settings.PLAYGROUND_YANDEX_URL = working_url
    assert all(r.headers["Authorization"] == expected_auth for r in fake.requests)
    assert len(fake.requests) >= 5

    # --- end it; read back everything a user can read ----------------------------------------------
    seen.response("close", await api.post(f"/api/sessions/{sid}/close"))
    seen.response("share", await api.post(f"/api/sessions/{sid}/share"))
    seen.response("list", await api.get("/api/sessions"))
    all_sessions = [s["id"] for s in (await api.get("/api/sessions")).json()]
    assert {sid, from_preset, closed} <= set(all_sessions)
    for session_id in all_sessions:
        seen.response("detail", await api.get(f"/api/sessions/{session_id}"))
        seen.response("events", await api.get(f"/api/sessions/{session_id}/events", params={"limit": 10_000}))
        for fmt, side in (("jsonl", "assistant"), ("md", "assistant"), ("wav", "assistant"), ("wav", "user")):
            seen.response(
                f"export {fmt}",
                await api.get(f"/api/sessions/{session_id}/export", params={"format": fmt, "side": side}),
            )
    for frame in watcher.frames + closed_watcher.frames:
        seen.add("watcher frame", frame)

    cookie = await login_cookie(user)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application), base_url="http://testserver", cookies={"sessionid": cookie}
    ) as browser:
        for page in ("/", f"/sessions/{sid}/", f"/sessions/{sid}/replay/", f"/presets/{pid}/", "/recordings/"):
            res = seen.response(f"page {page}", await browser.get(page))
            assert res.status_code == 200, (page, res.status_code)
        share_url = (await api.get(f"/api/sessions/{sid}")).json()["share_url"]
        seen.response("shared replay", await browser.get(share_url.replace("http://testserver", "")))

    # --- what is stored ------------------------------------------------------------------------------
    def stored() -> list[tuple[str, str]]:
        from playground.presets.models import Preset, PresetVersion
        from playground.realtime.models import RealtimeSession

        rows = [("SessionEvent", text) for text in recorded_texts()]
        rows += [("RealtimeSession", repr(s)) for s in RealtimeSession.objects.values()]
        rows += [("Preset", repr(p)) for p in Preset.objects.values()]
        rows += [("PresetVersion", repr(v)) for v in PresetVersion.objects.values()]
        return rows

    await asyncio.sleep(0.3)  # the recorder writes in batches
    rows = await sync_to_async(stored)()
    assert any(where == "SessionEvent" for where, _ in rows)
    for where, text in rows:
        seen.add(f"db {where}", text)

    # --- and every log line ------------------------------------------------------------------------
    assert caplog.records, "the logs were captured"
    for record in caplog.records:
        seen.add(f"log {record.name}", record.getMessage() + (record.exc_text or ""))
    out, err = capfd.readouterr()
    seen.add("stdout", out)
    seen.add("stderr", err)

    assert len(seen.items) > 50
    assert not seen.leaks(), "\n".join(seen.leaks())
