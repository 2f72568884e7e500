"""The Yandex upstream against a local WebSocket server that plays Yandex.

It checks the exact URL and headers the playground sends, and answers in
Yandex's dialect (44.1 kHz audio, `languages` and `role`), which must reach
the watcher unchanged. The credentials must never leave the server side.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from playground.realtime.upstreams.yandex import connect_url, model_uri
from tests.conftest import is_type, recorded_events

API_KEY = "AQVN-test-key-4a7f19c2"
IAM_TOKEN = "t1.iam-test-token-9b2e"
FOLDER = "b1gfolder42"

YANDEX_SESSION = {
    "type": "realtime",
    "id": "sess_yandex_1",
    "object": "realtime.session",
    "model": f"gpt://{FOLDER}/speech-realtime-250923",
    "output_modalities": ["audio"],
    "instructions": "",
    "audio": {
        "input": {"format": {"type": "audio/pcm", "rate": 44100}, "turn_detection": None, "languages": ["ru-RU"]},
        "output": {"format": {"type": "audio/pcm", "rate": 44100}, "voice": "marina", "role": "good"},
    },
}


class FakeYandex:
    """Records each handshake; answers session.created, then session.updated and a short audio answer."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.received: list[dict[str, Any]] = []
        self.refuse_with: int | None = None
        # A careless upstream may quote the request back in its refusal; the secrets test makes it do so.
        self.refusal_echoes_auth = False
        self.close_with: tuple[int, str] | None = None

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.requests.append(request)
        if self.refuse_with is not None:
            said = "refused"
            if self.refusal_echoes_auth:
                said += f" (Authorization: {request.headers.get('Authorization', '')})"
            return connection.respond(self.refuse_with, said + "\n")
        return None

    async def handler(self, ws: ServerConnection) -> None:
        await ws.send(json.dumps({"type": "session.created", "event_id": "event_y1", "session": YANDEX_SESSION}))
        if self.close_with is not None:
            await ws.close(*self.close_with)
            return
        async for text in ws:
            event = json.loads(text)
            self.received.append(event)
            if event["type"] == "session.update":
                await ws.send(
                    json.dumps({"type": "session.updated", "event_id": "event_y2", "session": YANDEX_SESSION})
                )
            if event["type"] == "response.create":
                pcm = b"\x10\x00" * 441  # 10 ms at 44.1 kHz, whatever the client asked
                for i, payload in enumerate(
                    [
                        {"type": "response.created", "response": {"id": "resp_1", "status": "in_progress"}},
                        {
                            "type": "response.output_audio.delta",
                            "response_id": "resp_1",
                            "item_id": "item_1",
                            "output_index": 0,
                            "content_index": 0,
                            "delta": base64.b64encode(pcm).decode(),
                        },
                        {
                            "type": "response.output_audio_transcript.delta",
                            "response_id": "resp_1",
                            "item_id": "item_1",
                            "output_index": 0,
                            "content_index": 0,
                            "delta": "Привет",
                        },
                        {"type": "response.done", "response": {"id": "resp_1", "status": "completed"}},
                    ]
                ):
                    await ws.send(json.dumps({**payload, "event_id": f"event_r{i}"}, ensure_ascii=False))


@pytest.fixture
async def fake_yandex(settings: Any) -> AsyncIterator[FakeYandex]:
    fake = FakeYandex()
    async with serve(fake.handler, "127.0.0.1", 0, process_request=fake.process_request) as server:
        port = server.sockets[0].getsockname()[1]
        settings.PLAYGROUND_YANDEX_URL = f"ws://127.0.0.1:{port}/v1/realtime"
        settings.YC_API_KEY = API_KEY
        settings.YC_IAM_TOKEN = ""
        settings.YC_FOLDER_ID = FOLDER
        settings.PLAYGROUND_YANDEX_MODEL = "speech-realtime-250923"
        yield fake


def test_model_uri_and_url() -> None:
    assert model_uri(model="speech-realtime-250923", folder_id="f1") == "gpt://f1/speech-realtime-250923"
    assert model_uri(model="gpt://other/m", folder_id="f1") == "gpt://other/m"
    assert (
        connect_url(base_url="wss://ai.api.cloud.yandex.net/v1/realtime", model="gpt://f1/speech-realtime-250923")
        == "wss://ai.api.cloud.yandex.net/v1/realtime?model=gpt://f1/speech-realtime-250923"
    )


