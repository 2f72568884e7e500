"""Run presets' checks from a shell or CI: progress as attempts finish, a summary, JUnit XML, an exit code.

    manage.py preset_check [--preset ID|SLUG …] [--upstream emulator|yandex] [--repeat N] [--junit FILE]
                           [--check NAME] [--concurrency N] [--user NAME]

Without --preset: every preset (not in the trash) whose latest version has checks. Exits 1 when an attempt
failed or erred (the conversation could not be held), 0 otherwise; checks not fully run (a judge without
credentials) are reported as such, and are not a failure. docs/checks.md has a CI example.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from playground.errors import PlaygroundError
from playground.presets.models import Preset
from playground.realtime.upstreams import default_upstream_name

from ...junit import junit_xml
from ...models import CheckResult, CheckRun, Outcome
from ...runner import check_run_execute
from ...services import MAX_CONCURRENCY, MAX_REPEAT, check_run_create, run_checks

# Who runs a builtin preset's checks when no --user is given (created on first use; it cannot sign in).
SYSTEM_USER = "preset-check"
MARKS = {
    Outcome.PASSED: "✓",
    Outcome.FAILED: "✗",
    Outcome.ERROR: "!",
    Outcome.INCOMPLETE: "~",
    Outcome.CANCELLED: "-",
}


class Command(BaseCommand):
    help = "Run presets' checks against an upstream; exit 1 when one fails. Writes JUnit XML with --junit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--preset",
            action="extend",
            nargs="+",
            default=[],
            metavar="ID|SLUG",
            help="presets to check, by id or builtin slug (default: every preset with checks)",
        )
        parser.add_argument("--upstream", choices=["emulator", "yandex"], help="default: yandex when configured")
        parser.add_argument("--repeat", type=int, default=1, help=f"runs of each check, 1 to {MAX_REPEAT}")
        parser.add_argument("--junit", metavar="FILE", help="write a JUnit XML report there")
        parser.add_argument("--check", metavar="NAME", help="only the check of this name")
        parser.add_argument(
            "--concurrency", type=int, help=f"sessions at once per preset, 1 to {MAX_CONCURRENCY} (default 2)"
        )
        parser.add_argument(
            "--user", help="run as this user (their sessions, their Checks tab); default: the preset's owner"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not 1 <= options["repeat"] <= MAX_REPEAT:
            raise CommandError(f"--repeat must be from 1 to {MAX_REPEAT}.")
        if options["concurrency"] is not None and not 1 <= options["concurrency"] <= MAX_CONCURRENCY:
            raise CommandError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}.")
        if options["verbosity"] < 2:
            # The relays' and the emulator's lines (a connection opened, a session ended) would bury the progress.
            for name in ("websockets", "playground.realtime", "emulator"):
                logging.getLogger(name).setLevel(logging.WARNING)
        upstream = options["upstream"] or default_upstream_name()
        presets = self._presets(options["preset"])
        if not presets:
            self.stdout.write("No preset has checks: nothing to run.")
        runs: list[CheckRun] = []
        for preset in presets:
            try:
                runs.append(
                    check_run_create(
                        user=self._user(options["user"], preset),
                        preset=preset,
                        check_name=options["check"],
                        upstream=upstream,
                        repeat=options["repeat"],
                        concurrency=options["concurrency"],
                        source="command",
                    )
                )
            except PlaygroundError as exc:
                raise CommandError(f"{preset.name}: {exc.message}") from None
        started = time.monotonic()
        finished = asyncio.run(self._execute(runs))
        self._summary(finished, time.monotonic() - started)
        if options["junit"]:
            path = Path(options["junit"])
            path.write_text(junit_xml(finished), encoding="utf-8")
            self.stdout.write(f"JUnit XML: {path} ({sum(len(self._names(r)) for r in finished)} test cases)")
        bad = sum(r.failed + r.errors for r in finished)
        if bad:
            raise SystemExit(1)

    # --- choosing -------------------------------------------------------------------------------------------

    def _presets(self, wanted: list[str]) -> list[Preset]:
        live = Preset.objects.filter(deleted_at__isnull=True).order_by("builtin", "name")
        if not wanted:
            from playground.presets.selectors import preset_version_latest

            return [p for p in live if run_checks(version=preset_version_latest(preset=p))]
        chosen = []
        for key in wanted:
            try:
                found = live.filter(pk=uuid.UUID(key)).first()
            except ValueError:
                found = live.filter(slug=key).first()
            if found is None:
                raise CommandError(
                    f"No preset {key!r} (an id, or a builtin's slug such as text-chat) out of the trash."
                )
            chosen.append(found)
        return chosen

    def _user(self, name: str | None, preset: Preset) -> Any:
        users = get_user_model()
        if name:
            user = users.objects.filter(username=name).first()
            if user is None:
                raise CommandError(f"No user {name!r}.")
            return user
        if preset.owner is not None:
            return preset.owner
        user, created = users.objects.get_or_create(username=SYSTEM_USER)
        if created:
            user.set_unusable_password()
            user.save()
        return user

    # --- running --------------------------------------------------------------------------------------------

    async def _execute(self, runs: list[CheckRun]) -> list[CheckRun]:
        from playground.db import db, db_close_all
        from playground.realtime.runtime.relay import relays_shutdown

        finished = []
        try:
            for run in runs:
                head = (
                    f"{run.preset.name} ({run.preset.slug or run.preset.id}) v{run.preset_version} on {run.upstream}: "
                    f"{run.total} attempt{'s' if run.total != 1 else ''}, {run.concurrency} at a time"
                )
                self.stdout.write(self.style.MIGRATE_HEADING(head))
                done = await check_run_execute(run_id=run.pk, progress=self._progress(run))
                finished.append(await db(self._loaded, done.pk))
        finally:
            await relays_shutdown()
            await db_close_all()
        return finished

    @staticmethod
    def _loaded(run_id: Any) -> CheckRun:
        return CheckRun.objects.select_related("preset").prefetch_related("results__assertions").get(pk=run_id)

    def _progress(self, run: CheckRun) -> Any:
        count = {"done": 0}

        def report(what: str, subject: Any) -> None:
            if what == "waiting":
                self.stdout.write(f"  … {subject}")
                return
            if what != "finished":
                return
            result: CheckResult = subject
            count["done"] += 1
            mark = MARKS.get(Outcome(result.status), "?")
            attempt = f" #{result.attempt}" if run.repeat > 1 else ""
            took = ""
            if result.started_at and result.finished_at:
                took = f" {(result.finished_at - result.started_at).total_seconds():.1f} s"
            line = f"  [{count['done']}/{run.total}] {mark} {result.check_name}{attempt}: {result.status}{took}"
            style = {Outcome.PASSED: self.style.SUCCESS, Outcome.INCOMPLETE: self.style.WARNING}.get(
                Outcome(result.status), self.style.ERROR
            )
            self.stdout.write(style(line))
            if result.reason:
                self.stdout.write(f"      {result.reason}")
            if result.session_id and result.status != Outcome.PASSED:
                self.stdout.write(f"      replay: /sessions/{result.session_id}/replay/")

        return report

    @staticmethod
    def _names(run: CheckRun) -> set[str]:
        return {r.check_name for r in run.results.all()}

    def _summary(self, runs: list[CheckRun], seconds: float) -> None:
        checks = sum(len(self._names(r)) for r in runs)
        attempts = sum(r.total for r in runs)
        parts = [
            f"{sum(r.passed for r in runs)} passed",
            f"{sum(r.failed for r in runs)} failed",
            f"{sum(r.errors for r in runs)} errors",
        ]
        incomplete = sum(r.incomplete for r in runs)
        if incomplete:
            parts.append(f"{incomplete} not fully run (not passed)")
        line = (
            f"{len(runs)} preset{'s' if len(runs) != 1 else ''}, {checks} check{'s' if checks != 1 else ''}, "
            f"{attempts} attempt{'s' if attempts != 1 else ''}: {', '.join(parts)} in {seconds:.1f} s."
        )
        bad = sum(r.failed + r.errors for r in runs)
        self.stdout.write(self.style.ERROR(line) if bad else self.style.SUCCESS(line))
