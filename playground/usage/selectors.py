"""Reads for usage: who may see what, usage summed by a group over a date range, budgets and their month.

Who sees what (docs/usage.md): everyone their own usage; a team's owners the usage of that team's sessions
(all its members'); admins (Django staff or superusers) everyone's. A team's plain members and viewers see
only their own usage in it. Budgets: those that bind a user are shown to that user (spent and limit only,
never who spent it), and all of a team's to its owners.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from playground.errors import PlaygroundError
from playground.teams.models import Membership, Role, Team

from .models import Budget, UsageRecord

GROUPS = ("user", "preset", "team", "upstream", "day", "week", "month")
INTERVALS = ("day", "week", "month")
_TRUNC = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}
_KEYS = {"user": "user__username", "preset": "preset_id", "team": "team_id", "upstream": "upstream"}
_LABELS = {"user": "user__username", "preset": "preset__name", "team": "team__name", "upstream": "upstream"}
_NONE_LABEL = {"user": "(deleted user)", "preset": "(no preset)", "team": "(no team)", "upstream": "(none)"}
TOKEN_SUMS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "output_text_tokens",
    "output_audio_tokens",
)


def is_admin(user: Any) -> bool:
    return bool(getattr(user, "is_staff", False) or getattr(user, "is_superuser", False))


def user_by_username(username: str) -> Any:
    return get_user_model().objects.filter(username=username).first()


def owned_team_ids(*, user: Any) -> list[Any]:
    return list(Membership.objects.filter(user=user, role=Role.OWNER).values_list("team_id", flat=True))


# --- the month a budget counts -----------------------------------------------------------------------------


def period_start(now: dt.datetime) -> dt.datetime:
    """The start of `now`'s calendar month, UTC: budgets count from there."""
    now = now.astimezone(dt.UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def period_end(now: dt.datetime) -> dt.datetime:
    """When the month of `now` ends and budgets start again from nothing."""
    start = period_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


# --- usage, visible and grouped -----------------------------------------------------------------------------


def usage_visible(*, user: Any) -> QuerySet[UsageRecord]:
    if is_admin(user):
        return UsageRecord.objects.all()
    return UsageRecord.objects.filter(Q(user=user) | Q(team_id__in=owned_team_ids(user=user)))


def usage_filtered(
    *,
    user: Any,
    since: dt.date,
    until: dt.date,
    team_id: Any = None,
    username: str | None = None,
    preset_id: Any = None,
    upstream: str | None = None,
) -> QuerySet[UsageRecord]:
    """The records `user` may see from `since` to `until` (whole days, UTC, both included), filtered.

    Refused in words: a team they are not in (422, field team), another user's usage when they own no team
    of that user's and are no admin (403, field user)."""
    qs = usage_visible(user=user)
    if team_id is not None:
        if not (is_admin(user) or Membership.objects.filter(team_id=team_id, user=user).exists()):
            raise PlaygroundError(f"You are in no team {team_id}.", status=422, field="team")
        qs = qs.filter(team_id=team_id)
    if username:
        if username != user.get_username() and not is_admin(user):
            shared = Membership.objects.filter(team_id__in=owned_team_ids(user=user), user__username=username).exists()
            if not shared:
                raise PlaygroundError(
                    f"You can see your own usage only; {username}'s is for the owners of their teams and admins.",
                    status=403,
                    field="user",
                )
        qs = qs.filter(user__username=username)
    if preset_id is not None:
        qs = qs.filter(preset_id=preset_id)
    if upstream:
        qs = qs.filter(upstream=upstream)
    start = dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC)
    end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return qs.filter(at__gte=start, at__lt=end)


def _sums() -> dict[str, Any]:
    return {
        "sessions": Count("session_key", distinct=True),
        "responses": Count("pk", filter=~Q(response_id="")),
        "audio_in_seconds": Sum("audio_in_seconds"),
        "audio_out_seconds": Sum("audio_out_seconds"),
        "cost": Sum("cost"),
        **{name: Sum(name) for name in TOKEN_SUMS},
    }


def _figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "sessions": row["sessions"] or 0,
        "responses": row["responses"] or 0,
        "audio_in_seconds": round(row["audio_in_seconds"] or 0.0, 3),
        "audio_out_seconds": round(row["audio_out_seconds"] or 0.0, 3),
        **{name: int(row[name] or 0) for name in TOKEN_SUMS},
        "cost": float(round(row["cost"] or Decimal(0), 6)),
    }


def _period_key(value: Any, interval: str) -> str:
    day = value.date() if isinstance(value, dt.datetime) else value
    return day.strftime("%Y-%m") if interval == "month" else day.isoformat()


def usage_rows(*, records: QuerySet[UsageRecord], group_by: str, interval: str | None = None) -> list[dict[str, Any]]:
    """Sums of `records` per group (and per period of `interval`), in the API's row shape, largest cost first
    (by period first when there are periods; time groups in time order)."""
    time_group = group_by in _TRUNC
    values: list[str] = []
    qs: Any = records
    if time_group or interval:
        period = group_by if time_group else interval
        assert period is not None
        qs = qs.annotate(period=_TRUNC[period]("at", tzinfo=dt.UTC))
        values.append("period")
    if not time_group:
        qs = qs.annotate(group_key=F(_KEYS[group_by]), group_label=F(_LABELS[group_by]))
        values += ["group_key", "group_label"]
    rows = []
    for row in qs.order_by().values(*values).annotate(**_sums()):
        period_value = (
            _period_key(row["period"], group_by if time_group else str(interval)) if values[0] == "period" else None
        )
        if time_group:
            key, label = period_value, period_value
        else:
            key = None if row["group_key"] is None else str(row["group_key"])
            label = row["group_label"] if row["group_label"] is not None else _NONE_LABEL[group_by]
        rows.append({"period": None if time_group else period_value, "key": key, "label": label, **_figures(row)})
    if time_group:
        rows.sort(key=lambda r: r["key"])
    else:
        rows.sort(key=lambda r: (r["period"] or "", -r["cost"], r["label"]))
    return rows


