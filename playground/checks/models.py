"""Runs of a preset's checks and their results, per check (each attempt a recorded session) and per assertion.

The checks themselves live in the preset version's content (playground/checks/schemas.py): a run names
the version it ran, so results of different versions sit side by side in the Checks tab's matrix.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class RunState(models.TextChoices):
    QUEUED = "queued", "queued"
    RUNNING = "running", "running"
    FINISHED = "finished", "finished"
    CANCELLED = "cancelled", "cancelled"
    # The run itself could not go on (its worker stopped: no heartbeat; see selectors.RUN_STALE_AFTER).
    INTERRUPTED = "interrupted", "interrupted"


class Outcome(models.TextChoices):
    PENDING = "pending", "pending"
    RUNNING = "running", "running"
    PASSED = "passed", "passed"
    FAILED = "failed", "failed"
    # The conversation could not be held (no session, a turn timed out, the session ended) or an
    # assertion could not be evaluated (the judge did not answer): not a verdict on the preset.
    ERROR = "error", "error"
    # Every assertion that ran passed, but some were not run (a judge without credentials): never "passed".
    INCOMPLETE = "incomplete", "incomplete"
    CANCELLED = "cancelled", "cancelled"


FINAL_OUTCOMES = (Outcome.PASSED, Outcome.FAILED, Outcome.ERROR, Outcome.INCOMPLETE, Outcome.CANCELLED)


class AssertionStatus(models.TextChoices):
    PASSED = "passed", "passed"
    FAILED = "failed", "failed"
    NOT_RUN = "not_run", "not run"
    ERROR = "error", "error"


class CheckRun(models.Model):
    """One run of a preset version's checks (all, or one), each `repeat` times, against an upstream."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preset = models.ForeignKey("presets.Preset", on_delete=models.CASCADE, related_name="check_runs")
    preset_version = models.PositiveIntegerField()
    # Who ran it: the sessions are theirs (ordinary recordings in their list).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="check_runs")
    upstream = models.CharField(max_length=20)
    # Empty: every check of the version.
    check_name = models.CharField(max_length=100, blank=True)
    repeat = models.PositiveSmallIntegerField(default=1)
    concurrency = models.PositiveSmallIntegerField(default=1)
    # Where it was started: the preset page, the API, or `manage.py preset_check`.
    source = models.CharField(max_length=10, default="api")
    state = models.CharField(max_length=12, choices=RunState.choices, default=RunState.QUEUED)
    # In words: why it stopped early, or what it waits for (a session limit).
    message = models.TextField(blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)
    incomplete = models.PositiveIntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Renewed while the run goes on, so a run whose worker died is told apart from a slow one.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["preset", "-created_at"])]

    def __str__(self) -> str:
        return f"run {self.id} of {self.preset_id} v{self.preset_version} ({self.state})"


class CheckResult(models.Model):
    """One attempt of one check in a run: one recorded session, a verdict and the reason in words."""

    run = models.ForeignKey(CheckRun, on_delete=models.CASCADE, related_name="results")
    check_name = models.CharField(max_length=100)
    check_index = models.PositiveSmallIntegerField()  # its place in the version's checks
    attempt = models.PositiveSmallIntegerField(default=1)  # 1..repeat
    session = models.ForeignKey(
        "realtime.RealtimeSession", on_delete=models.SET_NULL, null=True, blank=True, related_name="check_results"
    )
    status = models.CharField(max_length=12, choices=Outcome.choices, default=Outcome.PENDING)
    # The first failure or error, in words ("" when it passed).
    reason = models.TextField(blank=True)
    # Per turn: what was said, the answer, calls, latencies, tokens, audio (checks/observe.py's turn_summary).
    turns = models.JSONField(default=list, blank=True)
    # Means over the turns, in ms, for the pass-rate and latency history.
    first_delta_ms = models.FloatField(null=True, blank=True)
    done_ms = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "check_index", "attempt"]
        constraints = [
            models.UniqueConstraint(fields=["run", "check_index", "attempt"], name="check_result_unique_attempt")
        ]

    def __str__(self) -> str:
        return f"{self.check_name} #{self.attempt}: {self.status}"


class AssertionResult(models.Model):
    """One assertion of one turn of a check attempt: passed, failed, not run or error, and why."""

    result = models.ForeignKey(CheckResult, on_delete=models.CASCADE, related_name="assertions")
    turn = models.PositiveSmallIntegerField()  # 1-based
    index = models.PositiveSmallIntegerField()  # its place in the turn's `expect`
    type = models.CharField(max_length=30)
    label = models.CharField(max_length=300)  # the assertion in words
    status = models.CharField(max_length=10, choices=AssertionStatus.choices)
    reason = models.TextField(blank=True)
    # The recorded event the verdict is about: the replay opens there (/sessions/<id>/replay/#seq=N).
    seq = models.PositiveIntegerField(null=True, blank=True)
    # What was measured (ms, tokens, cost, the call's arguments…).
    value = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["result", "turn", "index"]

    def __str__(self) -> str:
        return f"turn {self.turn} #{self.index} {self.type}: {self.status}"
