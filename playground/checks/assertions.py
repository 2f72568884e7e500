"""Each assertion of a turn judged against what the recording shows of it (observe.py), with the reason in words.

Pure functions: no I/O. The judge (an HTTP call) is judge.py's; latencies are measured on the recorded
timestamps, from the turn's hand-over (turns.TurnSpan.trigger_seq) to the event named.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import schemas
from .models import AssertionStatus
from .observe import TurnObservation

QUOTE_CHARS = 200


@dataclass
class Verdict:
    status: str
    reason: str
    seq: int | None = None
    value: Any = None


def quoted(text: str, limit: int = QUOTE_CHARS) -> str:
    text = " ".join(text.split())
    return f"“{text if len(text) <= limit else text[: limit - 1] + '…'}”"


def _passed(reason: str, seq: int | None = None, value: Any = None) -> Verdict:
    return Verdict(AssertionStatus.PASSED, reason, seq, value)


def _failed(reason: str, seq: int | None = None, value: Any = None) -> Verdict:
    return Verdict(AssertionStatus.FAILED, reason, seq, value)


def _answer_seq(turn: TurnObservation) -> int | None:
    return turn.text_seq or (turn.done[1] if turn.done else turn.span.end_seq)


def _no_text(turn: TurnObservation) -> str:
    if turn.calls:
        return "there was no answer text, only function calls (" + ", ".join(c.name for c in turn.calls) + ")"
    return "there was no answer text (no output_text or audio transcript in the turn)"


def _text(assertion: Any, turn: TurnObservation) -> Verdict:
    seq = _answer_seq(turn)
    if not turn.text:
        return _failed(_no_text(turn), seq)
    flags = 0 if assertion.case_sensitive else re.IGNORECASE
    if assertion.type == "text_matches":
        found = re.search(assertion.pattern, turn.text, flags)
        if found:
            return _passed(f"{quoted(found.group(0))} matches, in {quoted(turn.text)}", seq)
        return _failed(f"the answer does not match /{assertion.pattern}/: it was {quoted(turn.text)}", seq)
    present = re.search(re.escape(assertion.value), turn.text, flags) is not None
    if assertion.type == "text_contains":
        if present:
            return _passed(f"the answer contains {quoted(assertion.value)}: {quoted(turn.text)}", seq)
        return _failed(f"the answer does not contain {quoted(assertion.value)}: it was {quoted(turn.text)}", seq)
    if present:
        return _failed(f"the answer contains {quoted(assertion.value)}: {quoted(turn.text)}", seq)
    return _passed(f"the answer does not contain {quoted(assertion.value)}", seq)


def _arguments_problem(assertion: Any, arguments: Any) -> str | None:
    if assertion.arguments_schema is not None:
        import jsonschema

        validator = jsonschema.validators.validator_for(assertion.arguments_schema)(assertion.arguments_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
        if error is not None:
            where = "".join(f"[{p!r}]" for p in error.absolute_path)
            at = f" (at arguments{where})" if where else ""
            return f"the arguments do not fit the schema: {error.message}{at}"
    for key, want in (assertion.arguments or {}).items():
        if not isinstance(arguments, dict) or key not in arguments:
            return f"the arguments have no {key!r} (expected {json.dumps(want, ensure_ascii=False)})"
        if arguments[key] != want:
            got = json.dumps(arguments[key], ensure_ascii=False)
            return f"argument {key!r} is {got}, not {json.dumps(want, ensure_ascii=False)}"
    return None


def _function_call(assertion: Any, turn: TurnObservation) -> Verdict:
    calls = [c for c in turn.calls if c.name == assertion.name]
    if not calls:
        if turn.calls:
            names = ", ".join(c.name for c in turn.calls)
            return _failed(f"called {names}, not {assertion.name}", turn.calls[0].seq)
        answer = f"; the answer was {quoted(turn.text)}" if turn.text else ""
        return _failed(f"no function was called{answer}", _answer_seq(turn))
    problems = []
    for call in calls:
        try:
            arguments = json.loads(call.arguments or "{}")
        except ValueError as exc:
            problems.append((call, f"the arguments are not JSON ({exc}): {quoted(call.arguments)}"))
            continue
        problem = _arguments_problem(assertion, arguments)
        if problem is None:
            return _passed(f"called {call.name}({call.arguments})", call.seq, {"arguments": arguments})
        problems.append((call, problem))
    call, problem = problems[0]
    return _failed(f"called {call.name}({call.arguments}), but {problem}", call.seq)


def _no_function_call(turn: TurnObservation) -> Verdict:
    if turn.calls:
        call = turn.calls[0]
        return _failed(f"called {call.name}({call.arguments})", call.seq)
    return _passed("no function was called", _answer_seq(turn))


def _status(assertion: Any, turn: TurnObservation) -> Verdict:
    if not turn.statuses:
        return _failed("no response finished in this turn", turn.span.end_seq)
    status, why, seq = turn.statuses[-1]
    detail = f" ({why})" if why else ""
    if status == assertion.status:
        return _passed(f"the response was {status}{detail}", seq)
    return _failed(f"the response was {status}{detail}, not {assertion.status}", seq)


_LATENCY_WORDS = {"first_text": "the first text", "first_audio": "the first audio", "done": "response.done"}


def _latency(assertion: Any, turn: TurnObservation) -> Verdict:
    at = {"first_text": turn.first_text, "first_audio": turn.first_audio, "done": turn.done}[assertion.to]
    what = _LATENCY_WORDS[assertion.to]
    if at is None:
        missing = {
            "first_text": "no text came in this turn (no output_text or audio transcript delta)",
            "first_audio": "no audio came in this turn (no output_audio delta)",
            "done": "no response.done came in this turn",
        }[assertion.to]
        return _failed(missing, turn.span.end_seq)
    ms = turn.ms_since_trigger(at)
    if ms is None:
        return Verdict(AssertionStatus.ERROR, "the turn's start is not in the recording: no latency to measure", at[1])
    value = {"ms": ms}
    if ms <= assertion.max_ms:
        return _passed(f"{what} came after {ms:.0f} ms (at most {assertion.max_ms} ms)", at[1], value)
    return _failed(f"{what} came after {ms:.0f} ms, over the {assertion.max_ms} ms allowed", at[1], value)


def _tokens(assertion: Any, turn: TurnObservation) -> Verdict:
    seq = turn.done[1] if turn.done else turn.span.end_seq
    if not turn.usage_reported:
        return _failed("no response.done in this turn reported usage, so its tokens cannot be counted", seq)
    used = turn.usage.get(assertion.kind, 0)
    value = {"tokens": used, "usage": dict(turn.usage)}
    if used <= assertion.max:
        return _passed(f"used {used} {assertion.kind} tokens (at most {assertion.max})", seq, value)
    return _failed(f"used {used} {assertion.kind} tokens, over the {assertion.max} allowed", seq, value)


def turn_cost(turn: TurnObservation, prices: dict[str, Any]) -> float:
    """The console's estimate (static/playground/figures.js), for one turn: text tokens and audio seconds."""
    usage = turn.usage
    text_in = usage.get("text_in") or usage.get("input", 0)
    text_out = usage.get("text_out") or usage.get("output", 0)
    return (
        text_in / 1000 * float(prices["textInputPer1kTokens"])
        + text_out / 1000 * float(prices["textOutputPer1kTokens"])
        + turn.audio_in_seconds * float(prices["audioInputPerSecond"])
        + turn.audio_out_ms / 1000 * float(prices["audioOutputPerSecond"])
    )


