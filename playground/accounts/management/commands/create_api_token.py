from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from playground.accounts.services import api_token_create, user_get_or_create


class Command(BaseCommand):
    help = "Create an API token for USERNAME (the user is created if missing) and print it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="a label to tell tokens apart")

    def handle(self, *args: Any, username: str, name: str, **options: Any) -> None:
        user, created = user_get_or_create(username=username)
        token = api_token_create(user=user, name=name)
        if created:
            self.stderr.write(f"Created user {username!r} (no password: set one with `manage.py changepassword`).")
        # Only the token on stdout, so scripts can do TOKEN=$(manage.py create_api_token me).
        self.stdout.write(token)
