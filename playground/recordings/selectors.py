"""Reads that turn a session's recording into files: JSONL of frames, a Markdown transcript, WAV audio."""

from __future__ import annotations

import base64
import io
import json
import wave
from collections.abc import Iterator
from typing import Any

from playground.realtime.frames import Frame
from playground.realtime.models import RealtimeSession, SessionEvent

DEFAULT_RATE = 44100  # Yandex's rate, and the emulator's default


def recording_frames(*, session_id: Any) -> Iterator[Frame]:
    """Every recorded frame in seq order, read in chunks (a recording can be large)."""
    rows = (
        SessionEvent.objects.filter(session_id=session_id)
        .order_by("seq")
        .values_list("seq", "direction", "ts", "type", "data")
        .iterator(chunk_size=500)
    )
    for seq, direction, ts, type_, data in rows:
        yield Frame(seq=seq, direction=direction, ts=ts, type=type_, data=data)


def recording_jsonl(*, session_id: Any) -> Iterator[str]:
    """One frame per line, exactly as the API and the WebSocket show them."""
    for frame in recording_frames(session_id=session_id):
        yield frame.text + "\n"


def _session_rates(frames: list[Frame]) -> tuple[int, int]:
    """(input rate, output rate) from the last session.created/updated: never assume 24 kHz."""
    rate_in = rate_out = DEFAULT_RATE
    for frame in frames:
        if frame.direction == "server" and frame.type in ("session.created", "session.updated"):
            audio = (json.loads(frame.data).get("session") or {}).get("audio") or {}
            rate_in = ((audio.get("input") or {}).get("format") or {}).get("rate") or rate_in
            rate_out = ((audio.get("output") or {}).get("format") or {}).get("rate") or rate_out
    return int(rate_in), int(rate_out)


def recording_wav(*, session_id: Any, side: str) -> bytes:
    """The user's side (their input_audio_buffer.append audio) or the assistant's (output audio deltas)."""
    frames = list(recording_frames(session_id=session_id))
    rate_in, rate_out = _session_rates(frames)
    pcm = bytearray()
    for frame in frames:
        if side == "user" and frame.direction == "client" and frame.type == "input_audio_buffer.append":
            pcm += base64.b64decode(json.loads(frame.data)["audio"])
        elif side == "assistant" and frame.direction == "server" and frame.type == "response.output_audio.delta":
            pcm += base64.b64decode(json.loads(frame.data)["delta"])
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate_in if side == "user" else rate_out)
        wav.writeframes(bytes(pcm))
    return out.getvalue()


def recording_markdown(*, session: RealtimeSession) -> str:
    """Who said what: user text and voice transcripts, assistant answers, function calls and outputs."""
    lines = [
        f"# Session {session.id}",
        "",
        f"- upstream: {session.upstream}",
        f"- started: {session.created_at:%Y-%m-%d %H:%M:%S} UTC",
        f"- state: {session.state}" + (f" ({session.state_reason})" if session.state_reason else ""),
        "",
    ]
    answer: dict[str, str] = {}  # item_id -> text so far, in order of first delta
    for frame in recording_frames(session_id=session.id):
        if frame.direction == "playground":
            lines += [f"> {json.loads(frame.data).get('message', '')}", ""]
            continue
        event = json.loads(frame.data)
        kind = event.get("type")
        if frame.direction == "client" and kind == "conversation.item.create":
            item = event.get("item") or {}
            if item.get("type") == "message" and item.get("role") == "user":
                text = " ".join(p.get("text") or p.get("transcript") or "" for p in item.get("content", []))
                lines += [f"**You:** {text.strip()}", ""]
            elif item.get("type") == "function_call_output":
                lines += [f"**Tool output** (`{item.get('call_id')}`): {item.get('output')}", ""]
        elif kind in ("response.output_text.delta", "response.output_audio_transcript.delta"):
            answer[event.get("item_id", "")] = answer.get(event.get("item_id", ""), "") + event.get("delta", "")
        elif kind == "response.function_call_arguments.done":
            lines += [f"**Function call** `{event.get('name')}({event.get('arguments')})`", ""]
        elif kind == "conversation.item.done" and (event.get("item") or {}).get("role") == "user":
            content = (event.get("item") or {}).get("content") or []
            spoken = " ".join(p.get("transcript") or "" for p in content if p.get("type") == "input_audio")
            if spoken.strip():
                lines += [f"**You (voice):** {spoken.strip()}", ""]
        elif kind == "response.done":
            status = (event.get("response") or {}).get("status")
            for text in answer.values():
                lines += [f"**Assistant:** {text.strip()}" + (f" _({status})_" if status != "completed" else ""), ""]
            answer.clear()
        elif kind == "error":
            lines += [f"> upstream error: {(event.get('error') or {}).get('message')}", ""]
    return "\n".join(lines).rstrip() + "\n"
