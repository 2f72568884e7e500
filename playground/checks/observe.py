"""What a check's turn looked like, read from its session's recording: the answer, calls, latencies, usage, audio.

The runner (runner.py) knows where each turn starts and ends in the recording (`TurnSpan`, from turns.py);
this reads the frames in between, after the session has ended, so every figure comes from the recorded
events and their timestamps (the relay's clock), never from when the runner noticed them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from playground.realtime.runtime.frames import Frame
from playground.usage.audio import audio_bytes

from .turns import SessionFacts, TurnSpan

TEXT_DELTAS = frozenset({"response.output_text.delta", "response.output_audio_transcript.delta"})
AUDIO_DELTAS = frozenset({"response.output_audio.delta"})
SUMMARY_TEXT_CHARS = 2000


@dataclass
class Call:
    name: str
    arguments: str
    call_id: str
    seq: int


@dataclass
class TurnObservation:
    number: int  # 1-based
    said: str  # what the user said, in words
    span: TurnSpan
    heard: str = ""  # the upstream's transcript of the user's audio, when it gives one
    text: str = ""
    text_seq: int | None = None  # the last event that carried answer text
    calls: list[Call] = field(default_factory=list)
    statuses: list[tuple[str, str, int]] = field(default_factory=list)  # (status, reason, seq) per response.done
    first_text: tuple[float, int] | None = None  # (ts, seq)
    first_audio: tuple[float, int] | None = None
    done: tuple[float, int] | None = None  # the turn's last response.done
    trigger_ts: float | None = None
    usage: dict[str, int] = field(default_factory=dict)
    usage_reported: bool = False
    audio_out_bytes: int = 0
    audio_in_bytes: int = 0
    facts: SessionFacts = field(default_factory=SessionFacts)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (seq, words)

    @property
    def problem(self) -> str | None:
        return self.span.problem

    def ms_since_trigger(self, at: tuple[float, int] | None) -> float | None:
        if at is None or self.trigger_ts is None:
            return None
        return round((at[0] - self.trigger_ts) * 1000, 1)

    @property
    def audio_out_ms(self) -> float:
        return self.audio_out_bytes / 2 / self.facts.output_rate * 1000

    @property
    def audio_in_seconds(self) -> float:
        return self.audio_in_bytes / 2 / self.facts.input_rate


def _add_usage(total: dict[str, int], usage: dict[str, Any]) -> None:
    def count(value: Any) -> int:
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    ins = usage.get("input_token_details") or {}
    outs = usage.get("output_token_details") or {}
    for key, value in (
        ("input", usage.get("input_tokens")),
        ("output", usage.get("output_tokens")),
        ("total", usage.get("total_tokens")),
        ("text_in", ins.get("text_tokens") if isinstance(ins, dict) else None),
        ("text_out", outs.get("text_tokens") if isinstance(outs, dict) else None),
    ):
        total[key] = total.get(key, 0) + count(value)
    if not count(usage.get("total_tokens")):
        total["total"] += count(usage.get("input_tokens")) + count(usage.get("output_tokens"))


def _done_text(output: list[Any]) -> str:
    texts = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "message":
            for part in item.get("content") or []:
                if isinstance(part, dict):
                    value = part.get("text") if part.get("text") is not None else part.get("transcript")
                    if value:
                        texts.append(str(value))
    return "".join(texts)


def turns_observe(*, frames: list[Frame], spans: list[TurnSpan]) -> list[TurnObservation]:
    """One observation per played turn, from the whole recording (frames in seq order)."""
    observations = [TurnObservation(number=span.number, said=span.said, span=span) for span in spans]
    facts = SessionFacts()
    current: TurnObservation | None = None
    deltas: dict[str, list[str]] = {}  # response id -> its text deltas
    # Turns never played (the one before did not finish) have no frames: they only carry their problem.
    pending = [o for o in observations if o.span.start_seq > 0]
    for frame in frames:
        while pending and frame.seq >= pending[0].span.start_seq:
            current = pending.pop(0)
            current.facts = facts
            deltas = {}
        if frame.direction == "server" and frame.type in ("session.created", "session.updated"):
            facts = SessionFacts.from_event(json.loads(frame.data), previous=facts)
            if current is not None:
                current.facts = facts
            continue
        if current is None or frame.seq < current.span.start_seq:
            continue
        end = current.span.end_seq
        if end is not None and frame.seq > end and not _sent_in(current.span, frame):
            continue
        _see(current, frame, deltas)
    return observations


def _sent_in(span: TurnSpan, frame: Frame) -> bool:
    """One of the turn's own appends, relayed after the answer it brought was already done."""
    return (
        span.appended_to is not None
        and frame.seq <= span.appended_to
        and frame.direction == "client"
        and frame.type == "input_audio_buffer.append"
    )


