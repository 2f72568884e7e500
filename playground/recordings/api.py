"""Exports of a session's recording: JSONL of frames, a Markdown transcript, WAV per side."""

from typing import Literal

from django.http import HttpRequest, HttpResponse
from ninja import Router

from playground.accounts.auth import api_auth
from playground.db import db
from playground.realtime.api import session_for_request

from . import selectors

router = Router(auth=api_auth, tags=["recordings"])


@router.get("/sessions/{session_id}/export", response={200: None, 404: dict})
async def recording_export(
    request: HttpRequest,
    session_id: str,
    format: Literal["jsonl", "md", "wav"] = "jsonl",
    side: Literal["user", "assistant"] = "assistant",
) -> HttpResponse:
    """Download the recording: `jsonl` (one frame per line, audio whole), `md` (a transcript), or `wav`
    (PCM16 mono at the session's own rate; `side=user` for the microphone, `assistant` for the answers)."""
    session = await session_for_request(request, session_id)
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