def _cost(assertion: Any, turn: TurnObservation, prices: dict[str, Any]) -> Verdict:
    seq = turn.done[1] if turn.done else turn.span.end_seq
    if not turn.usage_reported:
        return _failed("no response.done in this turn reported usage, so its cost cannot be estimated", seq)
    cost = turn_cost(turn, prices)
    currency = prices.get("currency", "")
    parts = (
        f"≈{cost:.4f} {currency} (text {turn.usage.get('input', 0)} in / {turn.usage.get('output', 0)} out tokens, "
        f"audio {turn.audio_in_seconds:.1f} s in / {turn.audio_out_ms / 1000:.1f} s out, PLAYGROUND_PRICES)"
    )
    value = {"cost": round(cost, 6), "currency": currency}
    if cost <= assertion.max:
        return _passed(f"estimated cost {parts}, at most {assertion.max:g}", seq, value)
    return _failed(f"estimated cost {parts}, over the {assertion.max:g} allowed", seq, value)


def _spoken(assertion: Any, turn: TurnObservation) -> Verdict:
    seq = turn.first_audio[1] if turn.first_audio else _answer_seq(turn)
    if not turn.audio_out_bytes:
        return _failed("the answer had no audio (no output_audio delta in the turn)", seq)
    ms = round(turn.audio_out_ms)
    value = {"ms": ms}
    bounds = f"{assertion.min_ms}–{assertion.max_ms} ms" if assertion.max_ms is not None else f"≥ {assertion.min_ms} ms"
    if ms < assertion.min_ms:
        return _failed(f"spoke for {ms} ms, under the {assertion.min_ms} ms minimum", seq, value)
    if assertion.max_ms is not None and ms > assertion.max_ms:
        return _failed(f"spoke for {ms} ms, over the {assertion.max_ms} ms maximum", seq, value)
    return _passed(f"spoke for {ms} ms ({bounds})", seq, value)


def assertion_evaluate(assertion: Any, turn: TurnObservation, *, prices: dict[str, Any]) -> Verdict:
    """Every assertion type but the judge (judge.py, which needs the network)."""
    kind = assertion.type
    if kind in ("text_contains", "text_not_contains", "text_matches"):
        return _text(assertion, turn)
    if kind == "function_call":
        return _function_call(assertion, turn)
    if kind == "no_function_call":
        return _no_function_call(turn)
    if kind == "response_status":
        return _status(assertion, turn)
    if kind == "latency":
        return _latency(assertion, turn)
    if kind == "tokens":
        return _tokens(assertion, turn)
    if kind == "cost":
        return _cost(assertion, turn, prices)
    if kind == "spoken_duration":
        return _spoken(assertion, turn)
    raise ValueError(f"no evaluator for {kind!r}")


def check_outcome(verdicts: list[tuple[int, schemas.Assertion | Any, Verdict]]) -> tuple[str, str]:
    """A check attempt's outcome and its reason in words, from (turn, assertion, verdict) in order."""
    from .models import Outcome

    def words(turn: int, assertion: Any, verdict: Verdict) -> str:
        return f"turn {turn}: {schemas.assertion_label(assertion)}: {verdict.reason}"

    errors = [words(*v) for v in verdicts if v[2].status == AssertionStatus.ERROR]
    failures = [words(*v) for v in verdicts if v[2].status == AssertionStatus.FAILED]
    not_run = [words(*v) for v in verdicts if v[2].status == AssertionStatus.NOT_RUN]
    if failures:
        more = f" (and {len(failures) - 1} more failed)" if len(failures) > 1 else ""
        return Outcome.FAILED, failures[0] + more
    if errors:
        return Outcome.ERROR, errors[0]
    if not_run:
        return Outcome.INCOMPLETE, f"{len(not_run)} assertion(s) not run: {not_run[0]}"
    return Outcome.PASSED, ""
