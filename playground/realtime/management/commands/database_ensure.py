"""Create the PostgreSQL database PLAYGROUND_DATABASE_URL names, if it is missing (`make migrate` runs it).

A new deployment's URL usually names a database nobody created yet: without this, `make serve`
stopped with migrate's traceback ("database … does not exist"). SQLite creates its file by itself.
"""

from __future__ import annotations

import warnings
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection


class Command(BaseCommand):
    help = (
        "Create the PostgreSQL database named by PLAYGROUND_DATABASE_URL if it does not exist (SQLite: nothing to do)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if connection.vendor != "postgresql":
            return
        params = connection.settings_dict
        name = params["NAME"]
        # Host, port and name only: the URL may carry a password.
        host = params.get("HOST")
        where = f"PostgreSQL at {host}:{params.get('PORT') or 5432}" if host else "PostgreSQL on the local socket"
        try:
            # Django's own way in without the database: the server's maintenance database `postgres`
            # (when even that fails, Django warns before trying the named one: the error below says it).
            with warnings.catch_warnings(), connection._nodb_cursor() as cursor:
                warnings.simplefilter("ignore", RuntimeWarning)
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
                if cursor.fetchone():
                    return
                cursor.execute(f"CREATE DATABASE {connection.ops.quote_name(name)}")
        except DatabaseError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(
                f"{where} could not be used to find or create the database {name!r}: {first}. "
                "Is the server running, and may this user create databases? (PLAYGROUND_DATABASE_URL)"
            ) from None
        self.stdout.write(f"Created the database {name!r} on {where}.")
