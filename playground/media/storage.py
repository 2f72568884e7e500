"""The `recordings` storage (settings.STORAGES) and the names of the files a recording keeps in it."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages

ALIAS = "recordings"


def recordings_storage() -> Storage:
    return storages[ALIAS]


def chunk_name(*, session_id: Any, side: str, start: int) -> str:
    # One folder a session: deleting a session, or finding orphans, works a folder at a time.
    return f"{session_id}/{side}/{start:012d}.flac"
