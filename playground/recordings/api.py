"""Recordings: exports (JSONL of frames, a Markdown transcript, WAV per side), re-runs and comparisons."""

from typing import Any, Literal

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Field, Query, Router, Schema, Status

from playground.accounts.auth import api_auth
from playground.db import db
from playground.realtime import selectors as realtime_selectors
from playground.realtime.models import RealtimeSession
from playground.realtime.schemas import SessionOut, session_out
from playground.schemas import ErrorOut

from . import audio, selectors, services

router = Router(auth=api_auth, tags=["recordings"])


async def _session(request: HttpRequest, session_id: str) -> RealtimeSession:
    """A session the caller may see (a recording, live or not), or 404."""
    user = request.auth  # type: ignore[attr-defined]
    return await db(realtime_selectors.session_get_or_404, user=user, session_id=session_id)


ExportFormat = Literal["jsonl", "md", "wav"]
Side = Literal["user", "assistant"]


@router.get("/sessions/{session_id}/export", response={200: None, 404: ErrorOut, 422: ErrorOut})
async def recording_export(
    request: HttpRequest, session_id: str, format: ExportFormat = "jsonl", side: Side = "assistant"
) -> HttpResponse:
    """Download the recording: `jsonl` (one frame per line, audio whole), `md` (a transcript), or `wav`
    (PCM16 mono at the session's own rate; `side=user` for the microphone, `assistant` for the answers)."""
    return await _export(await _session(request, session_id), format, side)


@router.get("/shared/sessions/{token}/export", response={200: None, 404: ErrorOut, 422: ErrorOut}, auth=None)
async def shared_recording_export(
    request: HttpRequest, token: str, format: ExportFormat = "jsonl", side: Side = "assistant"
) -> HttpResponse:
    """The export of a recording shared by link, as `GET /api/sessions/{id}/export`."""
    return await _export(await db(realtime_selectors.session_shared_or_404, token=token), format, side)


async def _export(session: RealtimeSession, format: str, side: str) -> HttpResponse:
    name = f"session-{session.id}"
    if format == "jsonl":
        lines = await db(lambda: list(selectors.recording_jsonl(session_id=session.id)))
        response: HttpResponse = HttpResponse("".join(lines), content_type="application/x-ndjson")
        filename = f"{name}.jsonl"
    elif format == "md":
        text = await db(selectors.recording_markdown, session=session)
        response = HttpResponse(text, content_type="text/markdown; charset=utf-8")
        filename = f"{name}.md"
    else:
        data = await db(selectors.recording_wav, session_id=session.id, side=side)
        response = HttpResponse(data, content_type="audio/wav")
        filename = f"{name}-{side}.wav"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


AudioSide = Literal["user", "assistant", "items"]
_AUDIO_RESPONSES: dict[int, Any] = {200: None, 206: None, 404: ErrorOut, 416: ErrorOut, 422: ErrorOut, 500: ErrorOut}


@router.get("/sessions/{session_id}/audio/{side}", response=_AUDIO_RESPONSES)
async def recording_audio(request: HttpRequest, session_id: str, side: AudioSide) -> HttpResponseBase:
    """One side of the recording as a WAV file (PCM16 mono at the session's rate), whole or by `Range`:
    the audio a reference `{"$audio": side, "offset": n, "length": n}` stands for starts at byte 44 + n.
    `user` is the microphone, `assistant` the answers, `items` audio sent in conversation items."""
    return await _audio(request, await _session(request, session_id), side)


@router.get("/shared/sessions/{token}/audio/{side}", response=_AUDIO_RESPONSES, auth=None)
async def shared_recording_audio(request: HttpRequest, token: str, side: AudioSide) -> HttpResponseBase:
    """One side of a recording shared by link, as `GET /api/sessions/{id}/audio/{side}`."""
    return await _audio(request, await db(realtime_selectors.session_shared_or_404, token=token), side)


