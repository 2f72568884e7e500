"""A recording's audio kept as FLAC media, not base64 in its rows, and given back byte for byte."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import numpy as np
import pytest
from channels.db import database_sync_to_async

from playground.media.codec import flac_decode
from playground.media.models import AudioChunk, AudioPending
from playground.media.refs import audio_extract, audio_restore
from playground.media.storage import recordings_storage
from playground.realtime.models import SessionEvent
from tests.conftest import is_type
from tests.test_relay_path import create_session


def _speech(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(44100 * seconds)) / 44100
    wave_ = 6000 * np.sin(2 * np.pi * 220 * t) + rng.normal(0, 300, t.size)
    return wave_.astype("<i2").tobytes()


def test_extract_and_restore_give_the_text_back() -> None:
    pcm = _speech(0.1, 1)
    b64 = base64.b64encode(pcm).decode()
    text = f'{{"type":"input_audio_buffer.append","event_id":"e1","audio":"{b64}"}}'
    stored, pieces = audio_extract(
        direction="client", type_="input_audio_buffer.append", data=text, offsets={"user": 7}
    )
    ref = f'{{"$audio":"user","offset":7,"length":{len(pcm)}}}'
    assert stored == f'{{"type":"input_audio_buffer.append","event_id":"e1","audio":{ref}}}'
    assert pieces == [("user", 7, pcm)]
    assert audio_restore(stored, lambda side, offset, length: pcm) == text


@pytest.mark.parametrize(
    "audio",
    [
        base64.b64encode(b"\x01" * 99).decode(),  # odd bytes: not whole 16-bit samples
        base64.b64encode(b"\x01\x02" * 50).decode().rstrip("="),  # not canonical
        "not base64 at all, but long enough to be looked at by the extractor ......",
    ],
)
def test_audio_that_cannot_come_back_exactly_stays_inline(audio: str) -> None:
    text = json.dumps({"type": "input_audio_buffer.append", "audio": audio})
    assert audio_extract(direction="client", type_="input_audio_buffer.append", data=text, offsets={}) == (text, [])


def test_an_event_that_looks_like_a_reference_is_never_read_as_one() -> None:
    b64 = base64.b64encode(_speech(0.05, 2)).decode()
    text = json.dumps({"type": "input_audio_buffer.append", "audio": b64, "x": {"$audio": "user", "offset": 0}})
    assert audio_extract(direction="client", type_="input_audio_buffer.append", data=text, offsets={}) == (text, [])


async def _voice_session(api: httpx.AsyncClient, watch: Any, appends: list[bytes]) -> tuple[str, list[Any]]:
    session = await create_session(api, session={"output_modalities": ["audio"]})
    sid = session["id"]
    watcher = await watch(sid)
    for pcm in appends:
        res = await api.post(
            f"/api/sessions/{sid}/client-events/input_audio_buffer.append",
            json={"audio": base64.b64encode(pcm).decode()},
        )
        assert res.status_code == 200, res.text
    await api.post(f"/api/sessions/{sid}/client-events/input_audio_buffer.commit", json={})
    await api.post(f"/api/sessions/{sid}/client-events/response.create", json={})
    live = await watcher.receive_until(is_type("response.done"))
    assert (await api.post(f"/api/sessions/{sid}/close")).status_code == 200
    live += await watcher.receive_until(lambda f: "notice" in f)
    return sid, live


def _rows(sid: str) -> list[tuple[str, str, bytes | None]]:
    return list(SessionEvent.objects.filter(session_id=sid).values_list("direction", "data", "packed"))


async def test_a_voice_session_keeps_its_audio_as_flac_and_gives_it_back(api: httpx.AsyncClient, watch: Any) -> None:
    appends = [_speech(0.1, seed) for seed in range(30)]  # 3 s of microphone audio in 100 ms appends
    sid, live = await _voice_session(api, watch, appends)

    # Nothing in the database holds base64 audio any more: rows are packed, the audio is in FLAC files.
    rows = await database_sync_to_async(_rows)(sid)
    assert all(d == "block" for d, _, _ in rows) and len(rows) < 5
    assert not await database_sync_to_async(AudioPending.objects.filter(session_id=sid).exists)()
    chunks = await database_sync_to_async(list)(AudioChunk.objects.filter(session_id=sid).order_by("side"))
    assert [c.side for c in chunks] == ["assistant", "user"]
    user = chunks[1]
    with recordings_storage().open(user.name, "rb") as f:
        flac = f.read()
    assert flac[:4] == b"fLaC"
    assert flac_decode(flac) == b"".join(appends)
    assert len(flac) < 0.7 * user.length

    # The events API gives back every event as it crossed the wire: the same as the watcher saw live.
    events = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000})).json()
    live_by_seq = {f["seq"]: f for f in live}
    for frame in events:
        if frame["seq"] in live_by_seq:
            assert {k: v for k, v in frame.items() if v is not None} == live_by_seq[frame["seq"]]
    sent = [
        base64.b64decode(f["event"]["audio"])
        for f in events
        if (f.get("event") or {}).get("type") == "input_audio_buffer.append"
    ]
    assert sent == appends
    answered = [f for f in events if (f.get("event") or {}).get("type") == "response.output_audio.delta"]
    assert answered and all(isinstance(f["event"]["delta"], str) for f in answered)

    # Paging across blocks: `after` anywhere gives the same events as one read.
    paged, after = [], 0
    while page := (await api.get(f"/api/sessions/{sid}/events", params={"after": after, "limit": 7})).json():
        paged += page
        after = page[-1]["seq"]
    assert paged == events

    # Asked for references, the page is small and says where each event's audio is.
    refs = (await api.get(f"/api/sessions/{sid}/events", params={"limit": 10_000, "audio": "ref"})).json()
    first = next(f for f in refs if (f.get("event") or {}).get("type") == "input_audio_buffer.append")
    assert first["event"]["audio"] == {"$audio": "user", "offset": 0, "length": len(appends[0])}


async def test_deleting_a_session_deletes_its_media(api: httpx.AsyncClient, watch: Any) -> None:
    sid, _ = await _voice_session(api, watch, [_speech(0.1, 3)])
    names = await database_sync_to_async(list)(AudioChunk.objects.filter(session_id=sid).values_list("name", flat=True))
    assert names and all(recordings_storage().exists(n) for n in names)
    assert (await api.delete(f"/api/sessions/{sid}")).status_code == 204
    assert not any(recordings_storage().exists(n) for n in names)


@pytest.mark.django_db(transaction=True)
def test_a_long_live_recording_reads_the_same_while_its_rows_become_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """2,500 events written as the recorder writes them, audio sealed every 64 KiB: every way of reading
    (a page after any seq, up to a seq, by type) gives the frames exactly as they were sent."""
    from django.contrib.auth.models import User

    from playground.media import writer
    from playground.realtime.models import RealtimeSession
    from playground.realtime.reading import frames_read
    from playground.realtime.runtime import recorder
    from playground.realtime.runtime.frames import Frame

    monkeypatch.setattr(writer, "SEAL_BYTES", 64 * 1024)
    user = User.objects.create_user(username="long", password="x" * 12)
    sid = str(RealtimeSession.objects.create(owner=user).pk)
    sent: list[Frame] = []
    for seq in range(1, 2501):
        if seq % 5 == 0:
            frame = Frame(seq, "server", 100.0 + seq / 10, "response.output_text.delta", f'{{"delta":"w{seq} "}}')
        else:
            b64 = base64.b64encode(_speech(0.02, seq)).decode()
            kind, field, direction = ("input_audio_buffer.append", "audio", "client")
            if seq % 2:
                kind, field, direction = ("response.output_audio.delta", "delta", "server")
            data = f'{{"type":"{kind}","event_id":"e{seq}","{field}":"{b64}"}}'
            frame = Frame(seq, direction, 100.0 + seq / 10, kind, data)
        sent.append(frame)
    for i in range(0, len(sent), 25):  # batches as the recorder makes them
        recorder.events_record(batch=[(sid, f) for f in sent[i : i + 25]])

    rows = SessionEvent.objects.filter(session_id=sid)
    assert rows.filter(direction="block").count() == 2  # 2,000 packed while live, the rest loose
    assert AudioChunk.objects.filter(session_id=sid).count() > 10
    assert list(frames_read(session_id=sid)) == sent
    assert list(frames_read(session_id=sid, after=1234, limit=300)) == sent[1234:1534]
    assert list(frames_read(session_id=sid, after=990, upto=1010)) == sent[990:1010]
    deltas = [f for f in sent if f.type == "response.output_text.delta"]
    assert list(frames_read(session_id=sid, types=("response.output_text.delta",))) == deltas

    recorder.recording_close(session_id=sid)  # the end: everything sealed and packed
    assert not rows.exclude(direction="block").exists()
    assert not AudioPending.objects.filter(session_id=sid).exists()
    assert list(frames_read(session_id=sid)) == sent
    assert list(frames_read(session_id=sid, after=2499)) == sent[2499:]


async def test_peaks_of_a_side_are_computed_from_its_media(
    api: httpx.AsyncClient, watch: Any, other_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GET …/audio/{side}/peaks: the loudest sample of each `every` samples of the stream, read a piece
    at a time (here pieces of 4 KiB, so a group straddles pieces), for the owner and by share link."""
    appends = [_speech(0.1, seed) for seed in range(30)]
    loud = bytearray(appends[3])
    loud[100:102] = (-32768).to_bytes(2, "little", signed=True)  # the loudest sample there is: said as 32767
    appends[3] = bytes(loud)
    sid, _ = await _voice_session(api, watch, appends)
    monkeypatch.setattr("playground.recordings.audio.PIECE", 4096)
    samples = np.abs(np.frombuffer(b"".join(appends), dtype="<i2").astype(np.int32))
    for every in (441, 4410, 1001):
        res = await api.get(f"/api/sessions/{sid}/audio/user/peaks", params={"every": every})
        assert res.status_code == 200, res.text
        expected = [min(32767, int(samples[i : i + every].max())) for i in range(0, samples.size, every)]
        assert res.json() == {"every": every, "peaks": expected}
    assert max(expected) == 32767 and len(expected) == -(-samples.size // 1001)

    # The assistant's side, against the WAV the audio endpoint serves.
    wav = (await api.get(f"/api/sessions/{sid}/audio/assistant")).content
    answer = np.abs(np.frombuffer(wav[44:], dtype="<i2").astype(np.int32))
    res = await api.get(f"/api/sessions/{sid}/audio/assistant/peaks")  # every=4410 unless asked
    assert res.status_code == 200, res.text
    assert res.json()["peaks"] == [int(answer[i : i + 4410].max()) for i in range(0, answer.size, 4410)]

    # By share link, signed out: the same.
    token = (await api.post(f"/api/sessions/{sid}/share")).json()["share_url"].rstrip("/").rsplit("/", 1)[1]
    async with httpx.AsyncClient(transport=api._transport, base_url="http://testserver") as anyone:
        shared = await anyone.get(f"/api/shared/sessions/{token}/audio/user/peaks", params={"every": 1001})
    assert shared.status_code == 200 and shared.json()["peaks"] == expected

    # `every` out of bounds: 422 naming it; another user's recording: 404.
    for bad in (0, 440, 441_001, "x"):
        res = await api.get(f"/api/sessions/{sid}/audio/user/peaks", params={"every": bad})
        assert res.status_code == 422 and res.json()["field"] == "every", res.text
    async with httpx.AsyncClient(
        transport=api._transport, base_url="http://testserver", headers={"Authorization": f"Bearer {other_token}"}
    ) as stranger:
        assert (await stranger.get(f"/api/sessions/{sid}/audio/user/peaks")).status_code == 404
