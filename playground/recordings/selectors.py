"""Reads that turn a session's recording into files: JSONL of frames, a Markdown transcript, WAV audio."""

from __future__ import annotations

import base64
import difflib
import io
import json
import re
import wave
from collections.abc import Iterator
from typing import Any

from playground.media.source import AudioSource
from playground.realtime.models import RealtimeSession
from playground.realtime.reading import Audio, frames_read
from playground.realtime.runtime.frames import Frame

DEFAULT_RATE = 44100  # Yandex's rate, and the emulator's default
_SESSION_TYPES = ("session.created", "session.updated")


def recording_frames(*, session_id: Any, audio: Audio = "inline") -> Iterator[Frame]:
    """Every recorded frame in seq order, read in chunks (a recording can be large); with `audio="ref"`,
    audio stays a reference into the media (for readers that never look at it)."""
    return frames_read(session_id=session_id, audio=audio)


def recording_jsonl(*, session_id: Any) -> Iterator[str]:
    """One frame per line, exactly as the API and the WebSocket show them."""
    for frame in recording_frames(session_id=session_id):
        yield frame.text + "\n"


def side_rate(*, session_id: Any, side: str) -> int:
    """The rate of the user's (input) or the assistant's (output) audio, from the last session.created/updated:
    never assume 24 kHz."""
    part = "input" if side == "user" else "output"
    rate = DEFAULT_RATE
    for frame in frames_read(session_id=session_id, audio="ref", direction="server", types=_SESSION_TYPES):
        audio = (json.loads(frame.data).get("session") or {}).get("audio") or {}
        rate = ((audio.get(part) or {}).get("format") or {}).get("rate") or rate
    return int(rate)


def recording_wav(*, session_id: Any, side: str) -> bytes:
    """The user's side (their input_audio_buffer.append audio) or the assistant's (output audio deltas)."""
    direction, type_, field = ("client", "input_audio_buffer.append", "audio")
    if side != "user":
        direction, type_, field = ("server", "response.output_audio.delta", "delta")
    source = AudioSource(session_id)
    pcm = bytearray()
    for frame in frames_read(session_id=session_id, audio="ref", types=(type_,), direction=direction):
        value = json.loads(frame.data).get(field)
        if isinstance(value, str):  # inline (a recording from before media, or audio kept inline)
            pcm += base64.b64decode(value)
        elif isinstance(value, dict) and "$audio" in value:
            pcm += source.read(value["$audio"], int(value["offset"]), int(value["length"]))
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(side_rate(session_id=session_id, side=side))
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
    for frame in recording_frames(session_id=session.id, audio="ref"):
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


# --- compare: two sessions' turns side by side (a recording and its re-run) ------------------------------------

# Deltas that start an answer: the first one of a response is its "first delta" latency.
_ANSWER_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.function_call_arguments.delta",
        "response.text.delta",
        "response.audio_transcript.delta",
        "response.audio.delta",
    }
)
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.output_audio_transcript.delta",
        "response.text.delta",
        "response.audio_transcript.delta",
    }
)


def _user_text(item: dict[str, Any]) -> str:
    parts = item.get("content") or []
    return " ".join(str(p.get("text") or p.get("transcript") or "") for p in parts if isinstance(p, dict)).strip()


def _output_text(output: list[Any]) -> str | None:
    """A response's answer from its response.done output: message text or audio transcript, function calls."""
    texts: list[str] = []
    for item in output:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict):
                    text = part.get("text") if part.get("text") is not None else part.get("transcript")
                    if text:
                        texts.append(str(text))
        elif item.get("type") == "function_call":
            texts.append(f"{item.get('name')}({item.get('arguments') or ''})")
    return "\n".join(texts) if texts else None


def _ms(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) * 1000, 1)


