"""A session's recording exported as JSONL, a Markdown transcript and WAV (each side)."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from typing import Any

import httpx

from tests.conftest import is_type
from tests.test_relay_path import USER_SAYS, create_session


async def record_a_conversation(api: httpx.AsyncClient, watch: Any) -> str:
    session = await create_session(api, session={"output_modalities": ["audio"]})
    sid = session["id"]
    watcher = await watch(sid)
    mic = base64.b64encode(b"\x10\x00" * 4410).decode()  # 100 ms at 44.1 kHz
    await api.post(f"/api/sessions/{sid}/client-events/input_audio_buffer.append", json={"audio": mic})
    await api.post(f"/api/sessions/{sid}/client-events/input_audio_buffer.clear", json={})
    await api.post(f"/api/sessions/{sid}/client-events/conversation.item.create", json=USER_SAYS)
    await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
    await watcher.receive_until(is_type("response.done"))
    await api.post(f"/api/sessions/{sid}/close")
    return sid


async def test_jsonl_is_every_frame_in_order(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await record_a_conversation(api, watch)
    res = await api.get(f"/api/sessions/{sid}/export", params={"format": "jsonl"})
    assert res.status_code == 200
    assert res.headers["content-disposition"] == f'attachment; filename="session-{sid}.jsonl"'
    frames = [json.loads(line) for line in res.text.splitlines()]
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    listed = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
    # The events API's schema spells out absent fields as null; the export, like the socket, leaves them out.
    assert frames == [{k: v for k, v in f.items() if v is not None} for f in listed]
    assert frames[-1]["notice"]["kind"] == "session_closed"


async def test_markdown_transcript_says_who_said_what(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await record_a_conversation(api, watch)
    res = await api.get(f"/api/sessions/{sid}/export", params={"format": "md"})
    assert res.status_code == 200
    text = res.text
    assert text.startswith(f"# Session {sid}")
    assert "**You:** hello there" in text
    assert '**Assistant:** You said: "hello there".' in text
    assert "> Closed by the user." in text


async def test_wav_per_side_at_the_sessions_rate(api: httpx.AsyncClient, watch: Any) -> None:
    sid = await record_a_conversation(api, watch)
    events = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
    assistant_bytes = sum(
        len(base64.b64decode(f["event"]["delta"]))
        for f in events
        if (f.get("event") or {}).get("type") == "response.output_audio.delta"
    )
    assert assistant_bytes > 0
    for side, expected in (("user", 8820), ("assistant", assistant_bytes)):
        res = await api.get(f"/api/sessions/{sid}/export", params={"format": "wav", "side": side})
        assert res.status_code == 200
        assert res.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(res.content)) as wav:
            assert wav.getframerate() == 44100
            assert wav.getnchannels() == 1 and wav.getsampwidth() == 2
            assert wav.getnframes() * 2 == expected


async def test_export_of_someone_elses_session_is_404(
    api: httpx.AsyncClient, application: Any, other_token: str
) -> None:
    session = await create_session(api)
    await asyncio.sleep(0.05)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=application),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {other_token}"},
    ) as mallory:
        for fmt in ("jsonl", "md", "wav"):
            assert (
                await mallory.get(f"/api/sessions/{session['id']}/export", params={"format": fmt})
            ).status_code == 404
    res = await api.get(f"/api/sessions/{session['id']}/export", params={"format": "pdf"})
    assert res.status_code == 422
    assert res.json()["field"] == "format"
