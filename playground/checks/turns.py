"""A user's turn sent into a live session, and waiting until the answer to it is over.

Used by the check runner (a check's scripted turns) and by the console's "send an audio file" (one turn).
How it waits: it reads the session's recording (the truth) every POLL_S seconds, as re-runs do
(recordings/services.py): that works whichever worker holds the relay, and costs the relay nothing.
Every latency a check reports comes from the recorded timestamps, never from when this noticed them.

An audio turn, by the session's own turn detection (as the upstream reported it in session.updated):
- server VAD that answers by itself: the audio is appended, then enough silence for the VAD to end the
  turn; the server commits it and starts the response. If it has not committed within VAD_WAIT_S (it
  heard no speech), the playground commits and asks for the response, and says so in the turn's note;
- server VAD that does not answer by itself: the same, then response.create;
- no turn detection: append, commit, response.create.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from playground.realtime import services as realtime_services
from playground.realtime.events import parse_client_event
from playground.realtime.models import RealtimeSession
from playground.realtime.runtime.frames import Frame
from playground.realtime.tail import RecordingTail

from .audio import silence_pcm16

# One turn's answer (with any canned tool round trips): past this the turn is given up, in words.
TURN_TIMEOUT_S = 90.0
# After the last audio: how long the server VAD has to end the turn before the playground commits it.
VAD_WAIT_S = 5.0
# Audio goes in appends of at most this much (a base64 event of ~120 KB at 44.1 kHz).
APPEND_CHUNK_MS = 1000
# Silence after the speech, beyond the VAD's own silence_duration_ms, so the VAD surely ends the turn.
VAD_TAIL_MARGIN_MS = 500
DEFAULT_SILENCE_MS = 500
SESSION_READY_S = 15.0


@dataclass(frozen=True)
class SessionFacts:
    """What the upstream says of the session (session.created/updated): rates and turn detection."""

    input_rate: int = 44100
    output_rate: int = 44100
    turn_detection: dict[str, Any] | None = None

    @classmethod
    def from_event(cls, event: dict[str, Any], *, previous: SessionFacts | None = None) -> SessionFacts:
        before = previous or cls()
        audio = (event.get("session") or {}).get("audio") or {}
        audio_in = audio.get("input") or {}
        audio_out = audio.get("output") or {}

        def rate(side: dict[str, Any], fallback: int) -> int:
            value = (side.get("format") or {}).get("rate") if isinstance(side.get("format"), dict) else None
            return int(value) if isinstance(value, int) and value > 0 else fallback

        session = event.get("session") or {}
        if isinstance(audio_in, dict) and "turn_detection" in audio_in:
            detection = audio_in["turn_detection"]  # null: turned off
        elif "turn_detection" in session:  # the top-level place Yandex's documentation also shows
            detection = session["turn_detection"]
        else:
            detection = before.turn_detection
        return cls(
            input_rate=rate(audio_in, before.input_rate),
            output_rate=rate(audio_out, before.output_rate),
            turn_detection=detection if isinstance(detection, dict) else None,
        )

    @property
    def vad(self) -> bool:
        return str((self.turn_detection or {}).get("type", "")).endswith("_vad")

    @property
    def vad_responds(self) -> bool:
        return self.vad and (self.turn_detection or {}).get("create_response") is not False

    @property
    def vad_silence_ms(self) -> int:
        value = (self.turn_detection or {}).get("silence_duration_ms")
        return int(value) if isinstance(value, int) and value >= 0 else DEFAULT_SILENCE_MS


@dataclass
class TurnSpan:
    """Where a turn sits in the recording, and how it went."""

    number: int
    said: str
    start_seq: int = 0  # the turn's first client event
    trigger_seq: int | None = None  # what latencies run from
    end_seq: int | None = None  # the event that ended the turn
    # The turn's last append: audio sent as one turn is the turn's, even when the server's VAD ended the
    # turn and its answer was done before the last chunks of trailing silence were relayed.
    appended_to: int | None = None
    problem: str | None = None  # why the turn did not finish, in words
    note: str = ""  # how it was handed over, when that is worth saying


@dataclass
class Cursor(RecordingTail):
    """What a session's recording shows so far, read in seq order."""

    facts: SessionFacts = field(default_factory=SessionFacts)
    session_seen: bool = False  # the upstream's session.created was seen
    # session.update events sent (their event ids), and the upstream's answers (session.updated, or an error)
    updates_sent: set[str] = field(default_factory=set)
    updates_answered: int = 0
    open_responses: set[str] = field(default_factory=set)
    created: list[int] = field(default_factory=list)
    # (seq, names of the functions the response called)
    dones: list[tuple[int, list[str]]] = field(default_factory=list)
    errors: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    committed: list[int] = field(default_factory=list)
    speech_stopped: list[int] = field(default_factory=list)
    speaking: bool = False
    ended: str | None = None
    ended_seq: int | None = None

    def _see(self, frame: Frame) -> None:
        if frame.direction == "client":
            if frame.type == "session.update":
                self.updates_sent.add(str(json.loads(frame.data).get("event_id") or frame.seq))
            return
        if frame.direction == "playground":
            notice = json.loads(frame.data)
            if notice.get("state") in ("ended", "interrupted", "failed"):
                self.ended = str(notice.get("message") or f"the session is {notice.get('state')}")
                self.ended_seq = frame.seq
            return
        if frame.direction != "server" or frame.type.endswith(".delta"):
            return  # deltas (audio above all) are not needed to follow the turn: not parsed
        kind = frame.type
        if kind in ("session.created", "session.updated"):
            self.facts = SessionFacts.from_event(json.loads(frame.data), previous=self.facts)
            self.session_seen = True
            self.updates_answered += kind == "session.updated"
        elif kind == "response.created":
            self.open_responses.add(str((json.loads(frame.data).get("response") or {}).get("id") or ""))
            self.created.append(frame.seq)
        elif kind == "response.done":
            response = json.loads(frame.data).get("response") or {}
            self.open_responses.discard(str(response.get("id") or ""))
            calls = [
                str(item.get("name") or "")
                for item in response.get("output") or []
                if isinstance(item, dict) and item.get("type") == "function_call"
            ]
            self.dones.append((frame.seq, calls))
        elif kind == "error":
            error = json.loads(frame.data).get("error") or {}
            self.errors.append((frame.seq, error))
            self.updates_answered += error.get("event_id") in self.updates_sent
        elif kind == "input_audio_buffer.speech_started":
            self.speaking = True
        elif kind == "input_audio_buffer.speech_stopped":
            self.speaking = False
            self.speech_stopped.append(frame.seq)
        elif kind == "input_audio_buffer.committed":
            self.committed.append(frame.seq)


