"""Writes for usage: a session's recording accounted into UsageRecords, and budgets set, changed, removed.

`usage_account` is the one writer of records, used by all three ways usage is recorded:
- live, after the recorder wrote a batch holding a `response.done` (live.py): up to the last response;
- when a relay ends its session: the rest, with the tail (audio no response followed);
- `manage.py usage_backfill`: recordings made before usage was recorded, or whatever a dead worker left.
Each accounts from the session's cursor (its last record's seq) on, so running it twice counts nothing
twice. The events are read and tallied outside any transaction (on SQLite one would hold the database's
write lock meanwhile, and stall the recorder); the write then checks, under a per-session lock, that no
other writer moved the cursor meanwhile, and tallies again if one did.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from playground.errors import PlaygroundError
from playground.realtime.models import RealtimeSession
from playground.realtime.reading import frames_last, frames_read
from playground.teams.models import Membership, Role, Team

from . import accounting, audio, selectors
from .models import Budget, BudgetAlert, UsageRecord

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, key): the namespace keeps usage's locks apart from the gate's ("us").
_LOCK_NAMESPACE = 0x7573
_ATTEMPTS = 5


def _lock(session_key: uuid.UUID) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_NAMESPACE, session_key.int & 0x7FFF_FFFF])
    # SQLite: every transaction begins IMMEDIATE (settings.py), which already is one writer at a time.


def _cursor(session_key: uuid.UUID) -> int:
    return UsageRecord.objects.filter(session_key=session_key).aggregate(m=Max("seq"))["m"] or 0


def _formats_at(session_id: uuid.UUID, seq: int) -> tuple[audio.Format, audio.Format]:
    """Each side's format as the last session.created/updated at or before `seq` set it."""
    fmt_in = fmt_out = audio.Format()
    if seq <= 0:
        return fmt_in, fmt_out
    tally = accounting.Tally(after=0, fmt_in=fmt_in, fmt_out=fmt_out)
    for f in frames_read(session_id=session_id, upto=seq, direction="server", types=audio.SESSION_TYPES, audio="ref"):
        tally.feed(f.seq, f.direction, f.ts, f.type, f.data)
    fmt_in, fmt_out = tally.fmt_in, tally.fmt_out
    return fmt_in, fmt_out


def _record(session: RealtimeSession, figure: accounting.Figure, prices: dict[str, Any]) -> UsageRecord:
    return UsageRecord(
        session=session,
        session_key=session.pk,
        user_id=session.owner_id,
        team_id=session.team_id,
        preset_id=session.preset_id,
        upstream=session.upstream,
        first_seq=figure.first_seq,
        seq=figure.seq,
        response_id=figure.response_id,
        status=figure.status,
        at=datetime.fromtimestamp(figure.ts, tz=UTC),
        audio_in_seconds=round(figure.audio_in_seconds, 6),
        audio_out_seconds=round(figure.audio_out_seconds, 6),
        cost=figure.cost(prices),
        currency=str(prices.get("currency", "")),
        prices=prices,
        **figure.tokens,
    )


def usage_account(*, session_id: Any, final: bool = False) -> list[UsageRecord]:
    """Record the usage of `session_id`'s responses not yet accounted (with `final`, also its tail);
    returns the new records. Sync ORM code: call it through playground.db."""
    session = RealtimeSession.objects.filter(pk=session_id).first()
    if session is None:
        return []
    prices = dict(settings.PLAYGROUND_PRICES)  # the prices used, kept beside each figure
    for _ in range(_ATTEMPTS):
        cursor = _cursor(session.pk)
        fmt_in, fmt_out = _formats_at(session.pk, cursor)
        frames = frames_read(session_id=session.pk, after=cursor, types=audio.USAGE_TYPES, audio="ref")
        rows = ((f.seq, f.direction, f.ts, f.type, f.data) for f in frames)
        figures, tally = accounting.tally_events(rows, after=cursor, fmt_in=fmt_in, fmt_out=fmt_out)
        if final:
            last = frames_last(session_id=session.pk)
            if last is not None:
                tail = tally.tail(last_seq=last.seq, last_ts=last.ts, always=cursor == 0 and not figures)
                if tail is not None:
                    figures.append(tail)
        if not figures:
            return []
        records = [_record(session, f, prices) for f in figures]
        with transaction.atomic():
            _lock(session.pk)
            if _cursor(session.pk) != cursor:
                continue  # another writer accounted part of it meanwhile: tally again from its cursor
            UsageRecord.objects.bulk_create(records)
        return records
    log.warning("usage of session %s: the cursor kept moving; left for the next accounting", session_id)
    return []


