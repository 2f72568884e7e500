"""Writes for realtime sessions: open one, send it client events, close it.

Everything that reaches a relay goes through the channel layer, so these work
from any worker whichever worker holds the relay.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.db import models
from django.db.models.functions import Now
from django.utils import timezone

from playground.db import db
from playground.errors import PlaygroundError
from playground.limits import session_quota_check
from playground.teams.access import can_change
from playground.teams.services import share_link_create, share_link_revoke, sharing_target, visibility_set

from . import lease, selectors
from .canned import CannedToolOutputs
from .events import ClientEvent, ClientEventError, SessionConfig, SessionUpdate, event_to_wire, parse_client_event
from .frames import Frame, notice_data
from .layers import channel_done
from .models import RealtimeSession, SessionEvent, SessionState
from .relay import Relay
from .upstreams import UPSTREAMS, UpstreamError, available_upstreams, default_upstream_name

RELAY_REPLY_TIMEOUT_S = 10.0
# What a relay changes on a session row; refreshing only these keeps its loaded owner, team and preset.
LIVE_FIELDS = ["state", "state_reason", "relay_channel", "heartbeat_at", "last_seq", "ended_at"]


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def sessions_mark_stale() -> int:
    """Sessions whose relay stopped heartbeating (its worker died) become interrupted, saying so
    in their recording; this process's sweeper publishes the notices (lease.py)."""
    ended = lease.sessions_interrupt_stale()
    lease.publish_soon(ended)
    return len(ended)


def _live_sessions_check() -> None:
    """Refuse a new session when the deployment's live sessions are at the limit (429)."""
    sessions_mark_stale()
    recordings_prune_due()
    live = selectors.session_live_count()
    if live >= settings.PLAYGROUND_MAX_LIVE_SESSIONS:
        raise PlaygroundError(
            f"{live} sessions are live, the most this deployment allows (PLAYGROUND_MAX_LIVE_SESSIONS="
            f"{settings.PLAYGROUND_MAX_LIVE_SESSIONS}). Close one and try again.",
            status=429,
        )


