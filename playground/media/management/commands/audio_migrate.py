"""`manage.py audio_migrate`: recordings made before media (base64 audio inline in their rows) moved to FLAC
files in the `recordings` storage, their rows given references and packed; also what a dead worker left open.

Each session is done in one transaction and checked before it commits (every frame read back must hash as
before), so the command can be stopped and run again at any point: what is done stays done, what is not is
done next time (playground/media/migrate.py, docs/operations.md).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.media import migrate


def size(n: int) -> str:
    """Bytes for people: 950 B, 12.3 kB, 4.5 MB, 1.2 GB."""
    if n < 1000:
        return f"{n:,} B"
    value = n / 1000
    for unit in ("kB", "MB"):
        if value < 1000:
            return f"{value:,.1f} {unit}"
        value /= 1000
    return f"{value:,.1f} GB"


class Command(BaseCommand):
    help = "Move recordings' inline base64 audio to FLAC files in the recordings storage; shows its progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", action="append", default=[], metavar="ID", help="only this session (repeat)")
        parser.add_argument("--dry-run", action="store_true", help="report what would move; write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        ids = None
        if options["session"]:
            try:
                ids = [uuid.UUID(value) for value in options["session"]]
            except ValueError:
                raise CommandError(f"--session takes session ids (UUIDs), got {options['session']}.") from None
        dry = options["dry_run"]
        quiet = options["verbosity"] == 0
        started = time.monotonic()
        sessions = migrate.migration_candidates(session_ids=ids)
        if ids is not None and len(sessions) < len(ids):
            missing = sorted({str(i) for i in ids} - set(sessions))
            raise CommandError(f"No such session: {', '.join(missing)}.")
        total = len(sessions)
        if not quiet:
            what = "a dry run: nothing is written" if dry else "each in one transaction, checked before it commits"
            self.stdout.write(f"{total:,} recordings may hold audio to move ({what}).")
        done: list[migrate.SessionMigration] = []
        failed: list[tuple[str, str]] = []
        nothing = 0
        for i, session_id in enumerate(sessions, 1):
            head = f"  [{i:,}/{total:,}] {session_id}:"
            try:
                r = migrate.session_audio_migrate(session_id=session_id, dry_run=dry)
            except Exception as exc:  # reported, the session left as it was; the others go on
                failed.append((session_id, str(exc)))
                self.stderr.write(self.style.ERROR(f"{head} FAILED, rolled back: {exc}"))
                continue
            if not r.moves:
                nothing += 1
                if not quiet:
                    self.stdout.write(f"{head} nothing to move")
                continue
            done.append(r)
            if quiet:
                continue
            pending = f", {size(r.pending_bytes)} left open by a worker" if r.pending_bytes else ""
            if dry:
                self.stdout.write(
                    f"{head} would move {r.events:,} events' audio ({size(r.audio_bytes)} of PCM, "
                    f"{size(r.base64_chars)} of base64){pending}; its rows hold {size(r.db_before)}"
                )
            else:
                self.stdout.write(
                    f"{head} {r.events:,} events, {size(r.audio_bytes)} of audio{pending} → {r.chunks} FLAC "
                    f"files, {size(r.media_bytes)}; rows {size(r.db_before)} → {size(r.db_after)}; "
                    f"{r.frames:,} frames read back identical · {r.seconds:.1f} s"
                )
        events = sum(r.events for r in done)
        audio = sum(r.audio_bytes + r.pending_bytes for r in done)
        before = sum(r.db_before for r in done)
        if not quiet:
            seconds = time.monotonic() - started
            if dry:
                line = (
                    f"Dry run: {len(done):,} sessions would move {events:,} events' audio, {size(audio)} of PCM "
                    f"(their rows hold {size(before)} now); {nothing:,} have nothing to move; {seconds:.1f} s."
                )
            else:
                line = (
                    f"Done: {len(done):,} sessions migrated, {events:,} events, {size(audio)} of audio moved, "
                    f"{size(sum(r.media_bytes for r in done))} of FLAC written in {sum(r.chunks for r in done):,} "
                    f"files; their rows {size(before)} → {size(sum(r.db_after for r in done))}; "
                    f"{nothing:,} had nothing to move, {len(failed):,} failed; {seconds:.1f} s."
                )
            self.stdout.write(self.style.ERROR(line) if failed else self.style.SUCCESS(line))
        if failed:
            raise CommandError(
                f"{len(failed)} session(s) could not be migrated and were left as they were: "
                + ", ".join(sid for sid, _ in failed)
            )
