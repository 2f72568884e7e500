"""Delete old recordings now (the app also does it by itself, every 10 minutes, as sessions open)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from playground.recordings.retention import recordings_prune


class Command(BaseCommand):
    help = "Delete recordings, with their events and audio, older than PLAYGROUND_RETENTION_DAYS (or --days)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None, help="override PLAYGROUND_RETENTION_DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.PLAYGROUND_RETENTION_DAYS
        if days <= 0:
            raise CommandError("Retention is off (PLAYGROUND_RETENTION_DAYS=0): pass --days N to prune anyway.")
        deleted = recordings_prune(days=days)
        self.stdout.write(f"Deleted {deleted} recording(s) older than {days} day(s).")
