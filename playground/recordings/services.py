"""Re-run: a recording's user turns sent again in a new live session.

The new session gets the original's upstream (unless another is asked for) and
its initial session config; then a background task in this worker re-sends the
original's client events in order, with fresh event ids, one turn at a time:
after each `response.create` it waits for that response's `response.done` (or
an error, or the session ending) before it sends anything else, so the turns
never overlap even when the original's did.

How it waits: it reads the new session's recording (the truth, per the design)
every POLL_S seconds. That works whichever worker holds the relay and costs
nothing on the relay's forwarding path; a re-run is not latency-critical, and
the latencies the compare page shows come from frame timestamps, not from
when this task noticed them.

The new session stays live when the re-run is done, so the person can go on
talking in it; it ends as any session does (closed, or the upstream's limit).
Nothing is added to the models: the compare API takes both ids.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max

from playground.db import db
from playground.errors import PlaygroundError
from playground.realtime import selectors as realtime_selectors
from playground.realtime import services as realtime_services
from playground.realtime.events import ClientEventError, SessionConfig, parse_client_event
from playground.realtime.models import RealtimeSession, SessionEvent, SessionState
from playground.realtime.runtime.frames import Frame
from playground.realtime.tail import POLL_S, RecordingTail

from . import selectors

log = logging.getLogger(__name__)

RESPONSE_TIMEOUT_S = 120.0
CATCH_UP_S = 5.0

# Client events a re-run leaves out, and why:
# - response.cancel: the re-run waits for every response to finish before sending on, so there is never a
#   response in progress to cancel; sent anyway it would only earn an error event.
# - conversation.item.truncate and output_audio_buffer.clear: both follow a barge-in, cutting the original's
#   answer at the point where its audio was playing when the person interrupted. The re-run plays nothing and
#   its answer may differ in length, so that point (audio_end_ms) means nothing here, and the truncate names an
#   item of the original's conversation.
SKIPPED_TYPES = frozenset({"response.cancel", "conversation.item.truncate", "output_audio_buffer.clear"})
# Fields that name a conversation item: translated from the original's item ids to the re-run's (by position
# in the conversation), since the upstream gives its own items new ids; likewise a function_call_output's
# call_id, by the position of its function call.
_ITEM_ID_FIELDS = ("item_id", "previous_item_id")

# Strong references to running re-runs (asyncio keeps only weak ones).
_running: set[asyncio.Task[None]] = set()


@dataclass
class _Ids:
    """A conversation's item ids and function call ids, in the order the server announced them."""

    items: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    def see(self, frame: Frame) -> None:
        if frame.direction != "server" or frame.type not in ("conversation.item.added", "conversation.item.created"):
            return
        item = json.loads(frame.data).get("item") or {}
        for value, known in ((item.get("id"), self.items), (item.get("call_id"), self.calls)):
            if isinstance(value, str) and value not in known:
                known.append(value)

    @classmethod
    def of(cls, frames: list[Frame]) -> _Ids:
        ids = cls()
        for frame in frames:
            ids.see(frame)
        return ids


@dataclass
class _Progress(RecordingTail):
    """What the re-run's recording shows so far, read in contiguous seq order."""

    open_responses: set[str] = field(default_factory=set)
    done_seqs: list[int] = field(default_factory=list)
    error_seqs: list[int] = field(default_factory=list)
    ids: _Ids = field(default_factory=_Ids)
    ended: bool = False

    def _see(self, frame: Frame) -> None:
        if frame.direction == "playground":
            self.ended = True
            return
        if frame.direction != "server":
            return
        if frame.type == "response.created":
            self.open_responses.add(_response_id(frame))
        elif frame.type == "response.done":
            self.open_responses.discard(_response_id(frame))
            self.done_seqs.append(frame.seq)
        elif frame.type == "error":
            self.error_seqs.append(frame.seq)
        else:
            self.ids.see(frame)


def _response_id(frame: Frame) -> str:
    return str((json.loads(frame.data).get("response") or {}).get("id") or "")


def _translated(value: Any, old: list[str], new: list[str]) -> Any:
    if isinstance(value, str) and value in old:
        position = old.index(value)
        if position < len(new):
            return new[position]
    return value


def replay_events(*, original: RealtimeSession, frames: list[Frame]) -> list[dict[str, Any]]:
    """The original's client events a re-run sends, in order, without their event ids."""
    client = [f for f in frames if f.direction == "client"]
    events: list[dict[str, Any]] = []
    for index, frame in enumerate(client):
        # session_create sends the initial config itself: its session.update is the first client event,
        # right after the upstream's session.created.
        if index == 0 and original.config and frame.type == "session.update" and frame.seq == 2:
            continue
        if frame.type in SKIPPED_TYPES:
            continue
        event = json.loads(frame.data)
        if not isinstance(event, dict):
            continue
        event.pop("event_id", None)
        events.append(event)
    return events


