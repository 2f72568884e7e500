"""Resume planning: what a resumed session's new upstream connection is sent, from the recording.

A new upstream connection starts empty. Resuming (services.session_resume) sends it the latest
settings as `session.update` (the initial config deep-merged with every later `session.update` the
upstream did not refuse), then one `conversation.item.create` per item of the conversation as the
recording last saw it: rebuilt from `conversation.item.*` and `response.output_item.done` since the
last `session.created`, deleted items removed, user audio as its transcript, truncated assistant
audio as the part of its transcript heard (estimated from `audio_end_ms`), keeping the items' ids.
What cannot be put back is said in the plan's notes, which the `resumed` notice repeats.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import models

from playground.errors import PlaygroundError
from playground.usage.audio import audio_bytes

from .events import ClientEventError, compact_json, event_to_wire, parse_client_event
from .models import RealtimeSession, SessionEvent, SessionState
from .reading import frames_read
from .runtime.frames import Frame

RESUMED_KIND = "resumed"
# What the recording must hold to rebuild the upstream's state: the server's view of the conversation
# (since its last `session.created`: a new connection starts empty) and the client's settings.
_CONVERSATION_EVENTS = (
    "session.created",
    "error",
    "conversation.item.added",
    "conversation.item.created",
    "conversation.item.done",
    "conversation.item.retrieved",
    "conversation.item.deleted",
    "conversation.item.truncated",
    "conversation.item.input_audio_transcription.completed",
    "response.output_item.done",
)
_ITEM_EVENTS = frozenset(
    {"conversation.item.added", "conversation.item.created", "conversation.item.done", "conversation.item.retrieved"}
)
# How an upstream says a session reached its time limit: OpenAI's (and the emulator's) error code, and
# words in the close reason.
_TIME_LIMIT_CODES = frozenset({"session_expired"})
_TIME_LIMIT_WORDS = ("expire", "time limit", "maximum duration")


@dataclass
class ResumePlan:
    """What a resumed session's new upstream connection is sent, from the recording."""

    last_seq: int
    events: list[str]
    replayed: int
    notes: list[str]


def _deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _ended_at_time_limit(session: RealtimeSession, frames: list[Frame]) -> bool:
    """The upstream (not the user, not a failure) ended the session because its time was up."""
    notices = list(frames_read(session_id=session.id, direction="playground", audio="ref"))
    if not notices or json.loads(notices[-1].data).get("kind") != "upstream_closed":
        return False
    if any(word in session.state_reason.lower() for word in _TIME_LIMIT_WORDS):
        return True
    for frame in reversed(frames):
        error = json.loads(frame.data).get("error") if frame.type == "error" else None
        if frame.direction == "server" and isinstance(error, dict) and error.get("code") in _TIME_LIMIT_CODES:
            return True
        if frame.type == "session.created":
            break
    return False


def _resumable_check(session: RealtimeSession, frames: list[Frame]) -> None:
    if session.state == SessionState.INTERRUPTED:
        return
    if session.state == SessionState.ENDED and _ended_at_time_limit(session, frames):
        return
    why = {
        SessionState.LIVE: "it is live: there is nothing to resume",
        SessionState.CONNECTING: "it is still connecting (or being resumed)",
        SessionState.FAILED: "it never connected: open a new session instead",
    }.get(
        SessionState(session.state),
        f"it ended ({session.state_reason or 'closed'}); only an interrupted session, or one the upstream "
        "ended at its time limit, can be resumed",
    )
    raise PlaygroundError(f"Session {session.id} cannot be resumed: {why}.", status=409)


def _config_latest(session: RealtimeSession, frames: list[Frame]) -> dict[str, Any]:
    """The initial config merged with every later session.update the upstream did not refuse."""
    refused = set()
    for frame in frames:
        if frame.direction == "server" and frame.type == "error":
            event_id = (json.loads(frame.data).get("error") or {}).get("event_id")
            if event_id:
                refused.add(event_id)
    config = dict(session.config or {})
    for frame in frames:
        if frame.direction == "client" and frame.type == "session.update":
            event = json.loads(frame.data)
            if event.get("event_id") not in refused and isinstance(event.get("session"), dict):
                config = _deep_merge(config, event["session"])
    return config


