"""REST: a preset's checks, their runs and results; "Add as check" and "send an audio file" for a session.

No `from __future__ import annotations` here: Ninja reads these annotations at run time.
"""

from typing import Any, Literal

from django.http import HttpRequest
from django.urls import reverse
from ninja import Field, File, Form, Query, Router, Schema, Status, UploadedFile

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.presets import selectors as preset_selectors
from playground.presets.models import Preset
from playground.realtime import selectors as realtime_selectors
from playground.schemas import ErrorOut

from . import selectors, services
from .models import AssertionResult, CheckResult, CheckRun
from .schemas import Checks, check_to_json

router = Router(auth=api_auth, tags=["checks"])

MAX_UPLOAD_BYTES = 15 * 1024 * 1024


class ChecksIn(Schema):
    checks: Checks = Field(..., description="Every check of the preset (docs/checks.md).")


class ChecksOut(Schema):
    preset: str
    version: int
    checks: list[dict[str, Any]]


class CheckRunIn(Schema):
    check: str | None = Field(None, max_length=100, description="One check by name; default: all of them.")
    upstream: Literal["emulator", "yandex"] | None = Field(
        None, description="Default: yandex when configured, else the emulator."
    )
    repeat: int = Field(1, ge=1, le=services.MAX_REPEAT, description="Runs of each check (a pass rate).")
    concurrency: int | None = Field(
        None, ge=1, le=services.MAX_CONCURRENCY, description="Sessions at once (default 2), within the limits."
    )
    version: int | None = Field(None, ge=1, description="A preset version; default: the latest.")


class RunListQuery(Schema):
    limit: int = Field(30, ge=1, le=200)


class AssertionOut(Schema):
    turn: int
    index: int
    type: str
    label: str
    status: Literal["passed", "failed", "not_run", "error"]
    reason: str
    seq: int | None
    value: Any = None
    replay_url: str | None = Field(None, description="The replay, opened at the event the verdict is about.")


class ResultOut(Schema):
    id: int
    check: str
    attempt: int
    status: Literal["pending", "running", "passed", "failed", "error", "incomplete", "cancelled"]
    reason: str
    session: str | None
    replay_url: str | None
    first_delta_ms: float | None
    done_ms: float | None
    started_at: Any = None
    finished_at: Any = None
    turns: list[dict[str, Any]] | None = None
    assertions: list[AssertionOut] | None = None


class RefOut(Schema):
    id: str
    name: str


class CheckRunOut(Schema):
    id: str
    preset: RefOut
    version: int
    upstream: str
    check: str | None
    repeat: int
    concurrency: int
    source: str
    state: Literal["queued", "running", "finished", "cancelled", "interrupted"]
    message: str
    total: int
    done: int
    passed: int
    failed: int
    errors: int
    incomplete: int
    owner: str
    created_at: Any
    started_at: Any = None
    finished_at: Any = None
    results: list[ResultOut]


class AddCheckIn(Schema):
    name: str | None = Field(None, max_length=100, description="Default: “From session <id>”.")


class AddCheckOut(Schema):
    preset: RefOut
    version: int
    check: dict[str, Any]
    preset_url: str


class AudioTurnOut(Schema):
    filename: str
    seconds: float
    source_rate: int
    rate: int = Field(..., description="The session's input rate the audio was resampled to.")
    first_seq: int
    trigger_seq: int | None
    committed_by: Literal["server_vad", "playground"]
    note: str


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _replay_url(session_id: Any, seq: int | None = None) -> str | None:
    if session_id is None:
        return None
    url = reverse("replay", args=[session_id])
    return f"{url}#seq={seq}" if seq else url


def _assertion_out(row: AssertionResult, session_id: Any) -> dict[str, Any]:
    return {
        "turn": row.turn,
        "index": row.index,
        "type": row.type,
        "label": row.label,
        "status": row.status,
        "reason": row.reason,
        "seq": row.seq,
        "value": row.value,
        "replay_url": _replay_url(session_id, row.seq) if row.seq else None,
    }


def result_out(result: CheckResult, *, full: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": result.pk,
        "check": result.check_name,
        "attempt": result.attempt,
        "status": result.status,
        "reason": result.reason,
        "session": str(result.session_id) if result.session_id else None,
        "replay_url": _replay_url(result.session_id),
        "first_delta_ms": result.first_delta_ms,
        "done_ms": result.done_ms,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
    }
    if full:
        out["turns"] = result.turns
        out["assertions"] = [_assertion_out(a, result.session_id) for a in result.assertions.all()]
    return out


def run_out(run: CheckRun, *, full: bool = False) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "preset": {"id": str(run.preset_id), "name": run.preset.name},
        "version": run.preset_version,
        "upstream": run.upstream,
        "check": run.check_name or None,
        "repeat": run.repeat,
        "concurrency": run.concurrency,
        "source": run.source,
        "state": selectors.run_state(run),
        "message": run.message,
        "total": run.total,
        "done": run.done,
        "passed": run.passed,
        "failed": run.failed,
        "errors": run.errors,
        "incomplete": run.incomplete,
        "owner": run.owner.get_username(),
        "created_at": run.created_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "results": [result_out(r, full=full) for r in run.results.all()],
    }


async def _preset(request: HttpRequest, preset_id: str) -> Preset:
    preset = await db(preset_selectors.preset_get, user=_user(request), preset_id=preset_id)
    if preset is None:
        raise PlaygroundError(f"No preset {preset_id}.", status=404)
    return preset