async def _audio(request: HttpRequest, session: RealtimeSession, side: str) -> HttpResponseBase:
    whole = await db(audio.side_audio, session_id=session.id, side=side)
    wanted = audio.byte_range(request.headers.get("Range"), whole.size)
    start, end = wanted or (0, whole.size - 1)
    if wanted is not None and end - start < audio.PIECE:  # the replay page's case: small, sent at once
        pieces = [piece async for piece in audio.side_bytes(whole, start, end)]
        response: HttpResponseBase = HttpResponse(b"".join(pieces), content_type="audio/wav", status=206)
    else:
        response = StreamingHttpResponse(
            audio.side_bytes(whole, start, end), content_type="audio/wav", status=206 if wanted else 200
        )
    if wanted is not None:
        response["Content-Range"] = f"bytes {start}-{end}/{whole.size}"
    response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = f'inline; filename="session-{session.id}-{side}.wav"'
    return response


class PeaksQuery(Schema):
    every: int = Field(
        4410,
        ge=441,
        le=441_000,
        description="Samples per peak: 4410 is 100 ms at 44.1 kHz (441 is 10 ms, 441000 ten seconds).",
    )


class AudioPeaksOut(Schema):
    every: int = Field(description="Samples per peak, as asked.")
    peaks: list[int] = Field(
        description="The loudest sample (absolute, 0..32767) of each `every` samples of the side's stream, in "
        "order: peak k covers bytes [2·k·every, 2·(k+1)·every) of the stream (the last one may be shorter)."
    )


_PEAKS_RESPONSES: dict[int, Any] = {200: AudioPeaksOut, 404: ErrorOut, 422: ErrorOut, 500: ErrorOut}


@router.get("/sessions/{session_id}/audio/{side}/peaks", response=_PEAKS_RESPONSES)
async def recording_audio_peaks(
    request: HttpRequest, session_id: str, side: AudioSide, query: Query[PeaksQuery]
) -> AudioPeaksOut:
    """Peaks of one side's whole stream, computed on the server from the media: the replay page's
    waveform without downloading the audio. Map them to time with the events' references
    (`GET /api/sessions/{id}/events?audio=ref`): a reference's offset n is sample n / 2."""
    return await _peaks(await _session(request, session_id), side, query.every)


@router.get("/shared/sessions/{token}/audio/{side}/peaks", response=_PEAKS_RESPONSES, auth=None)
async def shared_recording_audio_peaks(
    request: HttpRequest, token: str, side: AudioSide, query: Query[PeaksQuery]
) -> AudioPeaksOut:
    """Peaks of one side of a recording shared by link, as `GET /api/sessions/{id}/audio/{side}/peaks`."""
    return await _peaks(await db(realtime_selectors.session_shared_or_404, token=token), side, query.every)


async def _peaks(session: RealtimeSession, side: str, every: int) -> AudioPeaksOut:
    peaks = await db(audio.side_peaks, session_id=session.id, side=side, every=every)
    return AudioPeaksOut(every=every, peaks=peaks)


class RerunIn(Schema):
    upstream: Literal["yandex", "emulator"] | None = Field(None, description="Default: the original's upstream.")


@router.post(
    "/sessions/{session_id}/rerun",
    response={201: SessionOut, 404: ErrorOut, 422: ErrorOut, 429: ErrorOut, 502: ErrorOut},
)
async def recording_rerun(request: HttpRequest, session_id: str, payload: RerunIn | None = None) -> Status[SessionOut]:
    """Re-run a recording: a new live session with the original's upstream and initial config, where the
    original's client events are sent again in order (fresh event ids), each `response.create` only once the
    previous response is done. Answers the new session at once; the turns follow in the background.
    Compare the two with `GET /api/sessions/{id}/compare/{other_id}`."""
    user = request.auth  # type: ignore[attr-defined]
    original = await _session(request, session_id)
    rerun = await services.recording_rerun(user=user, session=original, upstream=payload.upstream if payload else None)
    # Read back as the API reads any session (its related rows loaded), and built off the event loop.
    fresh = await db(realtime_selectors.session_get, user=user, session_id=rerun.id)
    return Status(201, await db(session_out, request, fresh or rerun))


@router.get("/sessions/{session_id}/compare/{other_id}", response={200: dict[str, Any], 404: ErrorOut})
async def recording_compare(request: HttpRequest, session_id: str, other_id: str) -> dict[str, Any]:
    """Two sessions side by side, turn by turn (say a recording and its re-run): each response's answer,
    latencies from `response.create` to the first delta and to `response.done` (ms, from the frames'
    timestamps), token usage, a unified and a word diff of the answers per turn, and totals."""
    left = await _session(request, session_id)
    right = await _session(request, other_id)
    return await db(selectors.recording_compare, left=left, right=right)
