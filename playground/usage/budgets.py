"""Budgets where they act: at the gate (a used-up budget refuses new sessions) and after each response of a
live session (crossing a budget ends it; crossing its alert announces it).

The gate (playground/limits.py, `monthly_budget`) asks `budget_refusal` inside its serialized transaction,
so every opening sees the spend every earlier opening saw, and nothing opens once a budget is used up.
Spend grows only as responses finish, so what a burst can still spend is what the sessions already live
spend before their current response ends: `budget_after_response` runs once per `response.done` (live.py,
off the relay's path) and ends the session that used the budget up.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from playground.realtime.models import RealtimeSession, SessionState

from . import selectors, services
from .models import Budget
from .selectors import BudgetStatus

EXCEEDED_KIND = "budget_exceeded"
ALERT_KIND = "budget_alert"
USAGE_PAGE = "/usage/"


def money(value: Decimal | float, *, places: int | None = None) -> str:
    currency = settings.PLAYGROUND_PRICES.get("currency", "")
    amount = float(value)
    if places is None:
        places = 4 if 0 < abs(amount) < 0.01 else 2
    return f"{amount:,.{places}f} {currency}".strip()


def _places(*amounts: Decimal | float) -> int:
    """Enough decimals to tell the amounts apart (≈0.0114 of 0.01, not ≈0.01 of 0.01), at least 2."""
    places = 2
    while places < 6 and len({round(float(a), places) for a in amounts}) < len({float(a) for a in amounts}):
        places += 2
    tiny = any(0 < abs(float(a)) < 0.01 for a in amounts)
    return max(places, 4) if tiny else places


def _minutes(value: float | Decimal) -> str:
    return f"{float(value):,.1f}"


def spent_words(status: BudgetStatus) -> str:
    """`≈12.40 ₽ of 10.00 ₽ estimated, 3.2 of 30.0 audio minutes` (the limits it has)."""
    budget, parts = status.budget, []
    if budget.cost_limit is not None:
        places = _places(status.spent_cost, budget.cost_limit)
        spent, limit = money(status.spent_cost, places=places), money(budget.cost_limit, places=places)
        parts.append(f"≈{spent} of {limit} estimated")
    if budget.audio_minutes_limit is not None:
        parts.append(f"{_minutes(status.spent_audio_minutes)} of {_minutes(budget.audio_minutes_limit)} audio minutes")
    return ", ".join(parts)


def whose(budget: Budget, *, user_id: Any) -> str:
    """`Your monthly budget`, `Your monthly budget in team “Acme”`, `The monthly budget of team “Acme”`."""
    team = f"team “{budget.team.name}”" if budget.team is not None else ""
    if budget.user_id is not None and budget.user_id == user_id:
        return "Your monthly budget" + (f" in {team}" if team else "")
    if budget.user is not None:
        return f"{budget.user.get_username()}'s monthly budget" + (f" in {team}" if team else "")
    return f"The monthly budget of {team}"


def who_raises(budget: Budget) -> str:
    if budget.team is not None:
        return f"an owner of “{budget.team.name}” or an admin"
    return "an admin"


def _first_up(words: str) -> str:
    return words[:1].upper() + words[1:]


def resets_words(resets: dt.datetime, now: dt.datetime) -> str:
    left = resets - now
    days, hours = left.days, left.seconds // 3600
    span = f"{days} day{'s' if days != 1 else ''}" if days else f"{max(1, hours)} hour{'s' if hours != 1 else ''}"
    return f"{resets:%Y-%m-%d %H:%M} UTC, in {span}"


@dataclass(frozen=True)
class BudgetRefusal:
    message: str
    retry_after: int


def budget_refusal(*, user_id: Any, team_id: Any, now: dt.datetime) -> BudgetRefusal | None:
    """The first used-up budget a session of `user_id` in `team_id` would count against, in words."""
    for budget in selectors.budgets_binding(user_id=user_id, team_id=team_id):
        status = selectors.budget_status(budget, now=now)
        if status.state != "exceeded":
            continue
        return BudgetRefusal(
            f"{whose(budget, user_id=user_id)} is used up: {spent_words(status)} this month. New sessions are "
            f"refused until it resets on {resets_words(status.resets, now)}; {who_raises(budget)} can raise it "
            f"on the Usage page ({USAGE_PAGE}).",
            max(1, math.ceil((status.resets - now).total_seconds())),
        )
    return None


@dataclass
class AfterResponse:
    """What a live session's latest response means for the budgets it counts against."""

    # Used up: the end notice's words, and when it ran out (time.time()).
    exceeded: list[tuple[Budget, str, float]] = field(default_factory=list)
    alerts: list[tuple[Budget, str]] = field(default_factory=list)  # newly past their alert, in words


def budget_after_response(*, session: RealtimeSession, now: dt.datetime) -> AfterResponse:
    """After a response of `session` was accounted: which budgets it counts against are used up (every live
    session they bind ends after its current response), and which crossed their alert for the first time
    this month (every live session they bind hears it)."""
    result = AfterResponse()
    crossed: list[BudgetStatus] = []
    for budget in selectors.budgets_binding(user_id=session.owner_id, team_id=session.team_id):
        status = selectors.budget_status(budget, now=now)
        if status.state == "exceeded":
            # The sessions a budget binds are all its user's when it has one: "Your" is right for each.
            words = (
                f"{whose(budget, user_id=budget.user_id)} is used up: {spent_words(status)} this month. "
                f"The session ended after its current response; new sessions are refused until it resets on "
                f"{resets_words(status.resets, now)}. {_first_up(who_raises(budget))} can raise it on the Usage page."
            )
            result.exceeded.append((budget, words, selectors.budget_ran_out_at(status).timestamp()))
        elif status.state == "alert":
            crossed.append(status)
    by_id = {s.budget.pk: s for s in crossed}
    for budget in services.budget_alerts_take(budgets=[s.budget for s in crossed], now=now):
        result.alerts.append((budget, alert_words(by_id[budget.pk])))
    return result


def alert_words(status: BudgetStatus) -> str:
    budget, used = status.budget, math.floor(status.ratio * 100)
    return (
        f"{whose(budget, user_id=budget.user_id)} is {used}% used ({spent_words(status)}; the "
        f"alert is at {budget.alert_percent}%). At 100% new sessions are refused and live ones end after their "
        f"current response, until it resets on {status.resets:%Y-%m-%d} UTC."
    )


def live_sessions_bound(budget: Budget) -> list[tuple[str, str, Any]]:
    """(session id, relay channel, owner id) of every live session `budget` binds."""
    qs = RealtimeSession.objects.filter(state=SessionState.LIVE).exclude(relay_channel="")
    if budget.team_id is not None:
        qs = qs.filter(team_id=budget.team_id)
    if budget.user_id is not None:
        qs = qs.filter(owner_id=budget.user_id)
    return [(str(pk), channel, owner) for pk, channel, owner in qs.values_list("pk", "relay_channel", "owner_id")]
