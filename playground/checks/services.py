"""Writes for checks: replace a preset's checks (a new version), add one from a session, start and cancel runs.

A run is created with one pending result per check attempt, then executed by runner.py: in a background task
of this worker (the preset page, the API) or awaited (`manage.py preset_check`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from pydantic import TypeAdapter, ValidationError

from playground.db import db
from playground.errors import PlaygroundError
from playground.presets import selectors as preset_selectors
from playground.presets import services as preset_services
from playground.presets.models import Preset, PresetVersion
from playground.presets.schemas import PresetContent
from playground.realtime import selectors as realtime_selectors
from playground.realtime.events import describe_validation_error
from playground.realtime.models import RealtimeSession, SessionState
from playground.realtime.upstreams import UPSTREAMS, available_upstreams, default_upstream_name
from playground.teams.models import EDITOR_ROLES, Membership, Visibility

from . import schemas
from .capture import check_from_recording
from .models import CheckResult, CheckRun, RunState

log = logging.getLogger(__name__)

MAX_REPEAT = 20
MAX_CONCURRENCY = 10
DEFAULT_CONCURRENCY = 2

_checks_adapter: TypeAdapter[list[schemas.Check]] = TypeAdapter(list[schemas.Check])
# Strong references to running runs (asyncio keeps only weak ones).
_running: set[asyncio.Task[Any]] = set()


def run_checks(*, version: PresetVersion) -> list[schemas.Check]:
    """A version's checks, validated; 422 in words when the stored ones are no longer valid."""
    try:
        return _checks_adapter.validate_python(version.content.get("checks") or [])
    except ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise PlaygroundError(
            f"Version {version.number}'s checks are not valid any more: checks{first['field']}: {first['message']}",
            status=422,
            field="checks",
        ) from None


def run_team(*, user: Any, preset: Preset) -> Any:
    """Where a run's recordings go: the preset's team when it is shared with one the runner may share into
    (so its members can open the replays the results link to); otherwise the runner's own, private."""
    if preset.team_id is None or preset.visibility != Visibility.TEAM:
        return None
    may = Membership.objects.filter(team_id=preset.team_id, user=user, role__in=EDITOR_ROLES).exists()
    return preset.team_id if may else None


@transaction.atomic
def checks_replace(*, user: Any, preset: Preset, checks: list[schemas.Check]) -> Preset:
    """Save `checks` as the preset's checks: a new version, the rest of the content as it is."""
    latest = preset_selectors.preset_version_latest(preset=preset)
    try:
        content = PresetContent.model_validate({**latest.content, "checks": []})
    except ValidationError as exc:
        first = describe_validation_error(exc)[0]
        raise PlaygroundError(
            f"The preset's content is not valid any more ({first['field']}: {first['message']}): fix it on its "
            "Content tab first.",
            status=422,
            field="content",
        ) from None
    content.checks = list(checks)
    return preset_services.preset_update(user=user, preset=preset, content=content)


def _effective_concurrency(*, user: Any, requested: int | None, attempts: int) -> int:
    """As many at once as asked (default 2), within the session limits: a run must not lock its owner (or the
    deployment) out of sessions; opening still goes through the limits, and waits when refused."""
    wanted = requested or DEFAULT_CONCURRENCY
    caps = [MAX_CONCURRENCY, max(1, attempts)]
    per_user = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER
    if per_user > 0:
        caps.append(max(1, per_user - realtime_selectors.session_live_count(owner=user)))
    if settings.PLAYGROUND_MAX_LIVE_SESSIONS > 0:
        live = realtime_selectors.session_live_count()
        caps.append(max(1, settings.PLAYGROUND_MAX_LIVE_SESSIONS - live))
    return max(1, min(wanted, *caps))


@transaction.atomic
def check_run_create(
    *,
    user: Any,
    preset: Preset,
    version_number: int | None = None,
    check_name: str | None = None,
    upstream: str | None = None,
    repeat: int = 1,
    concurrency: int | None = None,
    source: str = "api",
) -> CheckRun:
    """A run of a preset version's checks (the latest version unless one is named), every attempt pending."""
    if preset.deleted_at is not None:
        raise PlaygroundError(f"Preset {preset.id} is in the trash: restore it to run its checks.", status=409)
    if version_number is None:
        version = preset_selectors.preset_version_latest(preset=preset)
    else:
        found = preset_selectors.preset_version_get(preset=preset, number=version_number)
        if found is None:
            raise PlaygroundError(f"Preset {preset.id} has no version {version_number}.", status=404, field="version")
        version = found
    checks = run_checks(version=version)
    if not checks:
        raise PlaygroundError(
            f"Version {version.number} of “{preset.name}” has no checks: add one on its Checks tab "
            f"(or PUT /api/presets/{preset.id}/checks).",
            status=422,
            field="check",
        )
    chosen = list(enumerate(checks))
    if check_name:
        chosen = [(i, c) for i, c in chosen if c.name == check_name]
        if not chosen:
            names = ", ".join(f"“{c.name}”" for c in checks)
            raise PlaygroundError(
                f"Version {version.number} has no check named “{check_name}”; its checks: {names}.",
                status=422,
                field="check",
            )
    name = upstream or default_upstream_name()
    if name not in UPSTREAMS or not UPSTREAMS[name].is_available():
        raise PlaygroundError(
            f"Upstream {name!r} is not available here (Yandex needs YC_API_KEY or YC_IAM_TOKEN, and YC_FOLDER_ID); "
            f"available: {', '.join(available_upstreams())}.",
            status=422,
            field="upstream",
        )
    if not 1 <= repeat <= MAX_REPEAT:
        raise PlaygroundError(f"repeat must be from 1 to {MAX_REPEAT}.", status=422, field="repeat")
    attempts = len(chosen) * repeat
    run = CheckRun.objects.create(
        preset=preset,
        preset_version=version.number,
        owner=user,
        upstream=name,
        check_name=check_name or "",
        repeat=repeat,
        concurrency=_effective_concurrency(user=user, requested=concurrency, attempts=attempts),
        source=source,
        total=attempts,
    )
    CheckResult.objects.bulk_create(
        CheckResult(run=run, check_name=check.name, check_index=index, attempt=attempt)
        for index, check in chosen
        for attempt in range(1, repeat + 1)
    )
    return run


