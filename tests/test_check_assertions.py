"""Assertions judged on a turn read from recorded frames: latencies come from the frames' own timestamps (the
relay's clock), audio length from the output deltas at the session's rate, cost from PLAYGROUND_PRICES."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import TypeAdapter

from playground.checks.assertions import assertion_evaluate, check_outcome, turn_cost
from playground.checks.observe import turns_observe
from playground.checks.schemas import Assertion
from playground.checks.turns import TurnSpan
from playground.realtime.runtime.frames import Frame

PRICES = {
    "currency": "₽",
    "textInputPer1kTokens": 1.0,
    "textOutputPer1kTokens": 2.0,
    "audioInputPerSecond": 0.5,
    "audioOutputPerSecond": 1.0,
}
RATE = 16000
T0 = 1_700_000_000.0


def frame(seq: int, direction: str, at_ms: float, event: dict[str, Any]) -> Frame:
    return Frame(seq=seq, direction=direction, ts=T0 + at_ms / 1000, type=event["type"], data=json.dumps(event))


def audio(ms: int) -> str:
    return base64.b64encode(b"\x01\x00" * (RATE * ms // 1000)).decode()


def recording(*, status: str = "completed", usage: bool = True) -> list[Frame]:
    """A session at 16 kHz: a typed turn (create at 1000 ms), first audio at 1250, transcript at 1300, done at 1800."""
    session = {"audio": {"input": {"format": {"rate": RATE}}, "output": {"format": {"rate": RATE}}}}
    done: dict[str, Any] = {
        "id": "resp_1",
        "status": status,
        "status_details": {"type": status, "reason": "max_output_tokens"} if status == "incomplete" else None,
        "output": [{"type": "message", "content": [{"type": "output_audio", "transcript": "Good morning, Anna"}]}],
    }
    if usage:
        done["usage"] = {
            "total_tokens": 1500,
            "input_tokens": 1000,
            "output_tokens": 500,
            "input_token_details": {"text_tokens": 1000},
            "output_token_details": {"text_tokens": 200},
        }
    return [
        frame(1, "server", 0, {"type": "session.created", "session": {}}),
        frame(2, "client", 10, {"type": "session.update", "session": session}),
        frame(3, "server", 20, {"type": "session.updated", "session": session}),
        frame(4, "client", 990, {"type": "conversation.item.create", "item": {"type": "message"}}),
        frame(5, "client", 995, {"type": "input_audio_buffer.append", "audio": audio(2000)}),
        frame(6, "client", 1000, {"type": "response.create"}),
        frame(7, "server", 1100, {"type": "response.created", "response": {"id": "resp_1"}}),
        frame(8, "server", 1250, {"type": "response.output_audio.delta", "response_id": "resp_1", "delta": audio(300)}),
        frame(
            9,
            "server",
            1300,
            {"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "delta": "Good morning, "},
        ),
        frame(
            10, "server", 1320, {"type": "response.output_audio.delta", "response_id": "resp_1", "delta": audio(450)}
        ),
        frame(
            11,
            "server",
            1350,
            {"type": "response.output_audio_transcript.delta", "response_id": "resp_1", "delta": "Anna"},
        ),
        frame(12, "server", 1800, {"type": "response.done", "response": done}),
    ]


def observed(**kwargs: Any) -> Any:
    span = TurnSpan(number=1, said="Good morning", start_seq=4, trigger_seq=6, end_seq=12)
    (turn,) = turns_observe(frames=recording(**kwargs), spans=[span])
    return turn


def judged(assertion: dict[str, Any], **kwargs: Any) -> Any:
    return assertion_evaluate(TypeAdapter(Assertion).validate_python(assertion), observed(**kwargs), prices=PRICES)


def test_what_a_turn_is_read_as() -> None:
    turn = observed()
    assert turn.text == "Good morning, Anna" and turn.text_seq == 11
    assert turn.ms_since_trigger(turn.first_text) == 300.0
    assert turn.ms_since_trigger(turn.first_audio) == 250.0
    assert turn.ms_since_trigger(turn.done) == 800.0
    assert turn.audio_out_ms == 750.0 and turn.audio_in_seconds == 2.0
    assert turn.usage == {"input": 1000, "output": 500, "total": 1500, "text_in": 1000, "text_out": 200}
    # 1000/1000 * 1 + 200/1000 * 2 + 2 s * 0.5 + 0.75 s * 1
    assert turn_cost(turn, PRICES) == pytest.approx(3.15)


@pytest.mark.parametrize(
    ("assertion", "status", "reason", "seq"),
    [
        (
            {"type": "latency", "to": "first_audio", "max_ms": 250},
            "passed",
            "the first audio came after 250 ms (at most 250 ms)",
            8,
        ),
        (
            {"type": "latency", "to": "first_text", "max_ms": 299},
            "failed",
            "the first text came after 300 ms, over the 299 ms allowed",
            9,
        ),
        (
            {"type": "latency", "to": "done", "max_ms": 500},
            "failed",
            "response.done came after 800 ms, over the 500 ms allowed",
            12,
        ),
        ({"type": "spoken_duration", "min_ms": 800}, "failed", "spoke for 750 ms, under the 800 ms minimum", 8),
        (
            {"type": "spoken_duration", "min_ms": 100, "max_ms": 700},
            "failed",
            "spoke for 750 ms, over the 700 ms maximum",
            8,
        ),
        ({"type": "spoken_duration", "max_ms": 750}, "passed", "spoke for 750 ms (0–750 ms)", 8),
        (
            {"type": "tokens", "max": 499, "kind": "output"},
            "failed",
            "used 500 output tokens, over the 499 allowed",
            12,
        ),
        ({"type": "tokens", "max": 1500}, "passed", "used 1500 total tokens (at most 1500)", 12),
        (
            {"type": "cost", "max": 3},
            "failed",
            "estimated cost ≈3.1500 ₽ (text 1000 in / 500 out tokens, audio 2.0 s in / 0.8 s out, PLAYGROUND_PRICES), "
            "over the 3 allowed",
            12,
        ),
        (
            {"type": "text_contains", "value": "MORNING"},
            "passed",
            "the answer contains “MORNING”: “Good morning, Anna”",
            11,
        ),
        (
            {"type": "text_contains", "value": "MORNING", "case_sensitive": True},
            "failed",
            "the answer does not contain “MORNING”: it was “Good morning, Anna”",
            11,
        ),
        (
            {"type": "text_not_contains", "value": "anna"},
            "failed",
            "the answer contains “anna”: “Good morning, Anna”",
            11,
        ),
        (
            {"type": "text_matches", "pattern": r"^Good \w+"},
            "passed",
            "“Good morning” matches, in “Good morning, Anna”",
            11,
        ),
        ({"type": "response_status", "status": "completed"}, "passed", "the response was completed", 12),
    ],
)
def test_verdicts_and_their_reasons(assertion: dict[str, Any], status: str, reason: str, seq: int) -> None:
    verdict = judged(assertion)
    assert (verdict.status, verdict.reason, verdict.seq) == (status, reason, seq)


def test_an_incomplete_response_and_missing_usage_are_said_so() -> None:
    verdict = judged({"type": "response_status", "status": "completed"}, status="incomplete")
    assert verdict.reason == "the response was incomplete (max_output_tokens), not completed"
    verdict = judged({"type": "tokens", "max": 10}, usage=False)
    assert (verdict.status, verdict.reason) == (
        "failed",
        "no response.done in this turn reported usage, so its tokens cannot be counted",
    )


def test_the_outcome_names_the_first_failure_and_a_not_run_judge_is_never_a_pass() -> None:
    adapter = TypeAdapter(Assertion)
    ok = adapter.validate_python({"type": "response_status"})
    slow = adapter.validate_python({"type": "latency", "to": "done", "max_ms": 1})
    judge = adapter.validate_python({"type": "judge", "rubric": "Polite."})
    turn = observed()
    passed = assertion_evaluate(ok, turn, prices=PRICES)
    failed = assertion_evaluate(slow, turn, prices=PRICES)
    from playground.checks.assertions import Verdict

    not_run = Verdict("not_run", "not run: no credentials")
    assert check_outcome([(1, ok, passed)]) == ("passed", "")
    assert check_outcome([(1, ok, passed), (1, judge, not_run)]) == (
        "incomplete",
        "1 assertion(s) not run: turn 1: judge: Polite.: not run: no credentials",
    )
    assert check_outcome([(1, judge, not_run), (2, slow, failed), (2, slow, failed)]) == (
        "failed",
        "turn 2: response.done within 1 ms: response.done came after 800 ms, over the 1 ms allowed (and 1 more failed)",
    )


def test_a_turn_never_played_leaves_the_turn_before_it_whole() -> None:
    played = TurnSpan(number=1, said="Good morning", start_seq=4, trigger_seq=6, end_seq=12)
    never = TurnSpan(number=2, said="and then?", problem="not played")
    first, second = turns_observe(frames=recording(), spans=[played, never])
    assert first.text == "Good morning, Anna" and first.done == (T0 + 1.8, 12)
    assert second.problem == "not played" and second.text == "" and second.done is None


def test_a_turns_trailing_silence_relayed_after_its_answer_still_counts_as_its_audio() -> None:
    """The server's VAD may end a turn, and its answer be done, before the last chunks of the silence the
    playground appended were relayed: they were sent as the turn's audio and count as its, not the rest
    of what follows the answer."""
    late = [
        frame(13, "client", 1810, {"type": "input_audio_buffer.append", "audio": audio(100)}),
        frame(14, "client", 1820, {"type": "input_audio_buffer.append", "audio": audio(100)}),
        frame(15, "client", 2500, {"type": "input_audio_buffer.append", "audio": audio(500)}),  # not the turn's
    ]
    span = TurnSpan(number=1, said="Good morning", start_seq=4, trigger_seq=6, end_seq=12, appended_to=14)
    (turn,) = turns_observe(frames=recording() + late, spans=[span])
    assert turn.audio_in_seconds == pytest.approx(2.2)
    assert turn.done == (T0 + 1.8, 12)  # the answer is still the one before them
