"""`make bench`'s replay step: the recording it writes, and the path it measures for either server."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from django.contrib.auth import get_user_model

from bench import replay
from playground.realtime.models import RealtimeSession
from playground.realtime.reading import frames_read


@pytest.mark.django_db
def test_seed_writes_a_voice_recording_through_the_recorder() -> None:
    get_user_model().objects.create_user("bench")
    sid = replay.seed(0.5, "bench")  # 300 appends, 12 answered turns
    session = RealtimeSession.objects.get(pk=sid)
    assert session.state == "ended"
    events = list(frames_read(session_id=sid))
    assert session.last_seq == len(events) == 1 + 300 + 12 * 15
    assert events[0].type == "session.created"
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    appends = [e for e in events if e.type == "input_audio_buffer.append"]
    assert all(e.direction == "client" for e in appends)
    assert len(base64.b64decode(json.loads(appends[0].data)["audio"])) == 8820
    deltas = [e for e in events if e.type == "response.output_audio.delta"]
    assert len(deltas) == 12 * 5 and all(e.direction == "server" for e in deltas)


def _frames(audio: Any) -> list[dict[str, Any]]:
    created = {"seq": 1, "direction": "server", "ts": 1.0, "event": {"type": "session.created"}}
    append = {
        "seq": 2,
        "direction": "client",
        "ts": 1.1,
        "event": {"type": "input_audio_buffer.append", "audio": audio},
    }
    return [created, append]


async def test_inline_server_is_measured_page_by_page_until_an_empty_one() -> None:
    asked: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(str(request.url))
        after = int(request.url.params["after"])
        return httpx.Response(200, json=_frames("AAAA") if after == 0 else [])

    async with httpx.AsyncClient(base_url="http://bench", transport=httpx.MockTransport(answer)) as http:
        r = await replay.measure(http, "s1", minutes=10, seed_s=0.0)
    assert (r.path, r.events, r.requests, r.problems) == ("inline", 2, 2, [])
    assert r.first_page_s <= r.first_audio_s
    assert "audio=ref" not in asked[1] and "after=2" in asked[2]


async def test_ref_server_is_measured_by_the_first_page_and_a_range_request() -> None:
    ranges: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/events"):
            assert request.url.params["audio"] == "ref"
            return httpx.Response(200, json=_frames({"$audio": "user", "offset": 44, "length": 8820}))
        assert request.url.path == "/api/sessions/s1/audio/user"
        ranges.append(request.headers["range"])
        return httpx.Response(206, content=b"\0" * 100, headers={"content-type": "audio/wav"})

    async with httpx.AsyncClient(base_url="http://bench", transport=httpx.MockTransport(answer)) as http:
        r = await replay.measure(http, "s1", minutes=10, seed_s=0.0)
    assert (r.path, r.requests, r.problems) == ("ref", 2, [])
    assert ranges == [f"bytes=44-{44 + replay.LOOKAHEAD_BYTES - 1}"]
    assert r.first_audio_s >= r.first_page_s
