"""Create or refresh the builtin onboarding presets (safe to run again: nothing is duplicated)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from playground.presets.services import presets_onboarding_load


class Command(BaseCommand):
    help = "Create or refresh the builtin onboarding presets (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        created, updated = presets_onboarding_load()
        self.stdout.write(f"Onboarding presets: {created} created, {updated} updated.")
