"""REST: usage summed by group over a date range (JSON and CSV), one session's usage, and budgets.

No `from __future__ import annotations` here: Ninja reads the schemas from the real annotations.
"""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Status

from playground.accounts.auth import api_auth
from playground.db import db
from playground.errors import PlaygroundError
from playground.realtime import selectors as realtime_selectors
from playground.realtime.models import RealtimeSession
from playground.schemas import ErrorOut

from . import selectors, services
from .models import Budget, UsageRecord
from .schemas import BudgetChangeIn, BudgetIn, BudgetOut, SessionUsageOut, UsageOut, UsageQuery

router = Router(auth=api_auth, tags=["usage"])

_FIGURES = ("sessions", "responses", "audio_in_seconds", "audio_out_seconds")
CSV_COLUMNS = ("key", "label", *_FIGURES, *selectors.TOKEN_SUMS, "cost")
# A spreadsheet runs a cell that starts with one of these as a formula: such a label is quoted with '.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _user(request: HttpRequest) -> Any:
    return request.auth  # type: ignore[attr-defined]


def _range(query: UsageQuery) -> tuple[dt.date, dt.date]:
    today = timezone.now().astimezone(dt.UTC).date()
    since = query.from_ or today.replace(day=1)
    until = query.to or max(today, since)
    if since > until:
        raise PlaygroundError(f"to ({until}) is before from ({since}).", status=422, field="to")
    if query.interval is not None and query.group_by in selectors.INTERVALS:
        raise PlaygroundError(
            "interval goes with group_by user, preset, team or upstream; a time group_by is its own interval.",
            status=422,
            field="interval",
        )
    return since, until


def _usage(*, user: Any, query: UsageQuery) -> dict[str, Any]:
    since, until = _range(query)
    records = selectors.usage_filtered(
        user=user,
        since=since,
        until=until,
        team_id=query.team,
        username=query.user,
        preset_id=query.preset,
        upstream=query.upstream,
    )
    return {
        "group_by": query.group_by,
        "interval": query.interval,
        "from": since,
        "to": until,
        "currency": str(settings.PLAYGROUND_PRICES.get("currency", "")),
        "rows": selectors.usage_rows(records=records, group_by=query.group_by, interval=query.interval),
        "totals": selectors.usage_totals(records=records),
    }


@router.get("/usage", response={200: UsageOut, 403: ErrorOut, 422: ErrorOut}, by_alias=True)
async def usage(request: HttpRequest, query: Query[UsageQuery]) -> dict[str, Any]:
    """Usage summed per `group_by` from `from` to `to` (whole days, UTC): sessions, responses, audio seconds in
    and out, tokens in and out (text, audio, cached) and the estimated cost.

    Yours; a team's owners also see its sessions' (every member's), admins everyone's. `interval` splits each
    group's row per day, week or month (`period`). `GET /api/usage.csv` answers the same rows as CSV."""
    return await db(_usage, user=_user(request), query=query)


def csv_cell(value: Any) -> Any:
    """A cell as written: nothing for null, and text a spreadsheet would run as a formula (a preset's name, a
    username may start with `+`, `-`, `=` or `@`) quoted with a leading '."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(data: dict[str, Any]) -> str:
    """The rows of a usage answer as CSV: a header, then one line per row (period first, with an interval)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = (("period",) if data["interval"] else ()) + CSV_COLUMNS + ("currency",)
    writer.writerow(columns)
    for row in data["rows"]:
        cells = {**row, "currency": data["currency"]}
        writer.writerow([csv_cell(cells[c]) for c in columns])
    return out.getvalue()


