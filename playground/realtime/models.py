from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from playground.teams.models import Visibility


class SessionState(models.TextChoices):
    CONNECTING = "connecting", "connecting"
    LIVE = "live", "live"
    ENDED = "ended", "ended"
    INTERRUPTED = "interrupted", "interrupted"
    FAILED = "failed", "failed"


class Direction(models.TextChoices):
    CLIENT = "client", "client"
    SERVER = "server", "server"
    # The playground's own notices (upstream closed, …): never dressed up as protocol events.
    PLAYGROUND = "playground", "playground"


class ClientDialect(models.TextChoices):
    # The playground's own ways in (REST, `/ws/sessions/…`, the console) speak Yandex's dialect as is.
    YANDEX = "yandex", "Yandex"
    # `/v1/realtime`: an OpenAI realtime client, translated both ways (realtime/dialect/).
    OPENAI = "openai", "OpenAI"


class RealtimeSession(models.Model):
    """One realtime session: live while its relay runs, a recording forever after."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="realtime_sessions")
    upstream = models.CharField(max_length=20)
    # As for presets: who else sees it (playground/teams/access.py), and an optional share link.
    team = models.ForeignKey(
        "teams.Team", on_delete=models.SET_NULL, null=True, blank=True, related_name="realtime_sessions"
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    share_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The preset (and its version) the session was started from, if any.
    preset = models.ForeignKey(
        "presets.Preset", on_delete=models.SET_NULL, null=True, blank=True, related_name="sessions"
    )
    preset_version = models.PositiveIntegerField(null=True, blank=True)
    # The dialect its client spoke; the recording keeps the upstream's wire either way.
    client_dialect = models.CharField(max_length=10, choices=ClientDialect.choices, default=ClientDialect.YANDEX)
    state = models.CharField(max_length=20, choices=SessionState.choices, default=SessionState.CONNECTING)
    # In words, for people: why the session ended, failed or was interrupted.
    state_reason = models.TextField(blank=True)
    config = models.JSONField(default=dict, blank=True)
    # Where the relay listens on the channel layer; any worker can reach it there.
    relay_channel = models.CharField(max_length=200, blank=True)
    # The relay's lease: refreshed while it runs, so a dead worker's sessions are found out.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"]), models.Index(fields=["state"])]

    def __str__(self) -> str:
        return f"{self.id} ({self.upstream}, {self.state})"


class SessionEvent(models.Model):
    """One event of a session, either direction, exactly as it crossed the wire."""

    session = models.ForeignKey(RealtimeSession, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    direction = models.CharField(max_length=12, choices=Direction.choices)
    ts = models.FloatField(help_text="Unix time, seconds")
    type = models.CharField(max_length=100)
    # The JSON text as sent or received: stored as is, so a replay is byte-exact
    # and recording never pays for a re-serialisation. Its base64 audio, if any, is replaced by
    # `refs` references into the session's media (playground/media/refs.py).
    data = models.TextField()
    refs = models.PositiveSmallIntegerField(default=0)
    # A block of events (direction "block", realtime/blocks.py): read them with realtime/reading.py.
    packed = models.BinaryField(null=True, blank=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [models.UniqueConstraint(fields=["session", "seq"], name="unique_event_seq")]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.direction} {self.type}"
