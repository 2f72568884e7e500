"""`manage.py audio_migrate` and `manage.py audio_orphans` (issue 16): recordings made before media, with
their audio as base64 in each row, moved to FLAC files and packed, reading back byte for byte."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from channels.db import database_sync_to_async
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.core.management.base import CommandError

from playground.media import migrate
from playground.media.codec import flac_encode
from playground.media.models import AudioChunk, AudioPending
from playground.media.storage import recordings_storage
from playground.realtime import blocks
from playground.realtime.models import RealtimeSession, SessionEvent
from playground.realtime.resume import session_resume_plan
from playground.realtime.runtime import recorder
from playground.realtime.runtime.frames import Frame
from playground.recordings.selectors import recording_frames
from playground.recordings.services import replay_events

RATE = 24000
T0 = 1765000000.123456789  # more digits than a frame's text shows: kept exactly all the same


def _pcm(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    t = np.arange(int(RATE * seconds)) / RATE
    return (5000 * np.sin(2 * np.pi * (180 + 20 * seed) * t) + rng.normal(0, 400, t.size)).astype("<i2").tobytes()


def _b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode()


def _wire(event: dict[str, Any], *, spaced: bool = False) -> str:
    return json.dumps(event) if spaced else json.dumps(event, separators=(",", ":"))


def _old_events(seed: int) -> list[tuple[str, str, str]]:
    """(direction, type, text) of a voice conversation, its audio inline as the old recorder kept it."""
    fmt = {"type": "audio/pcm", "rate": RATE}
    item_pcm = _pcm(0.15, seed + 50)
    user_item = {
        "id": f"item_u{seed}",
        "type": "message",
        "role": "user",
        "content": [{"type": "input_audio", "audio": _b64(item_pcm), "transcript": "what is the weather like"}],
    }
    events: list[tuple[str, dict[str, Any], bool]] = [
        (
            "server",
            {
                "type": "session.created",
                "event_id": "ev0",
                "session": {"audio": {"input": {"format": fmt}, "output": {"format": fmt}}},
            },
            False,
        ),
        ("client", {"type": "session.update", "session": {"instructions": "Be brief."}}, False),
    ]
    for i in range(6):
        events.append(
            (
                "client",
                {"type": "input_audio_buffer.append", "audio": _b64(_pcm(0.1 + i * 0.02, seed * 10 + i))},
                i == 2,
            )
        )
    # Odd bytes: not whole samples, so it can never come back exactly from media: it stays inline.
    events.append(("client", {"type": "input_audio_buffer.append", "audio": _b64(b"\x01" * 99)}, False))
    events.append(("client", {"type": "input_audio_buffer.commit"}, False))
    events.append(("client", {"type": "conversation.item.create", "item": user_item}, False))
    events.append(("server", {"type": "conversation.item.added", "event_id": "ev1", "item": user_item}, False))
    events.append(("client", {"type": "response.create"}, False))
    events.append(("server", {"type": "response.created", "event_id": "ev2", "response": {"id": f"resp{seed}"}}, False))
    for i in range(5):
        delta = {"type": "response.output_audio.delta", "event_id": f"d{i}", "response_id": f"resp{seed}"}
        delta |= {
            "item_id": f"item_a{seed}",
            "output_index": 0,
            "content_index": 0,
            "delta": _b64(_pcm(0.12, seed * 20 + i)),
        }
        events.append(("server", delta, i == 3))
    answer = {"id": f"item_a{seed}", "type": "message", "role": "assistant", "status": "completed"}
    answer["content"] = [{"type": "output_audio", "transcript": "Sunny and warm, all day."}]
    events.append(("server", {"type": "conversation.item.done", "event_id": "ev3", "item": answer}, False))
    events.append(
        (
            "server",
            {
                "type": "response.done",
                "event_id": "ev4",
                "response": {"id": f"resp{seed}", "status": "completed", "output": [answer]},
            },
            False,
        )
    )
    events.append(("playground", {"kind": "upstream_closed", "message": "The upstream closed the connection."}, False))
    return [(d, e.get("type", "notice"), _wire(e, spaced=s)) for d, e, s in events]


def _old_recording(user: Any, *, seed: int = 0, state: str = "interrupted") -> str:
    """A session recorded the old way: every event one row, its base64 inline, refs=0, no blocks."""
    events = _old_events(seed)
    session = RealtimeSession.objects.create(
        owner=user, upstream="emulator", state=state, state_reason="the upstream dropped", last_seq=len(events)
    )
    SessionEvent.objects.bulk_create(
        SessionEvent(session=session, seq=seq, direction=d, ts=T0 + seq * 0.0370001, type=t, data=text)
        for seq, (d, t, text) in enumerate(events, 1)
    )
    return str(session.pk)


def _rows_bytes(sid: str) -> int:
    return migrate.session_db_bytes(session_id=sid)


def _events_stored(sid: str) -> list[tuple[Any, ...]]:
    """Every event as the database holds it now (blocks opened, references left in)."""
    out = []
    for direction, seq, ts, type_, data, refs, packed in (
        SessionEvent.objects.filter(session_id=sid)
        .order_by("seq")
        .values_list("direction", "seq", "ts", "type", "data", "refs", "packed")
    ):
        out += blocks.block_unpack(packed) if direction == blocks.BLOCK else [(seq, direction, ts, type_, data, refs)]
    return out


def _plan_and_reruns(sid: str) -> tuple[str, str]:
    session = RealtimeSession.objects.get(pk=sid)
    plan = dataclasses.asdict(session_resume_plan(session=session))
    assert plan["replayed"] == 2  # the user's audio item (its transcript) and the answer
    # Its events get event ids of their own each time it is made.
    plan["events"] = [{k: v for k, v in json.loads(e).items() if k != "event_id"} for e in plan["events"]]
    rerun = json.dumps(replay_events(original=session, frames=list(recording_frames(session_id=sid))))
    return json.dumps(plan), rerun


async def _fingerprint(api: httpx.AsyncClient, sid: str, share: str) -> dict[str, tuple[int, str]]:
    """What every reader gives of the recording, as (bytes, sha256)."""
    got: dict[str, bytes] = {}
    urls = {
        "events": (f"/api/sessions/{sid}/events", {"limit": 10_000}),
        "events trimmed": (f"/api/sessions/{sid}/events", {"limit": 10_000, "trim": 1}),
        "events paged": (f"/api/sessions/{sid}/events", {"limit": 7, "after": 5}),
        "jsonl": (f"/api/sessions/{sid}/export", {"format": "jsonl"}),
        "markdown": (f"/api/sessions/{sid}/export", {"format": "md"}),
        "wav user": (f"/api/sessions/{sid}/export", {"format": "wav", "side": "user"}),
        "wav assistant": (f"/api/sessions/{sid}/export", {"format": "wav", "side": "assistant"}),
        "shared events": (f"/api/shared/sessions/{share}/events", {"limit": 10_000}),
        "shared jsonl": (f"/api/shared/sessions/{share}/export", {"format": "jsonl"}),
    }
    for name, (url, params) in urls.items():
        res = await api.get(url, params=params)
        assert res.status_code == 200, (name, res.text[:300])
        got[name] = res.content
    plan, rerun = await database_sync_to_async(_plan_and_reruns)(sid)
    got["resume plan"], got["re-run inputs"] = plan.encode(), rerun.encode()
    got["digest"] = "{} {}".format(*await database_sync_to_async(migrate.frames_digest)(session_id=sid)).encode()
    return {name: (len(body), hashlib.sha256(body).hexdigest()) for name, body in got.items()}


async def _share(api: httpx.AsyncClient, sid: str) -> str:
    res = await api.post(f"/api/sessions/{sid}/share")
    assert res.status_code == 200, res.text
    return res.json()["share_url"].rstrip("/").rsplit("/", 1)[-1]


def _command(name: str, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


async def command(name: str, *args: str) -> tuple[str, str]:
    return await database_sync_to_async(_command)(name, *args)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 16 kB, not 1 MiB: a short test recording still spans several files a side."""
    monkeypatch.setattr(migrate, "SEAL_BYTES", 16_000)


