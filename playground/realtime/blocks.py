"""Blocks: a run of a session's recorded events kept as one compressed row.

A voice session records about 1,500 events a minute, nearly all of them audio appends and deltas whose
audio is media now (playground/media/): what is left of each is ~100 bytes of JSON that looks like its
neighbours'. As one row each, the rows' own overhead (keys, indexes) would be most of the database's
bytes; a block keeps up to BLOCK_EVENTS of them zlib-compressed in one row, about 20 bytes an event.

A block row has the seq of its last event (so `seq > n` still finds every block holding events after
n, and rows still sort by seq), direction "block" and its events in `packed`: a JSON list of
[seq, direction, ts, type, data, refs], compressed. Rows become blocks once they are written and
settled: when a live session has gathered BLOCK_EVENTS loose rows, and at its end. Only the readers in
realtime/reading.py look inside.
"""

from __future__ import annotations

import json
import zlib
from typing import Any

from django.db import transaction

from .models import SessionEvent

BLOCK_EVENTS = 1000
BLOCK = "block"

Row = tuple[int, str, float, str, str, int]  # seq, direction, ts, type, data, refs


def block_pack(rows: list[Row]) -> bytes:
    return zlib.compress(json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode(), 6)


def block_unpack(packed: bytes) -> list[Row]:
    return [tuple(row) for row in json.loads(zlib.decompress(bytes(packed)))]  # type: ignore[misc]


def events_compact(*, session_id: Any, upto: int | None = None) -> int:
    """The session's loose rows (up to seq `upto`) packed into blocks; returns how many rows went."""
    qs = SessionEvent.objects.filter(session_id=session_id, packed__isnull=True).exclude(direction=BLOCK)
    if upto is not None:
        qs = qs.filter(seq__lte=upto)
    with transaction.atomic():
        rows: list[Row] = list(qs.order_by("seq").values_list("seq", "direction", "ts", "type", "data", "refs"))
        if len(rows) < 2:
            return 0
        qs.filter(seq__lte=rows[-1][0]).delete()  # fast: one DELETE, nothing refers to events
        SessionEvent.objects.bulk_create(
            SessionEvent(
                session_id=session_id,
                seq=part[-1][0],
                direction=BLOCK,
                ts=part[-1][2],
                type=f"{len(part)} events",
                data="",
                refs=sum(r[5] for r in part),
                packed=block_pack(part),
            )
            for part in (rows[i : i + BLOCK_EVENTS] for i in range(0, len(rows), BLOCK_EVENTS))
        )
    return len(rows)