async def session_ready(*, cursor: Cursor) -> None:
    """Wait until the upstream has answered every session.update sent so far (the opening settings above all),
    so the rates and turn detection read from it are the session's own."""
    await cursor.wait(
        lambda: cursor.session_seen and cursor.updates_answered >= len(cursor.updates_sent), within=SESSION_READY_S
    )


async def _send(session: RealtimeSession, data: dict[str, Any]) -> tuple[str, int]:
    return await realtime_services.client_event_send(session=session, event=parse_client_event(data))


async def _respond(session: RealtimeSession, response: dict[str, Any] | None) -> tuple[str, int]:
    return await _send(session, {"type": "response.create", **({"response": response} if response else {})})


async def text_turn_send(
    *, session: RealtimeSession, span: TurnSpan, text: str, response: dict[str, Any] | None
) -> str:
    """A typed message, then response.create; returns the response.create's event id."""
    _, span.start_seq = await _send(
        session,
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
        },
    )
    event_id, span.trigger_seq = await _respond(session, response)
    return event_id


async def respond_turn_send(*, session: RealtimeSession, span: TurnSpan, response: dict[str, Any] | None) -> str:
    event_id, span.start_seq = await _respond(session, response)
    span.trigger_seq = span.start_seq
    return event_id


async def audio_turn_send(
    *,
    session: RealtimeSession,
    cursor: Cursor,
    span: TurnSpan,
    pcm: bytes,
    response: dict[str, Any] | None,
    respond: bool = True,
) -> str | None:
    """Append PCM16 at the session's input rate and hand the turn over as the session's turn detection
    wants it (module docstring). Returns the response.create's event id when the playground sent one."""
    facts = cursor.facts
    rate = facts.input_rate
    if facts.vad:
        pcm += silence_pcm16(ms=facts.vad_silence_ms + VAD_TAIL_MARGIN_MS, rate=rate)
    chunk = max(2, rate * APPEND_CHUNK_MS // 1000 * 2)
    seqs = []
    for offset in range(0, len(pcm), chunk):
        audio = base64.b64encode(pcm[offset : offset + chunk]).decode("ascii")
        seqs.append((await _send(session, {"type": "input_audio_buffer.append", "audio": audio}))[1])
    span.start_seq = seqs[0]
    last = span.appended_to = seqs[-1]
    if facts.vad:
        heard = await cursor.wait(
            lambda: any(s > span.start_seq for s in cursor.committed) and not cursor.speaking, within=VAD_WAIT_S
        )
        if heard and not cursor.ended and any(s > span.start_seq for s in cursor.committed):
            stopped = [s for s in cursor.speech_stopped if s > span.start_seq]
            committed = [s for s in cursor.committed if s > span.start_seq]
            span.trigger_seq = stopped[-1] if stopped else committed[-1]
            span.note = "the server's VAD ended the turn"
            if facts.vad_responds or not respond:
                return None
            event_id, span.trigger_seq = await _respond(session, response)
            return event_id
        if cursor.ended:
            return None
        span.note = f"the server's VAD did not end the turn within {VAD_WAIT_S:.0f} s; the playground committed it"
    _, commit_seq = await _send(session, {"type": "input_audio_buffer.commit"})
    span.trigger_seq = max(commit_seq, last)
    if not respond:
        return None
    event_id, span.trigger_seq = await _respond(session, response)
    return event_id


async def turn_finish(
    *, cursor: Cursor, span: TurnSpan, event_id: str | None, canned: set[str], within: float | None = None
) -> None:
    """Wait until the turn's answer is over: a response.done after the turn started, none in progress, and no
    canned tool output still to be answered (the relay sends it, then the next response.create). Sets end_seq,
    or `problem` in words."""

    def settled() -> bool:
        dones = [(seq, calls) for seq, calls in cursor.dones if seq > span.start_seq]
        refused = [
            seq for seq, err in cursor.errors if seq > span.start_seq and event_id and err.get("event_id") == event_id
        ]
        if refused and not cursor.open_responses and not dones:
            return True
        if not dones or cursor.open_responses or cursor.speaking:
            return False
        last_seq, calls = dones[-1]
        if any(name in canned for name in calls):
            # The playground answers this call: the turn goes on, unless that answer was refused.
            return any(seq > last_seq for seq, _ in cursor.errors)
        return True

    within = TURN_TIMEOUT_S if within is None else within
    finished = await cursor.wait(settled, within=within)
    if cursor.ended and not settled():
        span.problem = f"the session ended during the turn: {cursor.ended}"
        span.end_seq = cursor.ended_seq
        return
    if not finished:
        span.problem = f"no answer finished within {within:.0f} s"
        span.end_seq = cursor.last
        return
    dones = [seq for seq, _ in cursor.dones if seq > span.start_seq]
    errors = [seq for seq, _ in cursor.errors if seq > span.start_seq]
    span.end_seq = max([*dones, *errors, span.start_seq])
    if not dones:
        refusal = next(err for seq, err in cursor.errors if seq > span.start_seq and err.get("event_id") == event_id)
        span.problem = f"the upstream refused the turn: {refusal.get('message') or refusal.get('code') or 'error'}"