async def test_an_old_recording_reads_the_same_after_its_audio_moves(
    api: httpx.AsyncClient, user_and_token: tuple[Any, str], small_chunks: None
) -> None:
    user = user_and_token[0]
    sid = await database_sync_to_async(_old_recording)(user, seed=1)
    other = await database_sync_to_async(_old_recording)(user, seed=2, state="ended")
    live = await database_sync_to_async(_old_recording)(user, seed=3, state="live")
    share = await _share(api, sid)
    before = await _fingerprint(api, sid, share)
    assert before["wav user"][0] > 44 + 6 * 4800
    stored_before = await database_sync_to_async(_events_stored)(sid)
    bytes_before = await database_sync_to_async(_rows_bytes)(sid)
    b64_chars = sum(len(e[4]) for e in stored_before if e[3] != "session.created")

    # A dry run says what would move and writes nothing.
    out, _ = await command("audio_migrate", "--dry-run")
    assert "2 recordings may hold audio to move" in out  # not the live one
    assert f"{sid}: would move 13 events' audio" in out
    assert "Dry run: 2 sessions would move 26 events' audio" in out
    assert await database_sync_to_async(_events_stored)(sid) == stored_before
    assert not await database_sync_to_async(AudioChunk.objects.exists)()

    out, err = await command("audio_migrate")
    assert err == ""
    assert f"{sid}: 13 events" in out and "frames read back identical" in out
    assert "Done: 2 sessions migrated, 26 events" in out and "0 failed" in out

    # Every reader gives the same bytes as before.
    assert await _fingerprint(api, sid, share) == before

    # The rows hold references, not base64 (but for the audio that could not come back exactly), packed.
    rows = await database_sync_to_async(list)(SessionEvent.objects.filter(session_id=sid).values_list("direction"))
    assert rows == [("block",)]
    stored = await database_sync_to_async(_events_stored)(sid)
    assert [e[:4] for e in stored] == [e[:4] for e in stored_before]  # seq, direction, exact ts, type
    assert sum(e[5] for e in stored) == 6 + 2 + 5  # the appends, the item's create and its echo, the deltas
    inline = [e for e in stored if '"audio":"' in e[4] or '"delta":"' in e[4]]
    assert [json.loads(e[4])["audio"] for e in inline] == [_b64(b"\x01" * 99)]
    bytes_after = await database_sync_to_async(_rows_bytes)(sid)
    assert bytes_after < bytes_before - 0.95 * b64_chars, (bytes_before, bytes_after, b64_chars)

    # FLAC files, several a side (16 kB chunks), each named by its chunk row.
    chunks = await database_sync_to_async(list)(AudioChunk.objects.filter(session_id=sid))
    assert {c.side for c in chunks} == {"user", "assistant", "items"}
    assert sum(c.side == "user" for c in chunks) >= 2
    storage = recordings_storage()
    for chunk in chunks:
        with storage.open(chunk.name, "rb") as f:
            assert f.read(4) == b"fLaC"
    assert not await database_sync_to_async(AudioPending.objects.exists)()
    # The side's stream is the WAV export's audio, now served from media too.
    wav = (await api.get(f"/api/sessions/{sid}/export", params={"format": "wav", "side": "user"})).content
    streamed = (await api.get(f"/api/sessions/{sid}/audio/user")).content
    assert streamed[44:] == wav[44:-99]  # all but the odd append kept inline

    # The live one was left to its recorder; a second run moves nothing.
    assert await database_sync_to_async(lambda: SessionEvent.objects.filter(session_id=live).count())() > 1
    out, _ = await command("audio_migrate")
    assert "0 recordings may hold audio to move" in out and "Done: 0 sessions migrated" in out
    out, _ = await command("audio_migrate", "--session", other)
    assert "nothing to move" in out and "Done: 0 sessions migrated" in out
    with pytest.raises(CommandError, match="could not be migrated"):
        await command("audio_migrate", "--session", live)
    with pytest.raises(CommandError, match="No such session"):
        await command("audio_migrate", "--session", str(uuid.uuid4()))


