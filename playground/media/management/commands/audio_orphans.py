"""`manage.py audio_orphans`: the `recordings` storage checked against the AudioChunk rows that index it.

Files no row names (a seal or a migration that saved its file and then failed, or a worker that died in
between) are reported, and deleted with `--delete`; rows whose file is missing are reported loudly and
never deleted (the audio they stood for is gone: restore it from a backup). docs/operations.md.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.media import migrate
from playground.media.storage import recordings_storage

from .audio_migrate import size

PROGRESS_EVERY_S = 2.0


class Command(BaseCommand):
    help = "Find files in the recordings storage that no audio chunk names (--delete removes them), and missing files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--delete", action="store_true", help="delete the orphan files found")
        parser.add_argument(
            "--min-age",
            type=float,
            default=60,
            metavar="MINUTES",
            help="leave files younger than this alone: a recorder may not have committed their row yet (default 60)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["verbosity"] == 0
        storage = recordings_storage()
        where = getattr(storage, "bucket_name", None) or getattr(storage, "location", "")
        if not quiet:
            self.stdout.write(f"Checking the recordings storage ({type(storage).__name__}, {where}) against its rows.")
        started = last = time.monotonic()
        folders = 0

        def on_folder(_: str) -> None:
            nonlocal folders, last
            folders += 1
            now = time.monotonic()
            if not quiet and now - last >= PROGRESS_EVERY_S:
                last = now
                self.stdout.write(f"  {folders:,} session folders · {now - started:.1f} s")

        check = migrate.media_check(
            delete=options["delete"], min_age=timedelta(minutes=options["min_age"]), on_folder=on_folder
        )
        if not quiet:
            for name in check.orphans:
                self.stdout.write(f"  orphan: {name}" + (" (deleted)" if options["delete"] else ""))
        for session_id, name in check.missing:
            self.stderr.write(self.style.ERROR(f"  MISSING: {name} (session {session_id}): its audio cannot be read"))
        if not quiet:
            orphans = f"{len(check.orphans):,} orphan files ({size(check.orphan_bytes)})"
            if check.orphans:
                orphans += ", deleted" if options["delete"] else ", kept (--delete removes them)"
            young = f", {len(check.young):,} too new to judge (--min-age)" if check.young else ""
            line = (
                f"{check.files:,} files in {folders:,} session folders, {check.rows:,} chunk rows: {orphans}{young}; "
                f"{len(check.missing):,} missing files · {time.monotonic() - started:.1f} s."
            )
            self.stdout.write(self.style.ERROR(line) if check.missing else self.style.SUCCESS(line))
        if check.missing:
            raise CommandError(
                f"{len(check.missing)} audio chunk(s) have no file: those recordings cannot play that audio. "
                "Restore the files from a backup of the storage (the rows are kept)."
            )
