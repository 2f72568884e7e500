"""`manage.py usage_backfill`: usage for recordings made before it was recorded (or that a dead worker left).

Each session is accounted from its cursor on (services.usage_account), so it can be run any time, as often as
you like: what is recorded already is left as it is, with the prices it was estimated with. `--recompute`
forgets the chosen sessions' records first and estimates them again with today's PLAYGROUND_PRICES.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.realtime.models import RealtimeSession, SessionState
from playground.usage import services

PROGRESS_EVERY_S = 2.0


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


class Command(BaseCommand):
    help = "Record the usage of existing recordings (responses, audio, estimated cost); shows its progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--session", action="append", default=[], metavar="ID", help="only this session (repeat)")
        parser.add_argument(
            "--recompute",
            action="store_true",
            help="forget the sessions' usage records and estimate them again with today's prices",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        sessions = RealtimeSession.objects.order_by("created_at")
        if options["session"]:
            try:
                ids = [uuid.UUID(value) for value in options["session"]]
            except ValueError:
                bad = next(v for v in options["session"] if not _is_uuid(v))
                raise CommandError(f"--session {bad!r} is not a session id (a UUID).") from None
            sessions = sessions.filter(pk__in=ids)
        total = sessions.count()
        quiet = options["verbosity"] == 0
        prices = settings.PLAYGROUND_PRICES
        if not quiet:
            what = "estimating all their usage again" if options["recompute"] else "adding only what each lacks"
            self.stdout.write(f"{total:,} recordings: {what}.")
            self.stdout.write(
                "Costs are estimated with PLAYGROUND_PRICES as set now "
                f"({', '.join(f'{k}={v}' for k, v in prices.items())}), and kept beside each record."
            )
        started = last_report = time.monotonic()
        responses = tails = 0
        live = SessionState.LIVE, SessionState.CONNECTING
        for done, (session_id, state) in enumerate(sessions.values_list("pk", "state").iterator(chunk_size=200), 1):
            if options["recompute"]:
                records = services.usage_recompute(session_id=session_id)
            else:
                # A live session's relay records its tail when it ends: here, only its finished responses.
                records = services.usage_account(session_id=session_id, final=state not in live)
            responses += sum(1 for r in records if r.response_id)
            tails += sum(1 for r in records if not r.response_id)
            now = time.monotonic()
            if not quiet and (now - last_report >= PROGRESS_EVERY_S or done == total):
                last_report = now
                self.stdout.write(
                    f"  {done:,}/{total:,} sessions ({done * 100 // max(total, 1)}%) · {responses:,} responses "
                    f"· {now - started:.1f} s"
                )
        if not quiet:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Done: {total:,} sessions, {responses + tails:,} new usage records ({responses:,} responses, "
                    f"{tails:,} for audio or sessions no response followed) in {time.monotonic() - started:.1f} s."
                )
            )