def session_turns(*, session_id: Any) -> tuple[list[dict[str, Any]], str | None]:
    """Each response of a session as a turn: what the user said before it, the answer, latencies, usage.

    Latencies run from our response.create (or, for a response the server started by itself, from its
    response.created) to the first answer delta and to response.done, from the frames' timestamps.
    Also answers the reason the session ended, if it did."""
    turns: list[dict[str, Any]] = []
    by_id: dict[str, dict[str, Any]] = {}
    pending_creates: list[float] = []
    user_said: list[str] = []
    current: dict[str, Any] | None = None
    ended: str | None = None
    for frame in recording_frames(session_id=session_id, audio="ref"):
        if frame.direction == "playground":
            ended = json.loads(frame.data).get("message") or frame.type
            continue
        if frame.direction == "client":
            if frame.type == "response.create":
                pending_creates.append(frame.ts)
            elif frame.type == "conversation.item.create":
                item = json.loads(frame.data).get("item") or {}
                if item.get("type") == "message" and item.get("role") == "user":
                    user_said.append(_user_text(item))
                elif item.get("type") == "function_call_output":
                    user_said.append(f"(tool output) {item.get('output', '')}")
            continue
        kind = frame.type
        if kind == "conversation.item.done":
            item = json.loads(frame.data).get("item") or {}
            if item.get("role") == "user" and any(
                isinstance(p, dict) and p.get("type") == "input_audio" for p in item.get("content") or []
            ):
                spoken = _user_text(item)
                user_said.append(f"(voice) {spoken}" if spoken else "(voice)")
            continue
        if kind == "response.created":
            response = json.loads(frame.data).get("response") or {}
            asked_at = pending_creates.pop(0) if pending_creates else frame.ts
            current = {
                "index": len(turns) + 1,
                "response_id": response.get("id") or "",
                "user": "\n".join(t for t in user_said if t),
                "answer": "",
                "status": "in_progress",
                "requested_ts": asked_at,
                "first_delta_ts": None,
                "done_ts": None,
                "first_delta_ms": None,
                "done_ms": None,
                "usage": None,
                "_deltas": [],
            }
            user_said = []
            turns.append(current)
            by_id[current["response_id"]] = current
            continue
        if kind in _ANSWER_DELTAS:
            event = json.loads(frame.data)
            turn = by_id.get(event.get("response_id") or "", current)
            if turn is None:
                continue
            if turn["first_delta_ts"] is None:
                turn["first_delta_ts"] = frame.ts
                turn["first_delta_ms"] = _ms(turn["requested_ts"], frame.ts)
            if kind in _TEXT_DELTAS:
                turn["_deltas"].append(str(event.get("delta") or ""))
            continue
        if kind == "response.done":
            response = json.loads(frame.data).get("response") or {}
            turn = by_id.get(response.get("id") or "", current)
            if turn is None:
                continue
            turn["status"] = response.get("status") or "completed"
            turn["done_ts"] = frame.ts
            turn["done_ms"] = _ms(turn["requested_ts"], frame.ts)
            final = _output_text(response.get("output") or [])
            turn["answer"] = final if final is not None else "".join(turn["_deltas"])
            usage = response.get("usage") or {}
            if usage:
                turn["usage"] = {
                    "input_tokens": int(usage.get("input_tokens") or 0),
                    "output_tokens": int(usage.get("output_tokens") or 0),
                    "total_tokens": int(
                        usage.get("total_tokens")
                        or (usage.get("input_tokens") or 0) + (usage.get("output_tokens") or 0)
                    ),
                }
            if current is turn:
                current = None
    for turn in turns:
        deltas = turn.pop("_deltas")
        if turn["done_ts"] is None:  # still streaming (or the session ended mid-answer)
            turn["answer"] = "".join(deltas)
    return turns, ended


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _side_totals(turns: list[dict[str, Any]]) -> dict[str, Any]:
    first = [t["first_delta_ms"] for t in turns if t["first_delta_ms"] is not None]
    done = [t["done_ms"] for t in turns if t["done_ms"] is not None]
    usages = [t["usage"] for t in turns if t["usage"]]
    return {
        "turns": len(turns),
        "completed": sum(1 for t in turns if t["done_ts"] is not None),
        "first_delta_ms_mean": _mean(first),
        "done_ms_mean": _mean(done),
        "done_ms_sum": round(sum(done), 1) if done else None,
        "input_tokens": sum(u["input_tokens"] for u in usages),
        "output_tokens": sum(u["output_tokens"] for u in usages),
        "total_tokens": sum(u["total_tokens"] for u in usages),
    }


def _word_diff(left: str, right: str) -> list[dict[str, str]]:
    """Word-level opcodes (spaces kept with their words), for highlighting."""
    a, b = re.findall(r"\S+\s*", left), re.findall(r"\S+\s*", right)
    ops = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        ops.append({"op": tag, "left": "".join(a[i1:i2]), "right": "".join(b[j1:j2])})
    return ops


def _side(session: RealtimeSession) -> dict[str, Any]:
    turns, ended = session_turns(session_id=session.id)
    return {
        "id": str(session.id),
        "upstream": session.upstream,
        "state": session.state,
        "state_reason": session.state_reason or ended or "",
        "created_at": session.created_at.isoformat(),
        "live": session.state in ("live", "connecting"),
        "turns": turns,
        "totals": _side_totals(turns),
    }


def recording_compare(*, left: RealtimeSession, right: RealtimeSession) -> dict[str, Any]:
    """Two sessions turn by turn: answers, latencies, usage, and a diff of the answers per turn."""
    sides = {"left": _side(left), "right": _side(right)}
    lt, rt = sides["left"]["turns"], sides["right"]["turns"]
    diffs = []
    for index in range(max(len(lt), len(rt))):
        a = lt[index]["answer"] if index < len(lt) else ""
        b = rt[index]["answer"] if index < len(rt) else ""
        unified = "\n".join(
            difflib.unified_diff(
                a.splitlines(),
                b.splitlines(),
                fromfile=f"left turn {index + 1}",
                tofile=f"right turn {index + 1}",
                lineterm="",
            )
        )
        diffs.append(
            {
                "turn": index + 1,
                "same": a == b and index < len(lt) and index < len(rt),
                "unified": unified,
                "words": _word_diff(a, b),
            }
        )
    ltot, rtot = sides["left"]["totals"], sides["right"]["totals"]

    def delta(key: str) -> float | None:
        if ltot[key] is None or rtot[key] is None:
            return None
        return round(rtot[key] - ltot[key], 1)

    totals = {
        "turns": {"left": len(lt), "right": len(rt)},
        "same_answers": sum(1 for d in diffs if d["same"]),
        "different_answers": sum(1 for d in diffs if not d["same"]),
        # right minus left: negative means the right session was faster / used fewer tokens
        "delta": {
            key: delta(key)
            for key in ("first_delta_ms_mean", "done_ms_mean", "input_tokens", "output_tokens", "total_tokens")
        },
    }
    return {**sides, "diffs": diffs, "totals": totals}