async def check_run_start(**kwargs: Any) -> CheckRun:
    """Create a run and execute it in a background task of this worker; returns it at once (queued)."""
    from .runner import check_run_execute

    run = await db(check_run_create, **kwargs)
    task = asyncio.create_task(check_run_execute(run_id=run.pk), name=f"check run {run.pk}")
    _running.add(task)
    task.add_done_callback(_finished)
    return run


def _finished(task: asyncio.Task[Any]) -> None:
    _running.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("a check run failed", exc_info=task.exception())


async def check_runs_shutdown() -> None:
    """Cancel this worker's running check runs (tests, shutdown); their heartbeat then goes stale."""
    tasks = list(_running)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def check_run_cancel(*, user: Any, run: CheckRun) -> CheckRun:
    """Stop starting new attempts (those under way finish); only who started it may."""
    if run.owner_id != user.pk:
        raise PlaygroundError("Only who started a run may cancel it.", status=403)
    if run.state not in (RunState.QUEUED, RunState.RUNNING):
        raise PlaygroundError(f"The run is {run.state}: there is nothing to cancel.", status=409)
    run.cancel_requested = True
    run.save(update_fields=["cancel_requested"])
    return run


def check_add_from_session(*, user: Any, session: RealtimeSession, name: str | None) -> tuple[Preset, schemas.Check]:
    """Add as check: the conversation held in `session` becomes a check of the preset it was started from
    (a new version). 409 for a session from no preset; 403 for a preset one may not change."""
    preset = session.preset
    if preset is None:
        raise PlaygroundError(
            "This session was not started from a preset: save it as a preset first, then add checks to it.",
            status=409,
        )
    visible = preset_selectors.preset_get(user=user, preset_id=preset.pk)
    if visible is None:
        raise PlaygroundError(f"You cannot see the preset {preset.pk} this session came from.", status=404)
    latest = preset_selectors.preset_version_latest(preset=visible)
    existing = [str(c.get("name")) for c in latest.content.get("checks") or [] if isinstance(c, dict)]
    check = check_from_recording(session=session, name=name, taken=set(existing), preset_content=latest.content)
    checks = [*run_checks(version=latest), check]
    updated = checks_replace(user=user, preset=visible, checks=checks)
    return updated, check


# Longer than any sensible spoken turn, well under the 15 MiB of one upload.
MAX_CONSOLE_AUDIO_S = 300.0


async def session_audio_turn(
    *, user: Any, session: RealtimeSession, raw: bytes, filename: str, respond: bool = True
) -> dict[str, Any]:
    """The console's "send an audio file": decoded, resampled to the session's input rate (as the upstream
    reported it), appended and committed as the session's turn detection wants (turns.py), then answered
    unless `respond` is off. 409 for a session that is not live; 422 for a file that is not audio."""
    from playground.realtime import services as realtime_services

    from .audio import AudioError, sound_from_file
    from .turns import Cursor, TurnSpan, audio_turn_send, session_ready

    realtime_services.session_may_change(user=user, session=session)
    if session.state != SessionState.LIVE or not session.relay_channel:
        raise PlaygroundError(f"Session {session.id} is {session.state}, not live: nothing can be sent.", status=409)
    try:
        sound = await asyncio.to_thread(sound_from_file, raw, name=filename or "the file")
    except AudioError as exc:
        raise PlaygroundError(str(exc), status=422, field="file") from None
    if sound.seconds > MAX_CONSOLE_AUDIO_S:
        raise PlaygroundError(
            f"{filename} lasts {sound.seconds:.0f} s; a turn may last {MAX_CONSOLE_AUDIO_S:.0f} s at most.",
            status=422,
            field="file",
        )
    cursor = Cursor(session_id=session.id)
    await session_ready(cursor=cursor)
    rate = cursor.facts.input_rate
    pcm = await asyncio.to_thread(sound.pcm16, rate)
    span = TurnSpan(number=1, said=filename)
    await audio_turn_send(session=session, cursor=cursor, span=span, pcm=pcm, response=None, respond=respond)
    return {
        "filename": filename,
        "seconds": round(sound.seconds, 3),
        "source_rate": sound.rate,
        "rate": rate,
        "first_seq": span.start_seq,
        "trigger_seq": span.trigger_seq,
        "committed_by": "server_vad" if span.note.startswith("the server's VAD ended") else "playground",
        "note": span.note,
    }
