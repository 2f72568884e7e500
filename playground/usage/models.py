"""Usage: what each response of each session used and cost, and the monthly budgets that bound it.

A `UsageRecord` is summed from a recording (docs/usage.md): one per `response.done` (its usage, the audio
both ways since the previous record, the estimated cost with the prices used kept beside it), plus one for
audio no response followed when the session ended. It outlives its recording: a deleted or pruned session
leaves its records (session set null, `session_key` kept), so deleting a recording never gives money back
to a budget, and a later change of PLAYGROUND_PRICES rewrites nothing.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q


class UsageRecord(models.Model):
    # Who, where and on what, as they were when the usage was recorded (a session moved to another
    # team later does not move what it already spent).
    session = models.ForeignKey(
        "realtime.RealtimeSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="usage_records"
    )
    session_key = models.UUIDField(help_text="The session's id, kept after its recording is deleted")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    team = models.ForeignKey("teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    preset = models.ForeignKey("presets.Preset", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    upstream = models.CharField(max_length=20)
    # The recording's seqs this record covers: (first_seq - 1, seq]. `seq` is the response.done's, or the
    # last seq of a session's tail (audio after its last response).
    first_seq = models.PositiveIntegerField()
    seq = models.PositiveIntegerField()
    response_id = models.CharField(max_length=100, blank=True, help_text="Empty for a session's tail")
    status = models.CharField(max_length=20, blank=True, help_text="The response's status; empty for a tail")
    at = models.DateTimeField(help_text="When the response was done (a tail: the session's last event)")
    input_tokens = models.PositiveIntegerField(default=0)
    input_text_tokens = models.PositiveIntegerField(default=0)
    input_audio_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    output_text_tokens = models.PositiveIntegerField(default=0)
    output_audio_tokens = models.PositiveIntegerField(default=0)
    audio_in_seconds = models.FloatField(default=0)
    audio_out_seconds = models.FloatField(default=0)
    cost = models.DecimalField(max_digits=18, decimal_places=6, default=0)
    currency = models.CharField(max_length=16, blank=True)
    prices = models.JSONField(default=dict, help_text="PLAYGROUND_PRICES as they were when this was recorded")
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "session_key", "seq"]
        constraints = [models.UniqueConstraint(fields=["session_key", "seq"], name="usage_record_session_seq")]
        indexes = [
            models.Index(fields=["at"], name="usage_at"),
            models.Index(fields=["user", "at"], name="usage_user_at"),
            models.Index(fields=["team", "at"], name="usage_team_at"),
        ]

    def __str__(self) -> str:
        return f"{self.session_key}#{self.seq} {self.response_id or 'tail'} {self.cost} {self.currency}"


class Budget(models.Model):
    """A monthly bound (calendar month, UTC) on estimated cost and/or audio minutes, for one scope:

    - a team (`team`, no `user`): the usage of the sessions opened in that team;
    - a member in a team (`team` and `user`): that user's usage in that team's sessions;
    - a user (`user`, no `team`): all of that user's usage (set by admins only).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    team = models.ForeignKey("teams.Team", on_delete=models.CASCADE, null=True, blank=True, related_name="budgets")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, null=True, blank=True, related_name="budgets"
    )
    cost_limit = models.DecimalField(max_digits=18, decimal_places=6, null=True, blank=True)
    audio_minutes_limit = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    alert_percent = models.PositiveSmallIntegerField(default=80, help_text="The soft alert, in % of a limit")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(team__isnull=False) | Q(user__isnull=False), name="budget_has_scope"),
            models.CheckConstraint(
                condition=Q(cost_limit__isnull=False) | Q(audio_minutes_limit__isnull=False), name="budget_has_limit"
            ),
            models.UniqueConstraint(fields=["team"], condition=Q(user__isnull=True), name="budget_one_per_team"),
            models.UniqueConstraint(fields=["user"], condition=Q(team__isnull=True), name="budget_one_per_user"),
            models.UniqueConstraint(
                fields=["team", "user"],
                condition=Q(team__isnull=False, user__isnull=False),
                name="budget_one_per_member",
            ),
        ]

    def __str__(self) -> str:
        return f"budget {self.team_id or '-'}/{self.user_id or '-'}"


class BudgetAlert(models.Model):
    """A soft alert already sent for a budget in a month: each crossing is announced once."""

    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="alerts")
    period_start = models.DateField()
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["budget", "period_start"], name="budget_alert_once")]

    def __str__(self) -> str:
        return f"alert of {self.budget_id} for {self.period_start:%Y-%m}"
