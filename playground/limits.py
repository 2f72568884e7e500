"""The one gate every session opens through: its limits checked and its place taken in one step.

Whichever way a session opens (created over REST, from a preset, re-run, resumed, over
/v1/realtime), `realtime.services` calls `session_gate` with the write that takes its place: the
new row in `connecting`, or a resume's claim of an interrupted one. The checks and that write run
in one transaction that no other opening runs beside, on any worker:

- PostgreSQL: `pg_advisory_xact_lock(GATE_LOCK)` first, so openings queue one after another until
  each commits (across processes and machines: the lock is the database's);
- SQLite: the settings open every transaction with `BEGIN IMMEDIATE` (`transaction_mode`), which
  takes the database's one write lock at once, so the counts read are the counts at the write.

A count then always includes every session already let in, connecting ones too, and 30 requests
racing for 5 places get exactly 5. Each limit is a `Limit` in LIMITS, counted from the database
(every worker sees the same numbers; nothing lives in a cache); the monthly budgets
(playground/usage/budgets.py, docs/usage.md) are the last entry. 0 turns a setting off. A refusal is
a 429 naming the setting (or the budget), with `retry_after` (the `Retry-After` header), and
`playground_session_refusals_total{limit}` counts it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.utils import timezone

from playground import metrics
from playground.errors import PlaygroundError
from playground.realtime import selectors
from playground.realtime.models import RealtimeSession
from playground.usage import budgets

T = TypeVar("T")

# The advisory lock's key: any constant no other code of this database uses ("PGgate" in ASCII).
GATE_LOCK = 0x5047_6761_7465
WINDOW_S = 60
# A live session ends when its user closes it or its upstream does (a few minutes): a hint to poll again.
LIVE_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class Opening:
    """What is asking to open: whose session, and (for a resume) which one."""

    user: Any
    resuming: Any = None  # the id of the session being resumed
    team: Any = None  # the id of the team the new session is opened in (its budgets bind it)


@dataclass(frozen=True)
class Refusal:
    limit: str  # the `limit` label of the refusals counter
    message: str
    retry_after: int


class Limit(Protocol):
    def __call__(self, opening: Opening) -> Refusal | None:
        """None when `opening` may go ahead; read inside the gate's transaction."""


def deployment_live(opening: Opening) -> Refusal | None:
    """PLAYGROUND_MAX_LIVE_SESSIONS: Yandex allows 10 concurrent sessions per cloud by default."""
    most = settings.PLAYGROUND_MAX_LIVE_SESSIONS
    live = selectors.session_live_count()
    if live < most:
        return None
    return Refusal(
        "deployment_live",
        f"{live} sessions are live, the most this deployment allows (PLAYGROUND_MAX_LIVE_SESSIONS={most}). "
        f"Close one and try again, or retry in {LIVE_RETRY_AFTER_S} s.",
        LIVE_RETRY_AFTER_S,
    )


def user_live(opening: Opening) -> Refusal | None:
    """PLAYGROUND_LIVE_SESSIONS_PER_USER: one user's sessions live (or connecting) at once."""
    most = settings.PLAYGROUND_LIVE_SESSIONS_PER_USER
    if most <= 0:
        return None
    live = selectors.session_live_count(owner=opening.user)
    if live < most:
        return None
    return Refusal(
        "user_live",
        f"You have {live} live sessions, the most allowed per user (PLAYGROUND_LIVE_SESSIONS_PER_USER={most}). "
        f"Close one (POST /api/sessions/{{id}}/close) and try again, or retry in {LIVE_RETRY_AFTER_S} s.",
        LIVE_RETRY_AFTER_S,
    )


def user_per_minute(opening: Opening) -> Refusal | None:
    """PLAYGROUND_SESSIONS_PER_MINUTE: sessions one user created in the last 60 s (a resume is checked
    against it like any opening, but creates no session, so it does not add to the count)."""
    most = settings.PLAYGROUND_SESSIONS_PER_MINUTE
    if most <= 0:
        return None
    now = timezone.now()
    recent = list(
        RealtimeSession.objects.filter(owner=opening.user, created_at__gt=now - timedelta(seconds=WINDOW_S))
        .order_by("-created_at")
        .values_list("created_at", flat=True)[:most]
    )
    if len(recent) < most:
        return None
    # Room again once the oldest of the last `most` leaves the window.
    wait = max(1, math.ceil(WINDOW_S - (now - recent[-1]).total_seconds()))
    return Refusal(
        "user_per_minute",
        f"You opened {len(recent)} sessions in the last minute, the most allowed "
        f"(PLAYGROUND_SESSIONS_PER_MINUTE={most}). Try again in {wait} s.",
        wait,
    )


def monthly_budget(opening: Opening) -> Refusal | None:
    """Budgets (docs/usage.md): a used-up one of the session's owner or team refuses until the month ends.
    A resumed session counts against its own owner's and team's budgets, whoever resumes it."""
    owner, team = opening.user.pk, opening.team
    if opening.resuming is not None:
        row = RealtimeSession.objects.filter(pk=opening.resuming).values_list("owner_id", "team_id").first()
        if row is not None:
            owner, team = row
    refusal = budgets.budget_refusal(user_id=owner, team_id=team, now=timezone.now())
    return None if refusal is None else Refusal("budget", refusal.message, refusal.retry_after)


# Checked in this order; the first refusal answers.
LIMITS: list[Limit] = [deployment_live, user_live, user_per_minute, monthly_budget]


def _serialize() -> None:
    """Make this transaction the only opening in progress, until it commits or rolls back."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [GATE_LOCK])
    elif connection.vendor == "sqlite":
        # BEGIN IMMEDIATE already holds the write lock (settings.py); a deferred BEGIN would let two
        # openings read the same counts and both write.
        if connection.settings_dict.get("OPTIONS", {}).get("transaction_mode") != "IMMEDIATE":
            raise ImproperlyConfigured("SQLite needs OPTIONS transaction_mode IMMEDIATE for the session gate.")
    else:
        raise ImproperlyConfigured(f"The session gate has no lock for {connection.vendor}: use PostgreSQL or SQLite.")


def session_gate(*, opening: Opening, take: Callable[[], T]) -> T:
    """Check every limit for `opening` and, if none refuses, run `take` (the write that makes the
    session count: a new `connecting` row, a resume's claim), all in one serialized transaction.
    Sync ORM code: call it through playground.db."""
    with transaction.atomic():
        _serialize()
        for limit in LIMITS:
            refusal = limit(opening)
            if refusal is not None:
                metrics.SESSION_REFUSALS.labels(limit=refusal.limit).inc()
                raise PlaygroundError(refusal.message, status=429, retry_after=refusal.retry_after)
        return take()