def _conversation(frames: list[Frame]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The upstream's conversation as the recording last saw it: items in order, and
    `{item_id: audio_end_ms}` of truncated assistant audio."""
    items: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    truncated: dict[str, int] = {}
    announced = False  # whether the upstream reports its output items with conversation.item.added
    for frame in frames:
        if frame.direction != "server":
            continue
        event = json.loads(frame.data)
        kind = frame.type
        if kind == "session.created":  # a new connection: its conversation starts empty
            items, order, truncated, announced = {}, [], {}, False
        elif kind in _ITEM_EVENTS or kind == "response.output_item.done":
            item = event.get("item")
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            item_id = item["id"]
            if kind == "conversation.item.added":
                announced = True
            if item_id not in items:
                if kind == "conversation.item.retrieved" or (kind == "response.output_item.done" and announced):
                    continue  # not (or no longer) in the conversation: an out-of-band response's output
                previous = event.get("previous_item_id")
                if "previous_item_id" in event and previous is None:
                    order.insert(0, item_id)
                elif previous in order:
                    order.insert(order.index(previous) + 1, item_id)
                else:
                    order.append(item_id)
            elif kind == "conversation.item.retrieved":
                truncated.pop(item_id, None)  # the server's own copy says what is left
            items[item_id] = item
        elif kind == "conversation.item.deleted":
            item_id = event.get("item_id")
            if item_id in items:
                del items[item_id]
                order.remove(item_id)
        elif kind == "conversation.item.truncated":
            if event.get("item_id") in items and isinstance(event.get("audio_end_ms"), int):
                truncated[event["item_id"]] = event["audio_end_ms"]
        elif kind == "conversation.item.input_audio_transcription.completed":
            item = items.get(event.get("item_id", ""))
            index = event.get("content_index", 0)
            if item is not None and isinstance(index, int) and 0 <= index < len(item.get("content") or []):
                item["content"][index] = {**item["content"][index], "transcript": event.get("transcript") or ""}
    return [items[i] for i in order], truncated


def _audio_ms(session_id: Any, item_ids: set[str], rate: int) -> dict[str, float]:
    """How much assistant audio each item had, from its recorded output_audio deltas."""
    total: dict[str, int] = {}
    deltas = frames_read(session_id=session_id, direction="server", types=("response.output_audio.delta",), audio="ref")
    for frame in deltas:
        event = json.loads(frame.data)
        if event.get("item_id") in item_ids:
            total[event["item_id"]] = total.get(event["item_id"], 0) + audio_bytes(event.get("delta"))
    return {item_id: n / 2 / rate * 1000 for item_id, n in total.items()}


def _replay_item(item: dict[str, Any], *, cut: float | None, notes: list[str]) -> dict[str, Any] | None:
    """The conversation.item.create `item` that puts `item` back, or None (with a note)."""
    kind, item_id = item.get("type"), item.get("id")
    if item.get("status") == "in_progress":
        notes.append(f"{kind} {item_id}: skipped, it was still in progress")
        return None
    if kind == "function_call":
        return {k: item[k] for k in ("type", "id", "call_id", "name", "arguments") if item.get(k) is not None}
    if kind == "function_call_output":
        return {k: item[k] for k in ("type", "id", "call_id", "output") if item.get(k) is not None}
    if kind != "message":
        notes.append(f"{kind} {item_id}: skipped, not a message or function call")
        return None
    role = item.get("role")
    parts = []
    for part in item.get("content") or []:
        ptype = part.get("type")
        if ptype in ("input_text", "output_text", "text"):
            text = part.get("text") or ""
        elif ptype in ("input_audio", "output_audio", "audio"):
            text = part.get("transcript") or ""
            if cut is not None and text:
                words = text.split()
                text = " ".join(words[: int(len(words) * cut)])
                notes.append(f"{role} audio {item_id}: its transcript cut to the audio heard ({cut:.0%}, estimated)")
            if not text:
                notes.append(f"{role} audio {item_id}: skipped, no transcript was recorded")
                continue
        else:
            notes.append(f"{role} {ptype} part of {item_id}: skipped, only text and transcripts are replayed")
            continue
        parts.append({"type": "output_text" if role == "assistant" else "input_text", "text": text})
    if not parts:
        return None
    return {"type": "message", "id": item_id, "role": role, "content": parts}


def session_resume_plan(*, session: RealtimeSession) -> ResumePlan:
    """Whether `session` may be resumed (409 in words if not) and what to send its new connection."""
    # Audio stays a reference: a plan needs items and transcripts, never the audio itself.
    frames = [
        f
        for f in frames_read(session_id=session.id, types={*_CONVERSATION_EVENTS, "session.update"}, audio="ref")
        if (f.direction == "server" and f.type in _CONVERSATION_EVENTS)
        or (f.direction == "client" and f.type == "session.update")
    ]
    _resumable_check(session, frames)
    last_seq = SessionEvent.objects.filter(session_id=session.id).aggregate(m=models.Max("seq"))["m"] or 0
    notes: list[str] = []
    events: list[str] = []
    config = _config_latest(session, frames)
    if config:
        try:
            events.append(
                compact_json(event_to_wire(parse_client_event({"type": "session.update", "session": config})))
            )
        except ClientEventError as exc:
            notes.append(f"the session's settings were not replayed: {exc.message}")
    items, truncated = _conversation(frames)
    rate = int(((config.get("audio") or {}).get("output") or {}).get("format", {}).get("rate") or 44100)
    heard = _audio_ms(session.id, set(truncated), rate) if truncated else {}
    replayed = 0
    for item in items:
        cut = None
        if item.get("id") in truncated and heard.get(item["id"]):
            cut = min(1.0, truncated[item["id"]] / heard[item["id"]])
        body = _replay_item(item, cut=cut, notes=notes)
        if body is None:
            continue
        try:
            event = parse_client_event({"type": "conversation.item.create", "item": body})
        except ClientEventError as exc:
            notes.append(f"item {item.get('id')}: skipped, {exc.message}")
            continue
        events.append(compact_json(event_to_wire(event)))
        replayed += 1
    return ResumePlan(last_seq=max(last_seq, session.last_seq), events=events, replayed=replayed, notes=notes)
