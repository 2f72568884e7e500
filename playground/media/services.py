"""Writes of a recording's media: sealing open chunks into FLAC files, deleting a session's files."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.core.files.base import ContentFile
from django.db import transaction

from .codec import flac_encode
from .models import AudioChunk, AudioPending
from .storage import chunk_name, recordings_storage

log = logging.getLogger(__name__)


def media_seal(*, session_id: Any, side: str) -> AudioChunk | None:
    """A side's pending PCM becomes one FLAC file in storage and one AudioChunk row.

    The file is saved first and the rows change in one transaction after it: a crash in between leaves
    an orphan file (`manage.py audio_orphans` finds it), never a reference to audio that is gone."""
    pending = AudioPending.objects.filter(session_id=session_id, side=side).order_by("start")
    rows = list(pending.values_list("pk", "start", "pcm"))
    if not rows:
        return None
    start = rows[0][1]
    pcm = bytearray()
    taken = []
    for pk, piece_start, piece in rows:
        if piece_start != start + len(pcm):  # never across a gap: what follows one stays pending
            break
        pcm += piece
        taken.append(pk)
    storage = recordings_storage()
    name = chunk_name(session_id=session_id, side=side, start=start)
    # A seal that saved its file but did not commit saves it again under the same name: the storage
    # overwrites (settings: allow_overwrite, file_overwrite).
    saved = storage.save(name, ContentFile(flac_encode(bytes(pcm))))
    with transaction.atomic():
        chunk = AudioChunk.objects.create(
            session_id=session_id,
            side=side,
            start=start,
            length=len(pcm),
            name=saved,
            sha256=hashlib.sha256(pcm).hexdigest(),
        )
        AudioPending.objects.filter(pk__in=taken).delete()
    return chunk


def media_seal_all(*, session_id: Any) -> int:
    """Every side's open chunk of a session sealed (its end, or a recording whose worker stopped)."""
    sealed = 0
    sides = set(AudioPending.objects.filter(session_id=session_id).values_list("side", flat=True))
    for side in sorted(sides):
        while AudioPending.objects.filter(session_id=session_id, side=side).exists():
            if media_seal(session_id=session_id, side=side) is None:
                break
            sealed += 1
    return sealed


def chunk_file_delete(*, instance: AudioChunk, **_: Any) -> None:
    """A deleted chunk's file leaves storage once the deletion is committed (a rollback keeps both)."""
    name = instance.name
    transaction.on_commit(lambda: recordings_storage().delete(name))