def _see(turn: TurnObservation, frame: Frame, deltas: dict[str, list[str]]) -> None:
    kind = frame.type
    if frame.seq == turn.span.trigger_seq:
        turn.trigger_ts = frame.ts
    if frame.direction == "client":
        if kind == "input_audio_buffer.append":
            turn.audio_in_bytes += audio_bytes(json.loads(frame.data).get("audio"))
        return
    if frame.direction == "playground":
        notice = json.loads(frame.data)
        turn.errors.append((frame.seq, str(notice.get("message") or notice.get("kind") or "a playground notice")))
        return
    if kind in AUDIO_DELTAS:
        # Only its length matters: the base64 is not decoded (a long answer is megabytes).
        turn.audio_out_bytes += audio_bytes(json.loads(frame.data).get("delta"))
        if turn.first_audio is None:
            turn.first_audio = (frame.ts, frame.seq)
        return
    event = json.loads(frame.data)
    if kind in TEXT_DELTAS:
        delta = event.get("delta")
        if isinstance(delta, str) and delta:
            deltas.setdefault(str(event.get("response_id") or ""), []).append(delta)
            turn.text_seq = frame.seq
            if turn.first_text is None:
                turn.first_text = (frame.ts, frame.seq)
    elif kind == "conversation.item.input_audio_transcription.completed":
        turn.heard = str(event.get("transcript") or turn.heard)
    elif kind == "conversation.item.done" and not turn.heard:
        item = event.get("item") or {}
        if item.get("role") == "user":
            parts = [p for p in item.get("content") or [] if isinstance(p, dict) and p.get("type") == "input_audio"]
            turn.heard = " ".join(str(p.get("transcript") or "") for p in parts).strip()
    elif kind == "response.function_call_arguments.done":
        turn.calls.append(
            Call(
                name=str(event.get("name") or ""),
                arguments=str(event.get("arguments") or ""),
                call_id=str(event.get("call_id") or ""),
                seq=frame.seq,
            )
        )
    elif kind == "response.done":
        _see_done(turn, frame, event, deltas)
    elif kind == "error":
        error = event.get("error") or {}
        code = f" ({error.get('code')})" if error.get("code") else ""
        turn.errors.append((frame.seq, f"the upstream answered with an error{code}: {error.get('message') or '…'}"))


def _see_done(turn: TurnObservation, frame: Frame, event: dict[str, Any], deltas: dict[str, list[str]]) -> None:
    response = event.get("response") or {}
    output = response.get("output") or []
    status = str(response.get("status") or "completed")
    details = response.get("status_details") or {}
    reason = ""
    if isinstance(details, dict):
        reason = str(details.get("reason") or (details.get("error") or {}).get("message") or "")
    turn.statuses.append((status, reason, frame.seq))
    turn.done = (frame.ts, frame.seq)
    said = "".join(deltas.pop(str(response.get("id") or ""), [])) or _done_text(output)
    if said:
        turn.text = f"{turn.text}\n{said}" if turn.text else said
        turn.text_seq = turn.text_seq or frame.seq
    known = {c.call_id for c in turn.calls}
    for item in output:
        # Calls whose arguments.done was not seen (another dialect, or none sent) still count.
        if isinstance(item, dict) and item.get("type") == "function_call" and item.get("call_id") not in known:
            turn.calls.append(
                Call(
                    name=str(item.get("name") or ""),
                    arguments=str(item.get("arguments") or ""),
                    call_id=str(item.get("call_id") or ""),
                    seq=frame.seq,
                )
            )
    usage = response.get("usage")
    if isinstance(usage, dict) and usage:
        turn.usage_reported = True
        _add_usage(turn.usage, usage)
    rate = (((response.get("audio") or {}).get("output") or {}).get("format") or {}).get("rate")
    if isinstance(rate, int) and rate > 0 and rate != turn.facts.output_rate:
        turn.facts = SessionFacts(
            input_rate=turn.facts.input_rate, output_rate=rate, turn_detection=turn.facts.turn_detection
        )


def turn_summary(turn: TurnObservation) -> dict[str, Any]:
    """What the results keep of a turn (JSON), for the Checks tab and JUnit."""
    text = turn.text if len(turn.text) <= SUMMARY_TEXT_CHARS else turn.text[: SUMMARY_TEXT_CHARS - 1] + "…"
    return {
        "turn": turn.number,
        "said": turn.said,
        "heard": turn.heard,
        "answer": text,
        "calls": [{"name": c.name, "arguments": c.arguments, "seq": c.seq} for c in turn.calls],
        "status": turn.statuses[-1][0] if turn.statuses else None,
        "first_text_ms": turn.ms_since_trigger(turn.first_text),
        "first_audio_ms": turn.ms_since_trigger(turn.first_audio),
        "done_ms": turn.ms_since_trigger(turn.done),
        "tokens": dict(turn.usage) if turn.usage_reported else None,
        "audio_out_ms": round(turn.audio_out_ms, 1),
        "audio_in_ms": round(turn.audio_in_seconds * 1000, 1),
        "start_seq": turn.span.start_seq,
        "end_seq": turn.span.end_seq,
        "problem": turn.problem,
        "note": turn.span.note,
    }