async def test_connects_with_exact_url_and_api_key_header(
    api: httpx.AsyncClient, watch: Any, fake_yandex: FakeYandex
) -> None:
    res = await api.post(
        "/api/sessions",
        json={
            "upstream": "yandex",
            "session": {"audio": {"input": {"languages": ["ru-RU"]}, "output": {"voice": "dasha", "role": "good"}}},
        },
    )
    assert res.status_code == 201, res.text
    request = fake_yandex.requests[0]
    assert request.path == f"/v1/realtime?model=gpt://{FOLDER}/speech-realtime-250923"
    assert request.headers["Authorization"] == f"Api-Key {API_KEY}"
    watcher = await watch(res.json()["id"])
    await api.post(f"/api/sessions/{res.json()['id']}/client-events/response.create", json={})
    frames = await watcher.receive_until(is_type("response.done"))
    # The dialect reaches the watcher untouched: 44.1 kHz, languages, role, Cyrillic text.
    created = next(f for f in frames if f.get("event", {}).get("type") == "session.created")["event"]
    assert created["session"]["audio"]["output"]["format"]["rate"] == 44100
    assert created["session"]["audio"]["input"]["languages"] == ["ru-RU"]
    assert created["session"]["audio"]["output"]["role"] == "good"
    transcript = next(f for f in frames if f.get("event", {}).get("type") == "response.output_audio_transcript.delta")
    assert transcript["event"]["delta"] == "Привет"
    # What the playground sent is the GA dialect with Yandex's extensions, byte for byte as validated.
    assert fake_yandex.received[0] == {
        "type": "session.update",
        "event_id": fake_yandex.received[0]["event_id"],
        "session": {"audio": {"input": {"languages": ["ru-RU"]}, "output": {"voice": "dasha", "role": "good"}}},
    }
    assert fake_yandex.received[1]["type"] == "response.create"
    # The key is nowhere a user can see it.
    await asyncio.sleep(0.2)
    everything = res.text + json.dumps(watcher.frames)
    everything += "".join(r.data for r in await recorded_events(res.json()["id"]))
    everything += (await api.get(f"/api/sessions/{res.json()['id']}/events")).text
    assert API_KEY not in everything


async def test_iam_token_goes_as_bearer(api: httpx.AsyncClient, fake_yandex: FakeYandex, settings: Any) -> None:
    settings.YC_API_KEY = ""
    settings.YC_IAM_TOKEN = IAM_TOKEN
    res = await api.post("/api/sessions", json={"upstream": "yandex"})
    assert res.status_code == 201, res.text
    assert fake_yandex.requests[0].headers["Authorization"] == f"Bearer {IAM_TOKEN}"


async def test_default_upstream_is_yandex_when_configured(api: httpx.AsyncClient, fake_yandex: FakeYandex) -> None:
    res = await api.post("/api/sessions", json={})
    assert res.status_code == 201
    assert res.json()["upstream"] == "yandex"


@pytest.mark.parametrize("status", [401, 403, 429])
async def test_refused_handshake_is_502_in_words(api: httpx.AsyncClient, fake_yandex: FakeYandex, status: int) -> None:
    fake_yandex.refuse_with = status
    res = await api.post("/api/sessions", json={"upstream": "yandex"})
    assert res.status_code == 502
    assert f"Yandex refused the connection: HTTP {status}" in res.json()["detail"]
    assert API_KEY not in res.text
    assert (await api.get("/api/sessions")).json()[0]["state"] == "failed"


async def test_close_1008_is_explained(api: httpx.AsyncClient, watch: Any, fake_yandex: FakeYandex) -> None:
    fake_yandex.close_with = (1008, "invalid model uri")
    res = await api.post("/api/sessions", json={"upstream": "yandex"})
    assert res.status_code == 201
    watcher = await watch(res.json()["id"])
    frames = await watcher.receive_until(lambda f: f["direction"] == "playground")
    message = frames[-1]["notice"]["message"]
    assert "code 1008" in message and "bad model URI" in message and "invalid model uri" in message
    detail = (await api.get(f"/api/sessions/{res.json()['id']}")).json()
    assert detail["state"] == "interrupted"