def usage_recompute(*, session_id: Any) -> list[UsageRecord]:
    """Forget a session's records and account its whole recording again, with today's prices."""
    with transaction.atomic():
        UsageRecord.objects.filter(session_key=session_id).delete()
    return usage_account(session_id=session_id, final=True)


# --- budgets ----------------------------------------------------------------------------------------------


def _may_set(*, actor: Any, team: Team | None) -> None:
    if actor.is_staff or actor.is_superuser:
        return
    if team is None:
        raise PlaygroundError(
            "Only an admin (a Django staff user) can set a budget on a user's whole usage; a team's owners "
            "set budgets on their team and its members.",
            status=403,
            field="user",
        )
    if not Membership.objects.filter(team=team, user=actor, role=Role.OWNER).exists():
        raise PlaygroundError(
            f"Only an owner of {team.name} or an admin can set or change its budgets.", status=403, field="team"
        )


def _limits_check(cost_limit: Decimal | None, audio_minutes_limit: Decimal | None) -> None:
    if cost_limit is None and audio_minutes_limit is None:
        raise PlaygroundError(
            "Give cost_limit (estimated cost a month), audio_minutes_limit (audio minutes a month, both ways), "
            "or both.",
            status=422,
            field="cost_limit",
        )


def budget_create(
    *,
    actor: Any,
    team_id: Any = None,
    username: str | None = None,
    cost_limit: Decimal | None = None,
    audio_minutes_limit: Decimal | None = None,
    alert_percent: int = 80,
) -> Budget:
    """A monthly budget on a team, a member in a team, or (admins only) a user's whole usage."""
    if team_id is None and not username:
        raise PlaygroundError("Give a team, a user, or both (a member's budget in a team).", status=422, field="team")
    team = None
    if team_id is not None:
        team = Team.objects.filter(pk=team_id).first()
        visible = team is not None and (
            actor.is_staff or actor.is_superuser or Membership.objects.filter(team=team, user=actor).exists()
        )
        if not visible:
            raise PlaygroundError(f"You are in no team {team_id}.", status=422, field="team")
    _may_set(actor=actor, team=team)
    user = None
    if username and team is not None:
        # The same words whether or not such a user exists: an owner learns only about their own team.
        membership = Membership.objects.filter(team=team, user__username=username).select_related("user").first()
        if membership is None:
            raise PlaygroundError(f"{username} is not a member of {team.name}.", status=422, field="user")
        user = membership.user
    elif username:
        user = selectors.user_by_username(username)
        if user is None:
            raise PlaygroundError(f"No user {username!r}.", status=422, field="user")
    _limits_check(cost_limit, audio_minutes_limit)
    if Budget.objects.filter(team=team, user=user).exists():
        raise PlaygroundError(
            "That scope already has a budget: change it (PATCH /api/budgets/{id}) rather than adding another.",
            status=409,
            field="team" if user is None else "user",
        )
    return Budget.objects.create(
        team=team,
        user=user,
        cost_limit=cost_limit,
        audio_minutes_limit=audio_minutes_limit,
        alert_percent=alert_percent,
        created_by=actor,
    )


def budget_change(*, actor: Any, budget: Budget, fields: dict[str, Any]) -> Budget:
    """Raise, lower or clear a limit, or move the alert; a month's alert is announced again after a change."""
    _may_set(actor=actor, team=budget.team)
    for name in ("cost_limit", "audio_minutes_limit", "alert_percent"):
        if name in fields:
            setattr(budget, name, fields[name])
    _limits_check(budget.cost_limit, budget.audio_minutes_limit)
    with transaction.atomic():
        budget.save()
        BudgetAlert.objects.filter(budget=budget, period_start=selectors.period_start(timezone.now()).date()).delete()
    return budget


def budget_delete(*, actor: Any, budget: Budget) -> None:
    _may_set(actor=actor, team=budget.team)
    budget.delete()


def budget_alerts_take(*, budgets: list[Budget], now: datetime) -> list[Budget]:
    """Of `budgets` (each past its alert), the ones whose alert this month was not yet announced: marked now."""
    period = selectors.period_start(now).date()
    taken = []
    for budget in budgets:
        with transaction.atomic():
            _, created = BudgetAlert.objects.get_or_create(budget=budget, period_start=period)
        if created:
            taken.append(budget)
    return taken