def _checks_out(preset: Preset) -> dict[str, Any]:
    latest = preset_selectors.preset_version_latest(preset=preset)
    return {"preset": str(preset.id), "version": latest.number, "checks": list(latest.content.get("checks") or [])}


async def _run(request: HttpRequest, run_id: str, *, full: bool = True) -> CheckRun:
    run = await db(selectors.check_run_get, user=_user(request), run_id=run_id, full=full)
    if run is None:
        raise PlaygroundError(f"No check run {run_id}.", status=404)
    return run


@router.get("/presets/{preset_id}/checks", response={200: ChecksOut, 404: ErrorOut})
async def checks_list(request: HttpRequest, preset_id: str) -> Any:
    """The checks of the preset's latest version."""
    return await db(_checks_out, await _preset(request, preset_id))


@router.put(
    "/presets/{preset_id}/checks", response={200: ChecksOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut}
)
async def checks_replace(request: HttpRequest, preset_id: str, payload: ChecksIn) -> Any:
    """Replace the preset's checks: a new version, the rest of its content unchanged. A bad check is refused
    naming its field (`checks[0].turns[1].expect[0].max_ms`), and nothing is saved."""
    preset = await _preset(request, preset_id)

    def work() -> dict[str, Any]:
        return _checks_out(services.checks_replace(user=_user(request), preset=preset, checks=payload.checks))

    return await db(work)


@router.post(
    "/presets/{preset_id}/check-runs",
    response={202: CheckRunOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
async def check_run_create(request: HttpRequest, preset_id: str, payload: CheckRunIn) -> Status[Any]:
    """Run the checks (all, or `check`) of the latest version (or `version`), each `repeat` times, against an
    upstream; every attempt is a recorded session. Answers at once; follow it with GET /api/check-runs/{id}."""
    preset = await _preset(request, preset_id)
    run = await services.check_run_start(
        user=_user(request),
        preset=preset,
        version_number=payload.version,
        check_name=payload.check,
        upstream=payload.upstream,
        repeat=payload.repeat,
        concurrency=payload.concurrency,
        # A bearer token is a script's; the login cookie, the preset page's.
        source="api" if request.headers.get("Authorization", "").lower().startswith("bearer ") else "page",
    )
    return Status(202, run_out(await _run(request, str(run.pk), full=False)))


@router.get("/presets/{preset_id}/check-runs", response={200: list[CheckRunOut], 404: ErrorOut, 422: ErrorOut})
async def check_run_list(request: HttpRequest, preset_id: str, query: Query[RunListQuery]) -> Any:
    """The preset's runs I may see, newest first, with each attempt's verdict and latency (the Checks tab's
    matrix and history); assertions are in GET /api/check-runs/{id}."""
    preset = await _preset(request, preset_id)
    runs = await db(selectors.check_runs_of_preset, user=_user(request), preset=preset, limit=query.limit)
    return [run_out(r) for r in runs]


@router.get("/check-runs/{run_id}", response={200: CheckRunOut, 404: ErrorOut})
async def check_run_detail(request: HttpRequest, run_id: str) -> Any:
    """A run with every attempt: its turns (what was said, the answer, calls, latencies, tokens) and each
    assertion's verdict with its reason and a link to that moment of the replay."""
    return run_out(await _run(request, run_id), full=True)


@router.post("/check-runs/{run_id}/cancel", response={200: CheckRunOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut})
async def check_run_cancel(request: HttpRequest, run_id: str) -> Any:
    """Start no more attempts; those under way finish."""
    run = await _run(request, run_id)
    await db(services.check_run_cancel, user=_user(request), run=run)
    return run_out(await _run(request, run_id), full=True)


@router.post(
    "/sessions/{session_id}/check",
    response={201: AddCheckOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 422: ErrorOut},
)
async def session_add_as_check(request: HttpRequest, session_id: str, payload: AddCheckIn) -> Status[Any]:
    """Add as check: the conversation held in this session becomes a check of the preset it was started
    from (a new version): each answered turn, expecting its response status and the function it called (or
    none). 409 when the session came from no preset or has no answered turn."""

    def work() -> dict[str, Any]:
        session = realtime_selectors.session_get_or_404(user=_user(request), session_id=session_id)
        preset, check = services.check_add_from_session(user=_user(request), session=session, name=payload.name)
        latest = preset_selectors.preset_version_latest(preset=preset)
        return {
            "preset": {"id": str(preset.id), "name": preset.name},
            "version": latest.number,
            "check": check_to_json(check),
            "preset_url": reverse("preset", args=[preset.id]) + "#checks",
        }

    return Status(201, await db(work))


@router.post(
    "/sessions/{session_id}/audio-turn",
    response={200: AudioTurnOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 422: ErrorOut},
    tags=["sessions"],
)
async def session_audio_turn(
    request: HttpRequest, session_id: str, file: File[UploadedFile], respond: Form[bool] = True
) -> Any:
    """Send an audio file (WAV, MP3, OGG, FLAC; up to 15 MiB) as the user's turn: decoded, resampled to the
    session's input rate, appended and committed (with server VAD: followed by silence so the VAD ends the
    turn), then answered with response.create unless `respond` is false or the VAD answers by itself."""
    session = await db(realtime_selectors.session_get_or_404, user=_user(request), session_id=session_id)
    if file.size is not None and file.size > MAX_UPLOAD_BYTES:
        raise PlaygroundError(f"The file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.", status=413, field="file")
    file.seek(0)  # Ninja may have read it already (the multipart parser leaves it at its end)
    raw = file.read()
    return await services.session_audio_turn(
        user=_user(request), session=session, raw=raw, filename=file.name or "audio", respond=respond
    )