def translate_ids(event: dict[str, Any], original: _Ids, rerun: _Ids) -> dict[str, Any]:
    """The event with the original conversation's item and call ids replaced by the re-run's."""
    for name in _ITEM_ID_FIELDS:
        if name in event:
            event[name] = _translated(event[name], original.items, rerun.items)
    item = event.get("item")
    if isinstance(item, dict) and item.get("type") == "function_call_output" and "call_id" in item:
        item["call_id"] = _translated(item["call_id"], original.calls, rerun.calls)
    return event


async def recording_rerun(
    *,
    user: Any,
    session_id: Any = None,
    session: RealtimeSession | None = None,
    upstream: str | None = None,
) -> RealtimeSession:
    """Open a new live session and re-send `session`'s (or `session_id`'s) client events there, turn by turn.

    Returns the new session at once; the turns go out from a background task in this worker."""
    original = session
    if original is None:
        original = await db(realtime_selectors.session_get, user=user, session_id=session_id)
        if original is None:
            raise PlaygroundError(f"No session {session_id}.", status=404)
    if original.state == SessionState.LIVE and original.relay_channel:
        await _recording_caught_up(original)
    frames = await db(lambda: list(selectors.recording_frames(session_id=original.id)))
    events = replay_events(original=original, frames=frames)
    config = SessionConfig.model_validate(original.config) if original.config else None
    # Noted as from the same preset (version), so the recordings list shows the two together.
    rerun = await realtime_services.session_create(
        user=user,
        upstream=upstream or original.upstream,
        session=config,
        preset=original.preset,
        preset_version=original.preset_version,
    )
    task = asyncio.create_task(
        _replay(session=rerun, events=events, original_ids=_Ids.of(frames)),
        name=f"rerun {original.id} -> {rerun.id}",
    )
    _running.add(task)
    task.add_done_callback(_running.discard)
    log.info("re-run of %s started as %s: %d client events", original.id, rerun.id, len(events))
    return rerun


async def _recording_caught_up(session: RealtimeSession) -> None:
    """A live original: wait until everything its relay has numbered is recorded (the recorder writes in
    batches, a little behind), so a re-run started right after a turn still gets that turn."""
    try:
        upto = await realtime_services.relay_seq(session=session)
    except PlaygroundError:
        return  # the relay is gone: the recording is all there is
    deadline = time.monotonic() + CATCH_UP_S
    while time.monotonic() < deadline:
        # The recorder writes each session's frames in seq order, a batch a transaction: seq `upto`
        # recorded means every seq before it is too.
        recorded = await db(lambda: SessionEvent.objects.filter(session_id=session.id).aggregate(m=Max("seq"))["m"])
        if (recorded or 0) >= upto:
            return
        await asyncio.sleep(POLL_S)
    log.warning("re-run of %s: its recording did not reach seq %d within %.0f s", session.id, upto, CATCH_UP_S)


async def _replay(*, session: RealtimeSession, events: list[dict[str, Any]], original_ids: _Ids) -> None:
    progress = _Progress(session_id=session.id)
    try:
        for event in events:
            # A response the upstream started by itself (server VAD) finishes before the next event goes.
            idle = await progress.wait(lambda: not progress.open_responses, within=RESPONSE_TIMEOUT_S)
            if not idle or progress.ended:
                break
            translate_ids(event, original_ids, progress.ids)
            try:
                parsed = parse_client_event(event)
            except ClientEventError as exc:
                log.warning("re-run %s: skipped a %s the playground refuses: %s", session.id, event["type"], exc)
                continue
            await db(session.refresh_from_db, fields=["state", "state_reason", "relay_channel"])
            if session.state != SessionState.LIVE:
                break
            _, seq = await realtime_services.client_event_send(session=session, event=parsed)
            if event["type"] == "response.create":

                def answered(sent: int = seq) -> bool:
                    return any(s > sent for s in progress.done_seqs + progress.error_seqs)

                if not await progress.wait(answered, within=RESPONSE_TIMEOUT_S):
                    log.warning("re-run %s: no response.done within %.0f s", session.id, RESPONSE_TIMEOUT_S)
                    break
    except PlaygroundError as exc:
        # The session ended or its relay stopped answering: nothing more can be sent.
        log.info("re-run %s stopped: %s", session.id, exc.message)
    except Exception:
        log.exception("re-run %s failed", session.id)


async def reruns_shutdown() -> None:
    """Cancel this worker's running re-runs (tests, shutdown)."""
    tasks = list(_running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