@router.get(
    "/usage.csv",
    response={200: None, 403: ErrorOut, 422: ErrorOut},
    openapi_extra={
        "responses": {
            200: {
                "description": "The rows of GET /api/usage as CSV (a label a spreadsheet would run is quoted with ')",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        }
    },
)
async def usage_csv(request: HttpRequest, query: Query[UsageQuery]) -> HttpResponse:
    """The same rows as `GET /api/usage`, as a CSV file to download."""
    data = await db(_usage, user=_user(request), query=query)
    response = HttpResponse(csv_text(data), content_type="text/csv; charset=utf-8")
    name = f"usage-by-{data['group_by']}-{data['from']}-{data['to']}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _record_out(record: UsageRecord) -> dict[str, Any]:
    return {
        **{f: getattr(record, f) for f in ("seq", "first_seq", "response_id", "status", "at", "currency", "prices")},
        **{f: getattr(record, f) for f in selectors.TOKEN_SUMS},
        "audio_in_seconds": round(record.audio_in_seconds, 3),
        "audio_out_seconds": round(record.audio_out_seconds, 3),
        "cost": float(record.cost),
    }


def _session_usage(*, user: Any, session_id: str) -> dict[str, Any]:
    """Its owner's, its team's owners' and admins' to read; one who may only read the recording gets 403."""
    try:
        pk = uuid.UUID(session_id)
    except ValueError:
        raise PlaygroundError(f"No session {session_id}.", status=404) from None
    records = selectors.usage_visible(user=user).filter(session_key=pk)
    session = realtime_selectors.session_get(user=user, session_id=pk)
    if session is not None:
        may = session.owner_id == user.pk or selectors.is_admin(user)
        if not (may or session.team_id in selectors.owned_team_ids(user=user)):
            raise PlaygroundError(
                f"You may read session {pk}, but what it used is for its owner, its team's owners and admins.",
                status=403,
            )
    elif not (records.exists() or (selectors.is_admin(user) and RealtimeSession.objects.filter(pk=pk).exists())):
        raise PlaygroundError(f"No session {session_id}.", status=404)
    return {
        "session": str(pk),
        "totals": selectors.usage_totals(records=records),
        "records": [_record_out(r) for r in records.order_by("seq")],
    }


@router.get("/sessions/{session_id}/usage", response={200: SessionUsageOut, 403: ErrorOut, 404: ErrorOut})
async def session_usage(request: HttpRequest, session_id: str) -> dict[str, Any]:
    """A session's usage, response by response (plus its tail: audio after the last response, once it ended),
    each with the prices it was estimated with. For its owner, its team's owners and admins."""
    return await db(_session_usage, user=_user(request), session_id=session_id)


# --- budgets ----------------------------------------------------------------------------------------------


def budget_out(*, user: Any, budget: Budget, now: dt.datetime) -> dict[str, Any]:
    status = selectors.budget_status(budget, now=now)
    return {
        "id": str(budget.pk),
        "scope": selectors.budget_scope_words(budget),
        "team": {"id": str(budget.team.pk), "name": budget.team.name} if budget.team is not None else None,
        "user": budget.user.get_username() if budget.user is not None else None,
        "cost_limit": None if budget.cost_limit is None else float(budget.cost_limit),
        "audio_minutes_limit": None if budget.audio_minutes_limit is None else float(budget.audio_minutes_limit),
        "alert_percent": budget.alert_percent,
        "currency": str(settings.PLAYGROUND_PRICES.get("currency", "")),
        "spent_cost": float(status.spent_cost),
        "spent_audio_minutes": round(status.spent_audio_minutes, 3),
        "used_percent": round(min(status.ratio, 1e6) * 100, 1),
        "state": status.state,
        "period_start": status.starts,
        "resets_at": status.resets,
        "can_change": selectors.budget_can_change(user=user, budget=budget),
    }


def budgets_out(*, user: Any) -> list[dict[str, Any]]:
    now = timezone.now()
    return [budget_out(user=user, budget=b, now=now) for b in selectors.budgets_visible(user=user)]


def _decimal(value: float | None, places: str) -> Decimal | None:
    return None if value is None else Decimal(str(value)).quantize(Decimal(places))


def _budget_create(*, user: Any, payload: BudgetIn) -> dict[str, Any]:
    budget = services.budget_create(
        actor=user,
        team_id=payload.team,
        username=payload.user,
        cost_limit=_decimal(payload.cost_limit, "0.000001"),
        audio_minutes_limit=_decimal(payload.audio_minutes_limit, "0.01"),
        alert_percent=payload.alert_percent,
    )
    return budget_out(user=user, budget=budget, now=timezone.now())


def _budget_or_404(*, user: Any, budget_id: str) -> Budget:
    budget = selectors.budget_get(user=user, budget_id=budget_id)
    if budget is None:
        raise PlaygroundError(f"No budget {budget_id}.", status=404)
    return budget


def _budget_change(*, user: Any, budget_id: str, payload: BudgetChangeIn) -> dict[str, Any]:
    budget = _budget_or_404(user=user, budget_id=budget_id)
    fields = payload.model_dump(exclude_unset=True)
    if fields.get("alert_percent", 0) is None:
        raise PlaygroundError("alert_percent: give a percentage from 1 to 100.", status=422, field="alert_percent")
    if "cost_limit" in fields:
        fields["cost_limit"] = _decimal(fields["cost_limit"], "0.000001")
    if "audio_minutes_limit" in fields:
        fields["audio_minutes_limit"] = _decimal(fields["audio_minutes_limit"], "0.01")
    services.budget_change(actor=user, budget=budget, fields=fields)
    return budget_out(user=user, budget=budget, now=timezone.now())


def _budget_delete(*, user: Any, budget_id: str) -> None:
    services.budget_delete(actor=user, budget=_budget_or_404(user=user, budget_id=budget_id))


@router.get("/budgets", response=list[BudgetOut])
async def budget_list(request: HttpRequest) -> list[dict[str, Any]]:
    """Budgets that bind me (mine, my teams', mine in a team), every budget of a team I own (admins: all), each
    with this month's spend and state: ok, alert (past `alert_percent`) or exceeded (new sessions refused)."""
    return await db(budgets_out, user=_user(request))


@router.post("/budgets", response={201: BudgetOut, 403: ErrorOut, 409: ErrorOut, 422: ErrorOut})
async def budget_create(request: HttpRequest, payload: BudgetIn) -> Status[dict[str, Any]]:
    """Set a monthly budget: on a team (its owners; admins), a member in a team (`team` and `user`), or a user's
    whole usage (`user` alone: admins, i.e. Django staff or superusers)."""
    return Status(201, await db(_budget_create, user=_user(request), payload=payload))


@router.patch("/budgets/{budget_id}", response={200: BudgetOut, 403: ErrorOut, 404: ErrorOut, 422: ErrorOut})
async def budget_change(request: HttpRequest, budget_id: str, payload: BudgetChangeIn) -> dict[str, Any]:
    """Raise or lower a budget's limits (null removes one; one must stay) or move its alert."""
    return await db(_budget_change, user=_user(request), budget_id=budget_id, payload=payload)


@router.delete("/budgets/{budget_id}", response={204: None, 403: ErrorOut, 404: ErrorOut})
async def budget_delete(request: HttpRequest, budget_id: str) -> Status[None]:
    await db(_budget_delete, user=_user(request), budget_id=budget_id)
    return Status(204, None)
