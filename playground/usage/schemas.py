"""The usage API's schemas.

No `from __future__ import annotations` here: Ninja reads these annotations at run time.
"""

import datetime as dt
import uuid
from typing import Literal

from ninja import Field, Schema
from pydantic import field_validator

GroupBy = Literal["user", "preset", "team", "upstream", "day", "week", "month"]
Interval = Literal["day", "week", "month"]
# Whole days, UTC; the bounds keep "to + 1 day" a date.
EARLIEST = dt.date(2000, 1, 1)
LATEST = dt.date(9998, 12, 31)


class UsageQuery(Schema):
    group_by: GroupBy = Field(
        "user", description="Rows per user, preset, team or upstream, or per day, week (from Monday) or month."
    )
    interval: Interval | None = Field(
        None, description="With a group_by that is not a time: each group's rows per day, week or month (charts)."
    )
    from_: dt.date | None = Field(None, alias="from", description="First day, UTC (default: this month's first).")
    to: dt.date | None = Field(None, description="Last day, included, UTC (default: today).")
    team: uuid.UUID | None = Field(None, description="Only the sessions opened in this team of mine.")
    user: str | None = Field(None, max_length=150, description="Only this user's (a team owner: a member's).")
    preset: uuid.UUID | None = Field(None, description="Only sessions started from this preset.")
    upstream: Literal["yandex", "emulator"] | None = None

    @field_validator("from_", "to")
    @classmethod
    def _day(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not (EARLIEST <= value <= LATEST):
            raise ValueError(f"must be a day from {EARLIEST} to {LATEST}")
        return value


class UsageFigures(Schema):
    sessions: int = Field(..., description="Sessions with usage in the range")
    responses: int
    audio_in_seconds: float
    audio_out_seconds: float
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    input_text_tokens: int
    input_audio_tokens: int
    output_text_tokens: int
    output_audio_tokens: int
    cost: float = Field(..., description="Estimated, with the prices of when each response was recorded")


class UsageRowOut(UsageFigures):
    period: str | None = Field(None, description="With `interval`: the day, week's Monday or month (YYYY-MM)")
    key: str | None = Field(..., description="The user's name, the preset's or team's id, the upstream, the date")
    label: str


class UsageOut(Schema):
    group_by: GroupBy
    interval: Interval | None
    from_: dt.date = Field(..., alias="from")
    to: dt.date
    currency: str = Field(..., description="PLAYGROUND_PRICES' currency")
    rows: list[UsageRowOut]
    totals: UsageFigures


class RecordOut(Schema):
    seq: int = Field(..., description="The response.done's seq in the recording (a tail: its last seq)")
    first_seq: int
    response_id: str = Field(..., description="Empty for a tail: audio after the last response")
    status: str
    at: dt.datetime
    input_tokens: int
    input_text_tokens: int
    input_audio_tokens: int
    cached_tokens: int
    output_tokens: int
    output_text_tokens: int
    output_audio_tokens: int
    audio_in_seconds: float
    audio_out_seconds: float
    cost: float
    currency: str
    prices: dict[str, str | float | int] = Field(..., description="PLAYGROUND_PRICES when it was recorded")


class SessionUsageOut(Schema):
    session: str
    totals: UsageFigures
    records: list[RecordOut]


class TeamRef(Schema):
    id: str
    name: str


class BudgetIn(Schema):
    team: uuid.UUID | None = Field(None, description="A team you own: its budget (with `user`: a member's in it)")
    user: str | None = Field(None, min_length=1, max_length=150, description="A username (alone: admins only)")
    cost_limit: float | None = Field(None, gt=0, le=1e11, description="Estimated cost a month, in the currency")
    audio_minutes_limit: float | None = Field(None, gt=0, le=1e9, description="Audio minutes a month, both ways")
    alert_percent: int = Field(80, ge=1, le=100, description="The soft alert, in % of a limit")


class BudgetChangeIn(Schema):
    cost_limit: float | None = Field(None, gt=0, le=1e11, description="null removes it (one limit must stay)")
    audio_minutes_limit: float | None = Field(None, gt=0, le=1e9)
    alert_percent: int | None = Field(None, ge=1, le=100)


class BudgetOut(Schema):
    id: str
    scope: str = Field(..., description="In words: `team “Acme”`, `alice in team “Acme”`, `alice`")
    team: TeamRef | None
    user: str | None
    period: Literal["month"] = "month"
    cost_limit: float | None
    audio_minutes_limit: float | None
    alert_percent: int
    currency: str
    spent_cost: float = Field(..., description="Estimated, this month")
    spent_audio_minutes: float
    used_percent: float = Field(..., description="Of the limit closest to being used up")
    state: Literal["ok", "alert", "exceeded"]
    period_start: dt.datetime
    resets_at: dt.datetime
    can_change: bool