def usage_totals(*, records: QuerySet[UsageRecord]) -> dict[str, Any]:
    return _figures(records.order_by().aggregate(**_sums()))


# --- budgets ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    budget: Budget
    spent_cost: Decimal
    spent_audio_minutes: float
    starts: dt.datetime
    resets: dt.datetime

    @property
    def cost_ratio(self) -> float | None:
        limit = self.budget.cost_limit
        return None if limit is None else (float(self.spent_cost / limit) if limit > 0 else float("inf"))

    @property
    def audio_ratio(self) -> float | None:
        limit = self.budget.audio_minutes_limit
        return None if limit is None else (self.spent_audio_minutes / float(limit) if limit > 0 else float("inf"))

    @property
    def ratio(self) -> float:
        """The larger share used of its limits (1.0: used up)."""
        return max(r for r in (self.cost_ratio, self.audio_ratio, 0.0) if r is not None)

    @property
    def state(self) -> str:
        if self.ratio >= 1:
            return "exceeded"
        return "alert" if self.ratio * 100 >= self.budget.alert_percent else "ok"


def budget_records(budget: Budget) -> QuerySet[UsageRecord]:
    """The records a budget counts (any time; budget_status takes its month)."""
    qs = UsageRecord.objects.all()
    if budget.team_id is not None:
        qs = qs.filter(team_id=budget.team_id)
    if budget.user_id is not None:
        qs = qs.filter(user_id=budget.user_id)
    return qs


def budget_status(budget: Budget, *, now: dt.datetime) -> BudgetStatus:
    start = period_start(now)
    sums = (
        budget_records(budget)
        .filter(at__gte=start)
        .aggregate(cost=Sum("cost"), audio_in=Sum("audio_in_seconds"), audio_out=Sum("audio_out_seconds"))
    )
    return BudgetStatus(
        budget=budget,
        spent_cost=sums["cost"] or Decimal(0),
        spent_audio_minutes=((sums["audio_in"] or 0.0) + (sums["audio_out"] or 0.0)) / 60,
        starts=start,
        resets=period_end(now),
    )


def budget_ran_out_at(status: BudgetStatus) -> dt.datetime:
    """When the month's records first reached a limit of a used-up budget (with today's limits): the responses
    of live sessions started after it are cut, those running since before it end first."""
    budget, cost, seconds = status.budget, Decimal(0), 0.0
    rows = (
        budget_records(budget)
        .filter(at__gte=status.starts)
        .order_by("at", "seq")
        .values_list("at", "cost", "audio_in_seconds", "audio_out_seconds")
    )
    for at, record_cost, audio_in, audio_out in rows.iterator(chunk_size=500):
        cost, seconds = cost + record_cost, seconds + audio_in + audio_out
        if (budget.cost_limit is not None and cost >= budget.cost_limit) or (
            budget.audio_minutes_limit is not None and seconds / 60 >= float(budget.audio_minutes_limit)
        ):
            return at
    return status.starts  # a limit of 0 is used up from the month's start


def budgets_binding(*, user_id: Any, team_id: Any) -> list[Budget]:
    """The budgets a session of `user_id` opened in `team_id` (or none) counts against."""
    scope = Q(user_id=user_id, team__isnull=True)
    if team_id is not None:
        scope |= Q(team_id=team_id, user__isnull=True) | Q(team_id=team_id, user_id=user_id)
    return list(Budget.objects.filter(scope).select_related("team", "user"))


def budgets_visible(*, user: Any) -> QuerySet[Budget]:
    """Budgets that bind `user` (theirs, their teams', theirs in a team), every budget of a team they own,
    or all for admins."""
    qs = Budget.objects.select_related("team", "user")
    if is_admin(user):
        return qs
    my_teams = Membership.objects.filter(user=user).values("team_id")
    return qs.filter(
        Q(user=user) | Q(team_id__in=my_teams, user__isnull=True) | Q(team_id__in=owned_team_ids(user=user))
    )


def budget_get(*, user: Any, budget_id: Any) -> Budget | None:
    try:
        pk = uuid.UUID(str(budget_id))
    except ValueError:  # a malformed id is simply not found
        return None
    return budgets_visible(user=user).filter(pk=pk).first()


def budget_can_change(*, user: Any, budget: Budget) -> bool:
    if is_admin(user):
        return True
    if budget.team_id is None:
        return False
    return Membership.objects.filter(team_id=budget.team_id, user=user, role=Role.OWNER).exists()


def budget_scope_words(budget: Budget) -> str:
    """`team “Acme”`, `alice in team “Acme”`, `alice` — for the messages."""
    who = budget.user.get_username() if budget.user is not None else None
    team = f"team “{budget.team.name}”" if budget.team is not None else None
    return " in ".join(part for part in (who, team) if part)


def teams_for_budgets(*, user: Any) -> list[Team]:
    """Teams `user` may set budgets in: the ones they own (all, for admins)."""
    if is_admin(user):
        return list(Team.objects.order_by("name"))
    return list(Team.objects.filter(pk__in=owned_team_ids(user=user)).order_by("name"))
