"""Running a check run: each attempt of each check is one ordinary recorded session, driven turn by turn.

An attempt: make the turns' audio (decode a file; speak a text), open a session from the preset version
(its opening conversation and canned tool outputs, plus the check's own), wait for the upstream's
session.updated (the input rate and turn detection come from there), play each turn and wait for its
answer (turns.py), close the session, then read the recording and judge every assertion (observe.py,
assertions.py, judge.py). Results are written per attempt and per assertion as they finish, so the Checks
tab and `manage.py preset_check` show progress.

Attempts run `run.concurrency` at a time. Opening a session goes through the playground's own limits
(realtime.services.session_create); one refused for a limit (429) is retried after the wait the refusal
names, for up to LIMIT_WAIT_S, with the run's message saying what it waits for.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from playground.db import db
from playground.errors import PlaygroundError
from playground.presets import services as preset_services
from playground.presets.models import Preset, PresetVersion
from playground.realtime import services as realtime_services
from playground.realtime.models import RealtimeSession, SessionState
from playground.recordings.selectors import recording_frames

from . import schemas
from .assertions import Verdict, assertion_evaluate, check_outcome
from .audio import AudioError, Sound, sound_from_file, speak_espeak, speak_speechkit
from .judge import conversation_text, judge_grade
from .models import AssertionResult, AssertionStatus, CheckResult, CheckRun, Outcome, RunState
from .observe import TurnObservation, turn_summary, turns_observe
from .turns import (
    Cursor,
    TurnSpan,
    audio_turn_send,
    respond_turn_send,
    session_ready,
    text_turn_send,
    turn_finish,
)

log = logging.getLogger(__name__)

LIMIT_WAIT_S = 300.0
HEARTBEAT_S = 5.0

# Called with ("started" | "finished", result) and ("waiting", words); may be async.
Progress = Callable[[str, Any], Awaitable[None] | None]


@dataclass
class RunContext:
    run: CheckRun
    preset: Preset
    version: PresetVersion
    checks: list[schemas.Check]
    team_id: Any
    progress: Progress | None


async def _tell(ctx: RunContext, what: str, subject: Any) -> None:
    if ctx.progress is None:
        return
    answer = ctx.progress(what, subject)
    if answer is not None:
        await answer


# --- audio -------------------------------------------------------------------------------------------------------


async def _sound(user: Any, upstream: str) -> Sound | None:
    if user.type == "audio":
        return await asyncio.to_thread(sound_from_file, base64.b64decode(user.data), name=user.filename)
    if user.type == "tts":
        engine = user.engine
        if engine == "auto":
            # Offline against the emulator; SpeechKit only where the run talks to Yandex anyway.
            engine = "speechkit" if upstream == "yandex" else "espeak-ng"
        if engine == "speechkit":
            return await speak_speechkit(user.text, voice=user.voice)
        return await speak_espeak(user.text, voice=user.voice)
    return None


def _said(user: Any, sound: Sound | None) -> str:
    if user.type == "text":
        return str(user.text)
    if user.type == "audio" and sound is not None:
        return f"(audio file {user.filename}, {sound.seconds:.1f} s)"
    if user.type == "tts" and sound is not None:
        return f"{user.text} (spoken by {sound.source})"
    return ""


# --- one attempt -------------------------------------------------------------------------------------------------


async def _open(ctx: RunContext, check: schemas.Check) -> RealtimeSession:
    waited = 0.0
    while True:
        try:
            return await preset_services.preset_session_start(
                user=ctx.run.owner,
                preset=ctx.preset,
                version=ctx.version,
                upstream=ctx.run.upstream,
                team_id=ctx.team_id,
                tool_outputs=check.tool_outputs or None,
            )
        except PlaygroundError as exc:
            if exc.status != 429 or waited >= LIMIT_WAIT_S:
                raise
            asked = exc.extra.get("retry_after")
            delay = max(1.0, min(float(asked) if isinstance(asked, int | float) else 5.0, 30.0, LIMIT_WAIT_S - waited))
            message = f"Waiting {delay:.0f} s to open a session: {exc.message}"
            await db(CheckRun.objects.filter(pk=ctx.run.pk).update, message=message)
            await _tell(ctx, "waiting", message)
            await asyncio.sleep(delay)
            waited += delay


async def _play(
    ctx: RunContext, check: schemas.Check, session: RealtimeSession, sounds: list[Sound | None]
) -> list[TurnSpan]:
    cursor = Cursor(session_id=session.id)
    await session_ready(cursor=cursor)
    response = ctx.version.content.get("response") or None
    canned = set(ctx.version.content.get("tool_outputs") or {}) | set(check.tool_outputs)
    spans: list[TurnSpan] = []
    for number, (turn, sound) in enumerate(zip(check.turns, sounds, strict=True), start=1):
        span = TurnSpan(number=number, said=_said(turn.user, sound))
        spans.append(span)
        if cursor.ended:
            span.problem = f"not played: the session ended before it ({cursor.ended})"
            continue
        start = cursor.last
        if sound is not None:
            pcm = await asyncio.to_thread(sound.pcm16, cursor.facts.input_rate)
            event_id = await audio_turn_send(session=session, cursor=cursor, span=span, pcm=pcm, response=response)
        elif isinstance(turn.user, schemas.TextInput):
            event_id = await text_turn_send(session=session, span=span, text=turn.user.text, response=response)
        else:
            event_id = await respond_turn_send(session=session, span=span, response=response)
        span.start_seq = span.start_seq or start + 1
        await turn_finish(cursor=cursor, span=span, event_id=event_id, canned=canned)
        if span.problem:
            # The conversation cannot go on from a turn that did not finish: the rest are not played.
            for later, later_turn in enumerate(check.turns[number:], start=number + 1):
                spans.append(TurnSpan(number=later, said=_said(later_turn.user, None), problem="not played"))
            break
    return spans


async def _close(session: RealtimeSession) -> None:
    await db(session.refresh_from_db, fields=["state", "state_reason", "relay_channel"])
    if session.state == SessionState.LIVE:
        try:
            await realtime_services.session_close(session=session, reason="The preset check is over.")
        except PlaygroundError as exc:
            log.info("check session %s was not closed: %s", session.id, exc.message)


async def _judge_all(check: schemas.Check, observations: list[TurnObservation]) -> list[tuple[int, Any, Verdict]]:
    prices = settings.PLAYGROUND_PRICES
    verdicts: list[tuple[int, Any, Verdict]] = []
    for turn, observation in zip(check.turns, observations, strict=False):
        for assertion in turn.expect:
            if observation.problem:
                verdict = Verdict(
                    AssertionStatus.ERROR, f"not evaluated: the turn did not finish ({observation.problem})"
                )
            elif isinstance(assertion, schemas.Judge):
                seq = observation.done[1] if observation.done else observation.span.end_seq
                conversation = conversation_text(observations[: observation.number])
                verdict = await judge_grade(rubric=assertion.rubric, conversation=conversation, seq=seq)
            else:
                verdict = assertion_evaluate(assertion, observation, prices=prices)
            verdicts.append((observation.number, assertion, verdict))
    return verdicts


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 1) if known else None


def _store(result: CheckResult, verdicts: list[tuple[int, Any, Verdict]], observations: list[TurnObservation]) -> None:
    summaries = [turn_summary(o) for o in observations]
    rows = []
    position: dict[int, int] = {}
    for turn, assertion, verdict in verdicts:
        index = position.get(turn, 0)
        position[turn] = index + 1
        rows.append(
            AssertionResult(
                result=result,
                turn=turn,
                index=index,
                type=assertion.type,
                label=schemas.assertion_label(assertion)[:300],
                status=verdict.status,
                reason=verdict.reason,
                seq=verdict.seq,
                value=verdict.value,
            )
        )
    AssertionResult.objects.bulk_create(rows)
    result.status, result.reason = check_outcome(verdicts)
    unfinished = next((o for o in observations if o.problem), None)
    if unfinished is not None and result.status != Outcome.FAILED:
        # A failure seen before it still counts; otherwise the attempt could not be held to the end.
        result.status, result.reason = Outcome.ERROR, f"turn {unfinished.number} did not finish: {unfinished.problem}"
    result.turns = summaries
    result.first_delta_ms = _mean(
        [s["first_text_ms"] if s["first_text_ms"] is not None else s["first_audio_ms"] for s in summaries]
    )
    result.done_ms = _mean([s["done_ms"] for s in summaries])
    result.finished_at = timezone.now()
    result.save()


async def _error(result: CheckResult, reason: str) -> None:
    result.status, result.reason, result.finished_at = Outcome.ERROR, reason, timezone.now()
    await db(result.save)


async def attempt_run(ctx: RunContext, result: CheckResult) -> None:
    check = ctx.checks[result.check_index]
    result.status, result.started_at = Outcome.RUNNING, timezone.now()
    await db(result.save, update_fields=["status", "started_at"])
    await _tell(ctx, "started", result)
    try:
        sounds = [await _sound(turn.user, ctx.run.upstream) for turn in check.turns]
    except (AudioError, ValueError) as exc:
        await _error(result, f"its audio could not be made: {exc}")
        return
    try:
        session = await _open(ctx, check)
    except PlaygroundError as exc:
        await _error(result, f"no session could be opened: {exc.message}")
        return
    result.session = session
    await db(result.save, update_fields=["session"])
    try:
        spans = await _play(ctx, check, session, sounds)
    except PlaygroundError as exc:
        spans = []
        reason = f"the conversation could not go on: {exc.message}"
    else:
        reason = ""
    finally:
        await _close(session)
    if not spans:
        await _error(result, reason)
        return
    # Audio as references: a turn's audio is counted (usage.audio.audio_bytes reads both forms), never decoded.
    frames = await db(lambda: list(recording_frames(session_id=session.id, audio="ref")))
    observations = turns_observe(frames=frames, spans=spans)
    verdicts = await _judge_all(check, observations)
    await db(_store, result, verdicts, observations)


# --- a run -------------------------------------------------------------------------------------------------------


def _counted(result: CheckResult) -> dict[str, Any]:
    field = {
        Outcome.PASSED: "passed",
        Outcome.FAILED: "failed",
        Outcome.ERROR: "errors",
        Outcome.INCOMPLETE: "incomplete",
    }.get(Outcome(result.status))
    changes: dict[str, Any] = {"done": F("done") + 1}
    if field:
        changes[field] = F(field) + 1
    return changes


async def _heartbeat(run_id: Any) -> None:
    while True:
        await db(CheckRun.objects.filter(pk=run_id).update, heartbeat_at=timezone.now())
        await asyncio.sleep(HEARTBEAT_S)


def _context(run_id: Any, progress: Progress | None) -> RunContext:
    from .services import run_checks, run_team

    run = CheckRun.objects.select_related("owner", "preset").get(pk=run_id)
    version = PresetVersion.objects.get(preset=run.preset, number=run.preset_version)
    return RunContext(
        run=run,
        preset=run.preset,
        version=version,
        checks=run_checks(version=version),
        team_id=run_team(user=run.owner, preset=run.preset),
        progress=progress,
    )


async def check_run_execute(*, run_id: Any, progress: Progress | None = None) -> CheckRun:
    """Run every pending attempt of a run (`concurrency` at a time) and finish it; returns the run as it ended."""
    ctx = await db(_context, run_id, progress)
    run = ctx.run
    await db(
        CheckRun.objects.filter(pk=run.pk).update,
        state=RunState.RUNNING,
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
    )
    beat = asyncio.create_task(_heartbeat(run.pk))
    gate = asyncio.Semaphore(max(1, run.concurrency))
    pending = await db(lambda: list(run.results.filter(status=Outcome.PENDING).order_by("check_index", "attempt")))

    async def one(result: CheckResult) -> None:
        async with gate:
            cancelled = await db(lambda: CheckRun.objects.filter(pk=run.pk, cancel_requested=True).exists())
            if cancelled:
                result.status, result.reason = Outcome.CANCELLED, "not run: the run was cancelled"
                await db(result.save, update_fields=["status", "reason"])
            else:
                try:
                    await attempt_run(ctx, result)
                except Exception as exc:  # a bug must not leave the attempt (and the run) running forever
                    log.exception("check attempt %s failed", result.pk)
                    await _error(result, f"the playground failed while running it ({type(exc).__name__}: {exc})")
            await db(CheckRun.objects.filter(pk=run.pk).update, **_counted(result))
            await _tell(ctx, "finished", result)

    try:
        await asyncio.gather(*(one(result) for result in pending))
    finally:
        beat.cancel()
    cancelled = await db(lambda: CheckRun.objects.filter(pk=run.pk, cancel_requested=True).exists())
    await db(
        CheckRun.objects.filter(pk=run.pk).update,
        state=RunState.CANCELLED if cancelled else RunState.FINISHED,
        finished_at=timezone.now(),
        message="Cancelled: the checks not yet started were not run." if cancelled else "",
    )
    return await db(CheckRun.objects.select_related("preset", "owner").get, pk=run.pk)