async def test_an_interrupted_migration_leaves_the_recording_as_it_was_and_the_next_run_completes_it(
    api: httpx.AsyncClient, user_and_token: tuple[Any, str], small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = user_and_token[0]
    sid = await database_sync_to_async(_old_recording)(user, seed=4)
    fine = await database_sync_to_async(_old_recording)(user, seed=5)
    share = await _share(api, sid)
    before = await _fingerprint(api, sid, share)
    stored_before = await database_sync_to_async(_events_stored)(sid)
    real_seal = migrate.media_seal
    saved: list[str] = []

    def seal_then_die(*, session_id: Any, side: str) -> Any:
        chunk = real_seal(session_id=session_id, side=side)  # the file saved, its row written
        if str(session_id) == sid:
            saved.append(chunk.name)
            raise OSError("the process died here")
        return chunk

    monkeypatch.setattr(migrate, "media_seal", seal_then_die)
    # As if the process died: nothing cleans up after it.
    monkeypatch.setattr(migrate, "_files_forget", lambda names: None)
    with pytest.raises(CommandError, match=f"could not be migrated.*{sid}"):
        await command("audio_migrate")
    assert saved and recordings_storage().exists(saved[0])  # the file is there; nothing names it

    # Rolled back: rows, audio and every reader exactly as before; the other session was migrated.
    assert await database_sync_to_async(_events_stored)(sid) == stored_before
    assert not await database_sync_to_async(AudioChunk.objects.filter(session_id=sid).exists)()
    assert not await database_sync_to_async(AudioPending.objects.filter(session_id=sid).exists)()
    assert await _fingerprint(api, sid, share) == before
    assert await database_sync_to_async(AudioChunk.objects.filter(session_id=fine).exists)()
    out, _ = await command("audio_orphans", "--min-age", "0")
    assert f"orphan: {saved[0]}" in out

    # The next run completes it, saving the same names over the orphan: no orphan left.
    monkeypatch.setattr(migrate, "media_seal", real_seal)
    out, _ = await command("audio_migrate")
    assert "Done: 1 sessions migrated, 13 events" in out
    assert await _fingerprint(api, sid, share) == before
    assert await database_sync_to_async(AudioChunk.objects.filter(name=saved[0]).exists)()
    out, _ = await command("audio_orphans", "--min-age", "0")
    assert "0 orphan files" in out and "0 missing files" in out


async def test_a_failed_check_rolls_back_and_deletes_the_files_it_saved(
    api: httpx.AsyncClient, user_and_token: tuple[Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sid = await database_sync_to_async(_old_recording)(user_and_token[0], seed=6)
    stored_before = await database_sync_to_async(_events_stored)(sid)
    real = migrate.frames_digest
    calls = []

    def digest_that_changes(*, session_id: Any) -> tuple[int, str]:
        calls.append(session_id)
        count, digest = real(session_id=session_id)
        return (count, digest) if len(calls) == 1 else (count, "0" * 64)

    monkeypatch.setattr(migrate, "frames_digest", digest_that_changes)
    with pytest.raises(CommandError, match="could not be migrated"):
        await command("audio_migrate")
    assert await database_sync_to_async(_events_stored)(sid) == stored_before
    assert not await database_sync_to_async(AudioChunk.objects.exists)()
    storage = recordings_storage()
    assert not storage.exists(sid) or not list(migrate._walk(storage, sid))  # its files deleted


def _half_migrated(user: Any) -> str:
    """A session recorded across the upgrade by a worker that then died: old rows with inline audio, then
    the new recorder's rows (references, open chunks pending), all packed into one block at 1,000 rows; its
    open chunks never sealed."""
    sid = _old_recording(user, seed=7)
    session = RealtimeSession.objects.get(pk=sid)
    seq = session.last_seq
    frames = []
    for i in range(4):
        seq += 1
        text = _wire({"type": "input_audio_buffer.append", "audio": _b64(_pcm(0.1, 700 + i))})
        frames.append(
            (sid, Frame(seq=seq, direction="client", ts=T0 + seq, type="input_audio_buffer.append", data=text))
        )
    recorder.events_record(batch=frames)
    recorder._media.forget(sid)
    blocks.events_compact(session_id=sid)
    RealtimeSession.objects.filter(pk=sid).update(last_seq=seq)
    return sid


async def test_a_block_with_inline_audio_and_a_dead_workers_open_chunks(
    api: httpx.AsyncClient, user_and_token: tuple[Any, str]
) -> None:
    sid = await database_sync_to_async(_half_migrated)(user_and_token[0])
    share = await _share(api, sid)
    assert await database_sync_to_async(AudioPending.objects.filter(session_id=sid).exists)()
    assert await database_sync_to_async(migrate.migration_candidates)() == [sid]
    before = await _fingerprint(api, sid, share)

    out, _ = await command("audio_migrate")
    assert "left open by a worker" in out and "Done: 1 sessions migrated, 13 events" in out
    assert await _fingerprint(api, sid, share) == before
    assert not await database_sync_to_async(AudioPending.objects.exists)()
    stored = await database_sync_to_async(_events_stored)(sid)
    refs = [json.loads(e[4])["audio"] for e in stored if e[3] == "input_audio_buffer.append" and e[5]]
    # The new recorder's audio came first in the stream (offset 0); the old audio continues after it.
    new = [r for r in refs if r["offset"] < 4 * 4800]
    assert [r["offset"] for r in new] == [0, 4800, 9600, 14400]
    assert min(r["offset"] for r in refs if r not in new) == 4 * 4800
    assert await database_sync_to_async(migrate.migration_candidates)() == []


async def test_orphans_and_missing_files(api: httpx.AsyncClient, user_and_token: tuple[Any, str]) -> None:
    sid = await database_sync_to_async(_old_recording)(user_and_token[0], seed=8)
    await command("audio_migrate")
    storage = recordings_storage()
    chunks = await database_sync_to_async(list)(AudioChunk.objects.filter(session_id=sid).order_by("side"))
    planted = [f"{sid}/user/999999999999.flac", f"{uuid.uuid4()}/assistant/000000000000.flac", "stray.bin"]
    for name in planted:
        storage.save(name, ContentFile(b"fLaC not really"))
    gone = chunks[0]
    storage.delete(gone.name)

    # Fresh files are not judged (a recorder may not have committed their rows yet), even with --delete.
    with pytest.raises(CommandError, match="1 audio chunk"):
        await command("audio_orphans", "--delete")
    assert all(storage.exists(name) for name in planted)

    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError):
        await database_sync_to_async(call_command)("audio_orphans", "--min-age", "0", stdout=out, stderr=err)
    for name in planted:
        assert f"orphan: {name}\n" in out.getvalue()
    assert f"MISSING: {gone.name} (session {sid})" in err.getvalue()
    assert "3 orphan files" in out.getvalue() and "kept (--delete removes them)" in out.getvalue()
    assert all(storage.exists(name) for name in planted)

    with pytest.raises(CommandError):
        await command("audio_orphans", "--min-age", "0", "--delete")
    assert not any(storage.exists(name) for name in planted)
    assert await database_sync_to_async(AudioChunk.objects.filter(pk=gone.pk).exists)()  # rows are never deleted
    assert all(storage.exists(c.name) for c in chunks[1:])

    # Back to health: the file restored, nothing to report.
    await database_sync_to_async(_restore)(gone)
    out, err = await command("audio_orphans", "--min-age", "0")
    assert "0 orphan files" in out and "0 missing files" in out and err == ""


def _restore(chunk: AudioChunk) -> None:
    """What restoring a backup of the storage does: the file is back (its content is not judged here)."""
    recordings_storage().save(chunk.name, ContentFile(flac_encode(b"\x00\x00" * (chunk.length // 2))))


def _old_then_packed(user: Any) -> str:
    """An old recording whose rows the new code packed as they were (resumed after the upgrade, say): a
    block full of inline audio, no loose row, nothing pending."""
    sid = _old_recording(user, seed=9)
    blocks.events_compact(session_id=sid)
    return sid


async def test_blocks_holding_inline_audio_are_found_and_migrated(
    api: httpx.AsyncClient, user_and_token: tuple[Any, str]
) -> None:
    sid = await database_sync_to_async(_old_then_packed)(user_and_token[0])
    share = await _share(api, sid)
    assert await database_sync_to_async(migrate.migration_candidates)() == [sid]
    before = await _fingerprint(api, sid, share)
    out, _ = await command("audio_migrate")
    assert "Done: 1 sessions migrated, 13 events" in out
    assert await _fingerprint(api, sid, share) == before
    assert await database_sync_to_async(migrate.migration_candidates)() == []


async def test_a_session_the_new_recorder_made_has_nothing_to_move(api: httpx.AsyncClient, watch: Any) -> None:
    from tests.test_media import _speech, _voice_session

    sid, _ = await _voice_session(api, watch, [_speech(0.1, seed) for seed in range(3)])
    assert await database_sync_to_async(migrate.migration_candidates)() == []
    stored = await database_sync_to_async(_events_stored)(sid)
    out, _ = await command("audio_migrate", "--session", sid)
    assert "nothing to move" in out and "Done: 0 sessions migrated" in out
    assert await database_sync_to_async(_events_stored)(sid) == stored