async def session_create(
    *,
    user: Any,
    upstream: str | None = None,
    session: SessionConfig | None = None,
    options: dict[str, Any] | None = None,
    preset: Any = None,
    preset_version: int | None = None,
    team_id: Any = None,
    visibility: str | None = None,
    canned: CannedToolOutputs | None = None,
) -> RealtimeSession:
    """Open a live session: connect upstream, start its relay, apply the initial config.

    `team_id`/`visibility` share its recording with one of the user's teams; `preset` notes where it came from;
    `canned` answers the model's function calls from a preset's canned tool outputs."""
    name = upstream or default_upstream_name()
    if name not in UPSTREAMS:
        raise PlaygroundError(
            f"Unknown upstream {name!r}; choose one of: {', '.join(UPSTREAMS)}.", status=422, field="upstream"
        )
    upstream_obj = UPSTREAMS[name]
    if not upstream_obj.is_available():
        raise PlaygroundError(
            f"Upstream {name!r} is not configured here (set YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID); "
            f"available: {', '.join(available_upstreams())}.",
            status=422,
            field="upstream",
        )
    team, shown_to = await db(sharing_target, user=user, team_id=team_id, visibility=visibility)
    await db(_live_sessions_check)
    await db(session_quota_check, user=user)  # per-user limits (playground/limits.py)
    config = session.model_dump(mode="json", exclude_unset=True) if session else {}
    row = await db(
        RealtimeSession.objects.create,
        owner=user,
        upstream=name,
        config=config,
        team=team,
        visibility=shown_to,
        preset=preset,
        preset_version=preset_version,
    )
    try:
        connection = await upstream_obj.connect(options=options or {})
    except UpstreamError as exc:
        await _session_fail(row, exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    relay = Relay(session_id=str(row.id), upstream=connection, upstream_title=upstream_obj.title, canned=canned)
    initial = [_dumps(event_to_wire(SessionUpdate(session=session)))] if session is not None else []
    try:
        await relay.start(initial_events=initial)
    except UpstreamError as exc:
        await connection.close()
        await _session_fail(row, exc.message)
        raise PlaygroundError(exc.message, status=502) from exc
    # With what the API shows of it loaded, so callers in the event loop can answer with it.
    return await db(selectors.session_loaded, session_id=row.pk)


async def _session_fail(row: RealtimeSession, reason: str) -> None:
    row.state, row.state_reason, row.ended_at = SessionState.FAILED, reason, timezone.now()
    await db(row.save, update_fields=["state", "state_reason", "ended_at"])


def _require_live(session: RealtimeSession) -> None:
    if session.state != SessionState.LIVE or not session.relay_channel:
        reason = f": {session.state_reason}" if session.state_reason else "."
        raise PlaygroundError(f"Session {session.id} is {session.state}, not live{reason}", status=409)


async def relay_request(*, session: RealtimeSession, message: dict[str, Any]) -> dict[str, Any]:
    """Send a message to the session's relay, wherever it runs, and wait for its answer."""
    lease.ensure_sweeper()
    layer = get_channel_layer()
    reply_channel = await layer.new_channel()
    request_id = uuid.uuid4().hex
    await layer.send(session.relay_channel, {**message, "reply_channel": reply_channel, "request_id": request_id})
    try:
        async with asyncio.timeout(RELAY_REPLY_TIMEOUT_S):
            while True:
                answer = await layer.receive(reply_channel)
                if answer.get("request_id") == request_id:
                    break
    except TimeoutError:
        raise PlaygroundError(
            f"The relay of session {session.id} did not answer within {RELAY_REPLY_TIMEOUT_S:.0f} s; "
            "its worker may have stopped.",
            status=503,
        ) from None
    finally:
        await channel_done(layer, reply_channel)  # the pub/sub layer keeps it subscribed otherwise
    if answer["type"] == "relay.error":
        raise PlaygroundError(answer["message"], status=502)
    return answer


async def client_event_send(*, session: RealtimeSession, event: ClientEvent) -> tuple[str, int]:
    """Forward a validated client event; returns (event_id, seq)."""
    _require_live(session)
    wire = event_to_wire(event)
    answer = await relay_request(session=session, message={"type": "relay.client_event", "text": _dumps(wire)})
    return wire["event_id"], int(answer["seq"])


def session_may_change(*, user: Any, session: RealtimeSession) -> None:
    """403 for a session `user` may watch but not drive or change (a team's, as a viewer)."""
    if not can_change(user=user, obj=session):
        raise PlaygroundError(
            f"You may watch session {session.id} but not change it: that needs its owner or a team member.",
            status=403,
        )


def session_delete(*, user: Any, session: RealtimeSession) -> None:
    """Delete a recording with all its events (its audio is in them). A live session is closed first."""
    session_may_change(user=user, session=session)
    if session.state in (SessionState.LIVE, SessionState.CONNECTING):
        raise PlaygroundError(f"Session {session.id} is {session.state}: close it first.", status=409)
    session.delete()


def recordings_prune(*, days: int, now: Any = None) -> int:
    """Delete recordings (with their events, audio included) that ended more than `days` days ago.

    Live sessions are never touched. Returns how many recordings were deleted."""
    cutoff = (now or timezone.now()) - timedelta(days=days)
    ended = RealtimeSession.objects.exclude(state__in=[SessionState.LIVE, SessionState.CONNECTING])
    old = ended.filter(created_at__lt=cutoff).filter(models.Q(ended_at__lt=cutoff) | models.Q(ended_at__isnull=True))
    deleted = 0
    for pk in list(old.values_list("pk", flat=True)):
        # One at a time: a recording can hold a million events; one huge DELETE would hold the write lock.
        RealtimeSession.objects.filter(pk=pk).delete()
        deleted += 1
    return deleted


_last_prune = 0.0


def recordings_prune_due() -> int:
    """Apply PLAYGROUND_RETENTION_DAYS at most every 10 minutes per worker (called as sessions open)."""
    global _last_prune
    if settings.PLAYGROUND_RETENTION_DAYS <= 0 or time.monotonic() - _last_prune < 600:
        return 0
    _last_prune = time.monotonic()
    return recordings_prune(days=settings.PLAYGROUND_RETENTION_DAYS)


def session_share(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    session_may_change(user=user, session=session)
    return share_link_create(obj=session)


def session_unshare(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    session_may_change(user=user, session=session)
    return share_link_revoke(obj=session)


def session_edit(*, user: Any, session: RealtimeSession, team_id: Any, visibility: str | None) -> RealtimeSession:
    return visibility_set(user=user, obj=session, team_id=team_id, visibility=visibility)


async def session_close(*, session: RealtimeSession, reason: str = "Closed by the user.") -> RealtimeSession:
    """End a live session; it stays as a recording."""
    _require_live(session)
    await relay_request(session=session, message={"type": "relay.close", "reason": reason})
    await db(session.refresh_from_db, fields=LIVE_FIELDS)
    return session


# --- resume: an interrupted session goes on over a new upstream connection (issue 6) -----------------

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
    notice = (
        SessionEvent.objects.filter(session_id=session.id, direction="playground").order_by("-seq").only("data").first()
    )
    if notice is None or json.loads(notice.data).get("kind") != "upstream_closed":
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
    rows = SessionEvent.objects.filter(session_id=session_id, direction="server", type="response.output_audio.delta")
    for data in rows.values_list("data", flat=True).iterator():
        event = json.loads(data)
        if event.get("item_id") in item_ids and isinstance(event.get("delta"), str):
            delta = event["delta"]
            total[event["item_id"]] = total.get(event["item_id"], 0) + len(delta) * 3 // 4 - delta[-2:].count("=")
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
    rows = (
        SessionEvent.objects.filter(session_id=session.id)
        .filter(
            models.Q(direction="server", type__in=_CONVERSATION_EVENTS)
            | models.Q(direction="client", type="session.update")
        )
        .order_by("seq")
        .values_list("seq", "direction", "ts", "type", "data")
    )
    frames = [Frame(seq=s, direction=d, ts=t, type=ty, data=data) for s, d, t, ty, data in rows.iterator()]
    _resumable_check(session, frames)
    last_seq = SessionEvent.objects.filter(session_id=session.id).aggregate(m=models.Max("seq"))["m"] or 0
    notes: list[str] = []
    events: list[str] = []
    config = _config_latest(session, frames)
    if config:
        try:
            events.append(_dumps(event_to_wire(parse_client_event({"type": "session.update", "session": config}))))
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
        events.append(_dumps(event_to_wire(event)))
        replayed += 1
    return ResumePlan(last_seq=max(last_seq, session.last_seq), events=events, replayed=replayed, notes=notes)


def _resume_claim(*, session_id: Any, state: str) -> bool:
    """Exactly one resume wins: the session leaves `state` for connecting (its lease starts now)."""
    return bool(
        RealtimeSession.objects.filter(pk=session_id, state=state).update(
            state=SessionState.CONNECTING, relay_channel="", heartbeat_at=Now()
        )
    )


def _resume_release(*, session_id: Any, state: str, reason: str, ended_at: Any) -> None:
    RealtimeSession.objects.filter(pk=session_id, state=SessionState.CONNECTING).update(
        state=state, state_reason=reason, ended_at=ended_at
    )


async def session_resume(*, user: Any, session: RealtimeSession) -> RealtimeSession:
    """Resume an interrupted session (or one its upstream ended at its time limit) in this worker.

    A new upstream connection and a new relay for the same session id, numbering on from the
    recording's last seq: it records a `resumed` notice, sends the latest settings as
    session.update, then replays the conversation as conversation.item.create events (all recorded
    like any client events). Watchers on any worker keep receiving on the session's group."""
    session_may_change(user=user, session=session)
    lease.ensure_sweeper()
    await db(sessions_mark_stale)  # a dead worker's session not yet swept becomes resumable at once
    await db(session.refresh_from_db, fields=[*LIVE_FIELDS, "config"])
    plan = await db(session_resume_plan, session=session)
    upstream_obj = UPSTREAMS.get(session.upstream)
    if upstream_obj is None or not upstream_obj.is_available():
        raise PlaygroundError(
            f"Session {session.id} ran on upstream {session.upstream!r}, which is not configured here.", status=409
        )
    await db(_live_sessions_check)
    await db(session_quota_check, user=user)
    before = {"state": session.state, "reason": session.state_reason, "ended_at": session.ended_at}
    if not await db(_resume_claim, session_id=session.id, state=session.state):
        raise PlaygroundError(f"Session {session.id} is being resumed by another request.", status=409)
    try:
        connection = await upstream_obj.connect(options={})
    except UpstreamError as exc:
        await db(_resume_release, session_id=session.id, **before)
        raise PlaygroundError(exc.message, status=502) from exc
    message = (
        f"Resumed on a new {upstream_obj.title} connection after: {before['reason'] or before['state']} "
        f"The settings and {plan.replayed} conversation item(s) were replayed from the recording."
    )
    if plan.notes:
        message += " Not as before: " + "; ".join(plan.notes) + "."
    notice = notice_data(
        kind=RESUMED_KIND,
        message=message,
        state=str(SessionState.LIVE),
        previous_state=before["state"],
        replayed=plan.replayed,
        notes=plan.notes,
    )
    relay = Relay(session_id=str(session.id), upstream=connection, upstream_title=upstream_obj.title)
    try:
        await relay.start(initial_events=plan.events, start_seq=plan.last_seq, notices=[(RESUMED_KIND, notice)])
    except UpstreamError as exc:
        await connection.close()
        await db(_resume_release, session_id=session.id, **before)
        raise PlaygroundError(exc.message, status=502) from exc
    resumed = await db(selectors.session_get, user=user, session_id=session.id)
    assert resumed is not None
    return resumed
